package peer

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"veil/cluster"
	"veil/cluster/client"
)

// switchProxy stands between a peer and the cloud: off, it drops every
// connection at once, as a cloud out of reach would.
type switchProxy struct {
	ln      net.Listener
	targets []string
	on      atomic.Bool
	next    atomic.Uint32
	mu      sync.Mutex
	conns   map[net.Conn]bool
}

// set turns the switch on or off; off also cuts the connections open.
func (p *switchProxy) set(on bool) {
	p.on.Store(on)
	if on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

func newSwitchProxy(t *testing.T, targets []string) *switchProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &switchProxy{ln: ln, targets: targets, conns: map[net.Conn]bool{}}
	p.on.Store(true)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *switchProxy) serve(c net.Conn) {
	defer c.Close()
	if !p.on.Load() {
		return
	}
	p.mu.Lock()
	p.conns[c] = true
	p.mu.Unlock()
	defer func() { p.mu.Lock(); delete(p.conns, c); p.mu.Unlock() }()
	u, err := net.Dial("tcp", p.targets[int(p.next.Add(1))%len(p.targets)])
	if err != nil {
		return
	}
	defer u.Close()
	go func() { io.Copy(u, c); u.Close() }()
	io.Copy(c, u)
}

func (p *switchProxy) addr() string { return p.ln.Addr().String() }

// quickCloud is a cloud whose peers heartbeat often (a 1.5 s TTL), so that
// a peer notices soon that the cloud is back.
func quickCloud(t *testing.T, users ...string) *cloud {
	return newCloudWith(t, func(_ int, c *cluster.Config) { c.PeerTTL = 1500 * time.Millisecond }, users...)
}

// behind starts user's peer talking to the cloud through a switch.
func behind(t *testing.T, c *cloud, user string, dataDir string) (*testPeer, *switchProxy) {
	sw := newSwitchProxy(t, c.apis)
	p := startPeer(t, c, user, func(cfg *Config) {
		cfg.API, cfg.Route = []string{sw.addr()}, client.RouteAny // through the switch only
		cfg.CloudTimeout, cfg.RequestTimeout = time.Second, 2*time.Second
		if dataDir != "" {
			cfg.DataDir = dataDir
		}
	})
	return p, sw
}

// ownerView is what the owner's directory says of a viewer of an image.
func ownerView(t *testing.T, c *cloud, owner, id, viewer string) (online, offline, leased int) {
	t.Helper()
	cl, err := client.New(client.Config{Nodes: c.apis, User: owner, Password: password(owner)})
	if err != nil {
		t.Fatal(err)
	}
	d, err := cl.Directory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range d.Images {
		if e.ID != id {
			continue
		}
		for _, l := range e.Leases {
			if l.Viewer == viewer && !l.Revoked {
				leased += l.Views
			}
		}
		return e.Viewers[viewer], e.Offline[viewer], leased
	}
	t.Fatalf("%s's directory has no image %s", owner, id)
	return
}

// A fetch leases every view the viewer has left; with the whole cloud
// down the viewer views exactly that many times, then gets the refusal
// that shows the default image.
func TestOfflineViewsSpendExactlyTheLease(t *testing.T) {
	c := quickCloud(t, "alice", "bob")
	alice := startPeer(t, c, "alice", nil)
	bob := startPeer(t, c, "bob", nil)
	ctx := ctxT(t)
	secret := secretPNG(t, 11)
	_, id, err := alice.local.Put(ctx, secret, nil, map[string]int{"bob": 3})
	if err != nil {
		t.Fatal(err)
	}
	res, err := bob.local.Fetch(ctx, id, "alice", LeaseAll)
	if err != nil {
		t.Fatal(err)
	}
	if res.Lease == nil || res.Lease.Views != 3 {
		t.Fatalf("lease %+v (%s), want 3 views", res.Lease, res.LeaseErr)
	}
	if online, _, leased := ownerView(t, c, "alice", id, "bob"); online != 0 || leased != 3 {
		t.Fatalf("the owner sees %d online and %d leased, want 0 and 3", online, leased)
	}
	for i := range c.Nodes {
		c.Stop(i)
	}
	for want := 2; want >= 0; want-- {
		v, err := bob.local.View(ctx, id)
		if err != nil {
			t.Fatalf("offline view with %d to go: %v", want+1, err)
		}
		if !bytes.Equal(v.Secret, secret) || !v.Offline || v.ViewsLeft != want {
			t.Fatalf("offline view: %d bytes, offline %v, %d left; want the original, %d left", len(v.Secret), v.Offline, v.ViewsLeft, want)
		}
	}
	if _, err := bob.local.View(ctx, id); apiCode(err) != "no_views_left" {
		t.Fatalf("a fourth view: %v, want no_views_left", err)
	}
}

