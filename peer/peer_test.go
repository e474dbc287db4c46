package peer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"veil/cluster"
	"veil/cluster/client"
)

// cloud is a test cluster with users on it.
type cloud struct {
	*cluster.TestCluster
	apis []string
}

func newCloud(t *testing.T, users ...string) *cloud {
	t.Helper()
	return newCloudWith(t, nil, users...)
}

// newCloudWith is newCloud with each node's config changed by configure.
func newCloudWith(t *testing.T, configure func(i int, c *cluster.Config), users ...string) *cloud {
	t.Helper()
	c := cluster.NewTestCluster(t, 3, configure)
	c.WaitCoordinator(20 * time.Second)
	cl := &cloud{TestCluster: c}
	for _, n := range c.Nodes {
		cl.apis = append(cl.apis, n.APIAddr())
	}
	cc, err := client.New(client.Config{Nodes: cl.apis})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, u := range users {
		if err := cc.Register(ctx, u, password(u)); err != nil {
			t.Fatalf("register %s: %v", u, err)
		}
	}
	return cl
}

func password(user string) string { return "pass of " + user }

// testPeer is a running peer and its user's control client.
type testPeer struct {
	*Peer
	local *LocalClient
	stop  func()
}

// startPeer runs a peer for user until the test ends (or stop).
func startPeer(t *testing.T, c *cloud, user string, configure func(*Config)) *testPeer {
	t.Helper()
	cfg := Config{
		User: user, Password: password(user), Listen: "127.0.0.1:0", Local: "127.0.0.1:0",
		DataDir: t.TempDir(), API: c.apis, CloudTimeout: 3 * time.Second, RetryInterval: 200 * time.Millisecond,
		Logger: hclog.New(&hclog.LoggerOptions{Name: user, Output: io.Discard}),
	}
	if configure != nil {
		configure(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); p.Run(ctx) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	lc, err := NewLocalClient(p.LocalAddr(), user, password(user))
	if err != nil {
		t.Fatal(err)
	}
	tp := &testPeer{Peer: p, local: lc, stop: stop}
	waitFor(t, 20*time.Second, user+"'s peer online", func() bool { return p.isOnline() })
	return tp
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func secretPNG(t testing.TB, seed int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 8, 8))
	for i := range img.Pix {
		img.Pix[i] = byte(i*7 + seed)
	}
	img.Set(0, 0, color.NRGBA{byte(seed), 1, 2, 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func apiCode(err error) string {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// The use case of the assignment's Phase 2: the owner puts through its
// peer, a viewer fetches the veiled copy straight from the owner's peer
// and views it, spending its views; a second viewer fetches from the first
// (a relay) while the owner is offline.
func TestViewersFetchPeerToPeerAndViewThroughTheCloud(t *testing.T) {
	c := newCloud(t, "alice", "bob", "dave")
	alice := startPeer(t, c, "alice", nil)
	bob := startPeer(t, c, "bob", nil)
	dave := startPeer(t, c, "dave", nil)
	ctx := ctxT(t)

	secret := secretPNG(t, 1)
	veiled, id, err := alice.local.Put(ctx, secret, nil, map[string]int{"bob": 1, "dave": 2})
	if err != nil {
		t.Fatal(err)
	}
	res, err := bob.local.Fetch(ctx, id, "alice", LeaseAll)
	if err != nil {
		t.Fatal(err)
	}
	if res.Source != "alice" || res.Moved != int64(len(veiled)) {
		t.Fatalf("fetch: %+v, want %d bytes from alice", res, len(veiled))
	}
	got, err := bob.local.Veiled(ctx, id)
	if err != nil || !bytes.Equal(got, veiled) {
		t.Fatalf("bob's copy differs from alice's veiled PNG (err %v)", err)
	}
	v, err := bob.local.View(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(v.Secret, secret) || v.ViewsLeft != 0 {
		t.Fatalf("view: %d bytes, %d left; want the original and 0 left", len(v.Secret), v.ViewsLeft)
	}
	if _, err := bob.local.View(ctx, id); apiCode(err) != "no_views_left" {
		t.Fatalf("second view: %v, want no_views_left", err)
	}

	// bob holds a copy now and offers it; with alice gone, dave gets it
	// from bob, who checks dave's ticket.
	bob.Kick()
	waitFor(t, 10*time.Second, "the directory to list bob as a holder", func() bool {
		d, err := dave.local.Directory(ctx)
		if err != nil {
			return false
		}
		for _, e := range d.Images {
			for _, h := range e.Holders {
				if e.ID == id && h.User == "bob" {
					return true
				}
			}
		}
		return false
	})
	alice.stop()
	res, err = dave.local.Fetch(ctx, id, "", LeaseAll)
	if err != nil {
		t.Fatal(err)
	}
	if res.Source != "bob" {
		t.Fatalf("dave fetched from %q, want bob (alice is offline)", res.Source)
	}
	if v, err := dave.local.View(ctx, id); err != nil || !bytes.Equal(v.Secret, secret) || v.ViewsLeft != 1 {
		t.Fatalf("dave's view: %v, %d left", err, v.ViewsLeft)
	}
}

// A user who is not a viewer learns nothing: the image is not in its
// directory, and the owner's peer answers as for an image that does not
// exist.
func TestANonViewerLearnsNothing(t *testing.T) {
	c := newCloud(t, "alice", "bob", "carol")
	alice := startPeer(t, c, "alice", nil)
	carol := startPeer(t, c, "carol", nil)
	ctx := ctxT(t)
	_, id, err := alice.local.Put(ctx, secretPNG(t, 2), nil, map[string]int{"bob": 1})
	if err != nil {
		t.Fatal(err)
	}
	d, err := carol.local.Directory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Images) != 0 {
		t.Fatalf("carol's directory lists %d images", len(d.Images))
	}
	if _, err := carol.local.Fetch(ctx, id, "alice", 0); apiCode(err) != "unknown_image" {
		t.Fatalf("carol's fetch: %v, want unknown_image", err)
	}
	// Straight to alice's peer, past the directory.
	status := func(image string) (int, string) {
		st := carol.snapshot()
		h := cluster.Holder{User: "alice", Address: alice.ListenAddr(), Key: client.EncodeKey(alice.id.Public())}
		_, _, err := carol.fetchFrom(ctx, h, cluster.DirectoryEntry{ID: image, Digest: "00"}, st.Statement)
		var pe *Error
		if !errors.As(err, &pe) {
			t.Fatalf("fetch of %s: %v, want an answer", image, err)
		}
		return pe.Status, pe.Code
	}
	s1, c1 := status(id)
	s2, c2 := status("0123456789abcdef0123456789abcdef")
	if s1 != http.StatusNotFound || s1 != s2 || c1 != c2 {
		t.Fatalf("an image carol may not see: %d %s; one that does not exist: %d %s; want the same 404", s1, c1, s2, c2)
	}
}

// With the "requests" policy a non-viewer's request waits for the owner;
// approving it adds the viewer through the cloud, and the fetch goes
// through.
func TestTheOwnerApprovesARequest(t *testing.T) {
	c := newCloud(t, "alice", "carol")
	alice := startPeer(t, c, "alice", func(c *Config) { c.Policy = PolicyRequests })
	carol := startPeer(t, c, "carol", nil)
	ctx := ctxT(t)
	_, id, err := alice.local.Put(ctx, secretPNG(t, 3), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := carol.snapshot()
	h := cluster.Holder{User: "alice", Address: alice.ListenAddr(), Key: client.EncodeKey(alice.id.Public())}
	if _, _, err := carol.fetchFrom(ctx, h, cluster.DirectoryEntry{ID: id}, st.Statement); apiCode(err) != "request_queued" {
		t.Fatalf("carol's request: %v, want request_queued", err)
	}
	qs, err := alice.local.Requests(ctx)
	if err != nil || len(qs) != 1 || qs[0].User != "carol" || qs[0].Image != id {
		t.Fatalf("alice's requests: %v %+v", err, qs)
	}
	if _, err := alice.local.Approve(ctx, "carol", id, 2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "alice's peer to learn carol is a viewer", func() bool {
		alice.mu.Lock()
		defer alice.mu.Unlock()
		_, ok := alice.viewers[id]["carol"]
		return ok
	})
	if _, err := carol.local.Fetch(ctx, id, "alice", 0); err != nil {
		t.Fatal(err)
	}
	if qs, _ := alice.local.Requests(ctx); len(qs) != 0 {
		t.Fatalf("the approved request is still queued: %+v", qs)
	}
}

// A transfer needs only the two peers: with every cloud node down, a
// viewer fetches from the owner with what it last heard of the directory.
func TestAFetchWorksWithTheWholeCloudDown(t *testing.T) {
	c := newCloud(t, "alice", "bob")
	alice := startPeer(t, c, "alice", nil)
	bob := startPeer(t, c, "bob", nil)
	ctx := ctxT(t)
	veiled, id, err := alice.local.Put(ctx, secretPNG(t, 4), nil, map[string]int{"bob": 1})
	if err != nil {
		t.Fatal(err)
	}
	bob.Kick()
	waitFor(t, 10*time.Second, "bob to hear of the image", func() bool {
		for _, e := range bob.snapshot().Directory.Images {
			if e.ID == id {
				return true
			}
		}
		return false
	})
	for i := range c.Nodes {
		c.Stop(i)
	}
	res, err := bob.local.Fetch(ctx, id, "alice", LeaseAll)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(veiled)
	if res.Digest != hex.EncodeToString(sum[:]) {
		t.Fatalf("fetched digest %s", res.Digest)
	}
	if st, _ := bob.local.Status(ctx); st.Online {
		t.Fatal("bob's peer says it is online with every node down")
	}
	if _, err := bob.local.View(ctx, id); apiCode(err) != "cloud_unreachable" {
		t.Fatalf("a view with the cloud down: %v, want cloud_unreachable", err)
	}
}

// cutProxy forwards TCP to target; the first connection is cut after
// limit bytes have come back from the target.
type cutProxy struct {
	ln     net.Listener
	target string
	limit  int64
	conns  atomic.Int32
}

func newCutProxy(t *testing.T, target string, limit int64) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, limit: limit}
	t.Cleanup(func() { ln.Close() })
	go p.serve()
	return p
}

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		first := p.conns.Add(1) == 1
		go func() {
			defer c.Close()
			u, err := net.Dial("tcp", p.target)
			if err != nil {
				return
			}
			defer u.Close()
			go io.Copy(u, c)
			if first {
				io.CopyN(c, u, p.limit)
				return
			}
			io.Copy(c, u)
		}()
	}
}

// A fetch cut in the middle resumes where it stopped: the bytes that
// arrived are not asked for again, and the result is checked end to end.
func TestACutFetchResumesWhereItStopped(t *testing.T) {
	c := newCloud(t, "alice", "bob")
	var proxy *cutProxy
	alice := startPeer(t, c, "alice", func(cfg *Config) {
		// alice is listed at the proxy's address; the proxy is made once
		// her port is known, below.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cfg.Listen = ln.Addr().String()
		ln.Close()
		proxy = newCutProxy(t, cfg.Listen, 20_000)
		cfg.Advertise = proxy.ln.Addr().String()
	})
	bob := startPeer(t, c, "bob", nil)
	ctx := ctxT(t)
	// A secret large enough that the veiled PNG, at the default level,
	// passes the cut with room to spare.
	big := image.NewNRGBA(image.Rect(0, 0, 160, 160))
	for i := range big.Pix {
		big.Pix[i] = byte(i * 31 % 251)
	}
	var sb bytes.Buffer
	png.Encode(&sb, big)
	veiled, id, err := alice.local.Put(ctx, sb.Bytes(), nil, map[string]int{"bob": 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(veiled) < 60_000 {
		t.Fatalf("veiled PNG of %d bytes: too small to cut at 20,000 and see a resume", len(veiled))
	}
	res, err := bob.local.Fetch(ctx, id, "alice", LeaseAll)
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 2 || res.Resumed == 0 || res.Moved != int64(len(veiled)) {
		t.Fatalf("fetch: %d attempts, resumed at %d, %d bytes moved; want 2 attempts, the second resuming, %d bytes in all",
			res.Attempts, res.Resumed, res.Moved, len(veiled))
	}
	if got, _ := bob.local.Veiled(ctx, id); !bytes.Equal(got, veiled) {
		t.Fatal("the resumed copy differs from the original")
	}
}

// Over real connections: a statement replayed by another device is
// refused and changes nothing; a peer that is not the device the
// directory lists is not talked to at all.
func TestAReplayedStatementAndAnImpostorAreRefused(t *testing.T) {
	c := newCloud(t, "alice", "bob", "carol")
	alice := startPeer(t, c, "alice", nil)
	bob := startPeer(t, c, "bob", nil)
	carol := startPeer(t, c, "carol", nil)
	ctx := ctxT(t)
	_, id, err := alice.local.Put(ctx, secretPNG(t, 5), nil, map[string]int{"bob": 1})
	if err != nil {
		t.Fatal(err)
	}
	at := cluster.Holder{User: "alice", Address: alice.ListenAddr(), Key: client.EncodeKey(alice.id.Public())}
	// carol shows bob's statement (as if captured) over her own connection.
	_, _, err = carol.fetchFrom(ctx, at, cluster.DirectoryEntry{ID: id}, bob.snapshot().Statement)
	if apiCode(err) != "bad_statement" {
		t.Fatalf("bob's statement over carol's connection: %v, want bad_statement", err)
	}
	// bob is told alice's address with carol's key: the handshake fails.
	impostor := at
	impostor.Key = client.EncodeKey(carol.id.Public())
	_, _, err = bob.fetchFrom(ctx, impostor, cluster.DirectoryEntry{ID: id}, bob.snapshot().Statement)
	if !errors.Is(err, ErrBadStatement) {
		t.Fatalf("a peer with another key than listed: %v, want ErrBadStatement", err)
	}
	if held := carol.store.Holds(); len(held) != 0 {
		t.Fatalf("carol holds %v", held)
	}
}