// The count lives in a sealed file beside an append-only log: putting
// back an older copy of the file, or one already reported, brings no view
// back, and the file of one device does not open on another.
func TestARolledBackOrCopiedLeaseBringsNoViewsBack(t *testing.T) {
	c := quickCloud(t, "alice", "bob")
	alice := startPeer(t, c, "alice", nil)
	bob := startPeer(t, c, "bob", nil)
	ctx := ctxT(t)
	_, id, err := alice.local.Put(ctx, secretPNG(t, 12), nil, map[string]int{"bob": 2})
	if err != nil {
		t.Fatal(err)
	}
	res, err := bob.local.Fetch(ctx, id, "alice", LeaseAll)
	if err != nil || res.Lease == nil {
		t.Fatalf("fetch: %v %+v", err, res)
	}
	file := bob.leases.path(res.Lease.ID)
	before, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.local.View(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, before, 0o600); err != nil { // the rollback
		t.Fatal(err)
	}
	v, err := bob.local.View(ctx, id)
	if err != nil || v.ViewsLeft != 0 {
		t.Fatalf("after a rollback: %v, %d left; want the last view, 0 left", err, v.ViewsLeft)
	}
	if _, err := bob.local.View(ctx, id); apiCode(err) != "no_views_left" {
		t.Fatalf("after a rollback, a third view: %v", err)
	}
	// Another device's key does not open the file.
	other, err := openLeases(t.TempDir(), newID(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeLeaseFile(other.aed, res.Lease.ID, before); err == nil {
		t.Fatal("a lease file opened with another device's key")
	}
	// Once reported, the lease file put back has no views.
	bob.Kick()
	waitFor(t, 10*time.Second, "the spent lease to be reported", func() bool { return len(bob.leases.states()) == 0 })
	os.WriteFile(file, before, 0o600)
	if _, err := bob.local.View(ctx, id); apiCode(err) != "no_views_left" {
		t.Fatalf("a reported lease put back: %v", err)
	}
	if online, offline, leased := ownerView(t, c, "alice", id, "bob"); online != 0 || offline != 2 || leased != 0 {
		t.Fatalf("the books: %d online, %d offline, %d leased; want 0, 2, 0", online, offline, leased)
	}
}

// The owner's changes reach a viewer who was offline at its next contact:
// a removal revokes its lease (what it spent offline stays counted, the
// rest is forfeited); a raise leaves its lease and adds online views.
func TestTheOwnersChangesReachAnOfflineViewer(t *testing.T) {
	c := quickCloud(t, "alice", "bob")
	alice := startPeer(t, c, "alice", nil)
	bob, sw := behind(t, c, "bob", "")
	ctx := ctxT(t)
	_, removed, err := alice.local.Put(ctx, secretPNG(t, 13), nil, map[string]int{"bob": 2})
	if err != nil {
		t.Fatal(err)
	}
	_, raised, err := alice.local.Put(ctx, secretPNG(t, 14), nil, map[string]int{"bob": 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{removed, raised} {
		if res, err := bob.local.Fetch(ctx, id, "alice", LeaseAll); err != nil || res.Lease == nil {
			t.Fatalf("fetch %s: %v %+v", id, err, res)
		}
	}
	sw.set(false) // bob goes offline
	if _, err := bob.local.View(ctx, removed); err != nil {
		t.Fatalf("offline view: %v", err)
	}
	if _, q, err := alice.local.Share(ctx, removed, nil, []string{"bob"}); err != nil || q != nil {
		t.Fatalf("remove: %v %v", err, q)
	}
	if _, q, err := alice.local.Share(ctx, raised, map[string]int{"bob": 4}, nil); err != nil || q != nil {
		t.Fatalf("raise: %v %v", err, q)
	}
	sw.set(true) // bob is back
	waitFor(t, 15*time.Second, "bob's peer to report the revoked lease", func() bool {
		for _, s := range bob.leases.states() {
			if s.Image == removed {
				return false
			}
		}
		return true
	})
	// A viewer removed is told what anyone who may not see an image is.
	if _, err := bob.local.View(ctx, removed); apiCode(err) != "unknown_image" {
		t.Fatalf("a view after the removal: %v, want unknown_image", err)
	}
	cl, err := client.New(client.Config{Nodes: c.apis, User: "alice", Password: password("alice")})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := cl.Directory(ctx)
	for _, e := range d.Images {
		if e.ID == removed && e.Offline["bob"] != 1 {
			t.Fatalf("the removed image's books: bob spent %d offline, want 1", e.Offline["bob"])
		}
	}
	// The raise: N=4 counts the leased view; bob views 4 times in all.
	for i := range 4 {
		if _, err := bob.local.View(ctx, raised); err != nil {
			t.Fatalf("view %d of the raised image: %v", i+1, err)
		}
	}
	if _, err := bob.local.View(ctx, raised); apiCode(err) != "no_views_left" {
		t.Fatalf("a fifth view: %v", err)
	}
}

// An owner's changes made with the cloud away wait in its peer, on disk,
// survive a restart of the peer, and land in order once the cloud is back;
// a report whose answer was lost is not counted twice.
func TestAnOfflineOwnersChangesAreQueuedAndLandInOrder(t *testing.T) {
	c := quickCloud(t, "alice", "bob")
	dir := t.TempDir()
	alice, sw := behind(t, c, "alice", dir)
	ctx := ctxT(t)
	_, id, err := alice.local.Put(ctx, secretPNG(t, 15), nil, map[string]int{"bob": 1})
	if err != nil {
		t.Fatal(err)
	}
	sw.set(false)
	waitFor(t, 10*time.Second, "alice's peer to notice the cloud is away", func() bool { return !alice.isOnline() })
	for i, views := range []int{3, 5} {
		_, q, err := alice.local.Share(ctx, id, map[string]int{"bob": views}, nil)
		if err != nil || q == nil || q.Position != i+1 {
			t.Fatalf("change %d: %v %+v, want queued at %d", i+1, err, q, i+1)
		}
	}
	alice.stop() // a restart before the cloud is back
	alice2 := startPeerOffline(t, c, "alice", dir, sw)
	st, err := alice2.local.Status(ctx)
	if err != nil || len(st.Queued) != 2 {
		t.Fatalf("after a restart: %v, %d queued, want 2", err, len(st.Queued))
	}
	sw.set(true)
	waitFor(t, 15*time.Second, "the queue to be sent", func() bool {
		st, err := alice2.local.Status(ctx)
		return err == nil && len(st.Queued) == 0
	})
	if online, _, _ := ownerView(t, c, "alice", id, "bob"); online != 5 {
		t.Fatalf("bob has %d views, want 5 (the changes in order)", online)
	}
}

// startPeerOffline starts a peer on an existing data directory, through a
// switch that may be off: it does not wait for the peer to be online.
func startPeerOffline(t *testing.T, c *cloud, user, dir string, sw *switchProxy) *testPeer {
	t.Helper()
	cfg := Config{
		User: user, Password: password(user), Listen: "127.0.0.1:0", Local: "127.0.0.1:0", DataDir: dir,
		API: []string{sw.addr()}, Route: client.RouteAny, CloudTimeout: time.Second, RequestTimeout: 2 * time.Second, RetryInterval: 200 * time.Millisecond,
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	lc, err := NewLocalClient(p.LocalAddr(), user, password(user))
	if err != nil {
		t.Fatal(err)
	}
	return &testPeer{Peer: p, local: lc, stop: stop}
}

// A report whose answer was lost is sent again and counted once.
func TestALeaseReportedTwiceIsCountedOnce(t *testing.T) {
	c := quickCloud(t, "alice", "bob")
	alice := startPeer(t, c, "alice", nil)
	bob := startPeer(t, c, "bob", nil)
	ctx := ctxT(t)
	_, id, err := alice.local.Put(ctx, secretPNG(t, 16), nil, map[string]int{"bob": 3})
	if err != nil {
		t.Fatal(err)
	}
	res, err := bob.local.Fetch(ctx, id, "alice", LeaseAll)
	if err != nil || res.Lease == nil {
		t.Fatalf("fetch: %v %+v", err, res)
	}
	if _, err := bob.local.View(ctx, id); err != nil {
		t.Fatal(err)
	}
	f, err := bob.leases.read(res.Lease.ID)
	if err != nil {
		t.Fatal(err)
	}
	// The report reaches the cloud; its answer is lost (the peer crashed).
	spent := bob.leases.spentOf(f)
	st := bob.snapshot()
	if _, err := bob.cloud.ReturnLease(ctx, f.ID, cluster.ReturnRequest{Statement: st.Statement, Spent: spent,
		Proof: encodeSig(signReport(bob.id, f.ID, spent))}); err != nil {
		t.Fatal(err)
	}
	if err := bob.reportLease(ctx, f.ID); err != nil {
		t.Fatalf("the report sent again: %v", err)
	}
	if online, offline, leased := ownerView(t, c, "alice", id, "bob"); online != 2 || offline != 1 || leased != 0 {
		t.Fatalf("the books: %d online, %d offline, %d leased; want 2, 1, 0", online, offline, leased)
	}
	if _, err := os.Stat(filepath.Join(bob.cfg.DataDir, leaseDir, f.ID+".lease")); !os.IsNotExist(err) {
		t.Fatalf("the reported lease's file is still there: %v", err)
	}
}

// A peer that stops between the cloud's answer to a lease and keeping it
// gives the lease back at its next contact: the views do not stay locked
// in a lease no device has.
func TestALeaseTheDeviceNeverKeptComesBack(t *testing.T) {
	c := quickCloud(t, "alice", "bob")
	alice := startPeer(t, c, "alice", nil)
	bob := startPeer(t, c, "bob", nil)
	ctx := ctxT(t)
	_, id, err := alice.local.Put(ctx, secretPNG(t, 17), nil, map[string]int{"bob": 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.local.Fetch(ctx, id, "alice", 0); err != nil {
		t.Fatal(err)
	}
	veiled, _ := bob.store.Veiled(id)
	// The cloud takes the lease; the answer never reaches the peer's store.
	lost, err := bob.ops.TakeLease(ctx, veiled, bob.snapshot().Statement, 2)
	if err != nil || lost.Views != 2 || lost.ViewsLeft != 0 {
		t.Fatalf("the lease: %v %+v, want both views moved", err, lost)
	}
	// The peer's next contact (every half second here) gives it back.
	bob.Kick()
	waitFor(t, 10*time.Second, "the lost lease to come back", func() bool {
		online, _, leased := ownerView(t, c, "alice", id, "bob")
		return online == 2 && leased == 0
	})
}

// A crash after a view is logged and before the lease file is sealed
// again counts that view once: the log wins over the file.
func TestAViewLoggedBeforeACrashIsCountedOnce(t *testing.T) {
	l, err := openLeases(t.TempDir(), newID(t))
	if err != nil {
		t.Fatal(err)
	}
	f := leaseFile{ID: testID, Image: testID, Views: 3, Remaining: 3, Expires: time.Now().Add(time.Hour)}
	if err := l.write(f); err != nil {
		t.Fatal(err)
	}
	if err := l.logSpend(testID, 1); err != nil { // the crash: logged, file not sealed again
		t.Fatal(err)
	}
	if s := l.states(); len(s) != 1 || s[0].Left != 2 {
		t.Fatalf("after the crash: %+v, want 2 left", s)
	}
}
