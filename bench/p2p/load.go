package p2p

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"veil/bench/load"
	"veil/bench/local"
	"veil/cluster"
	"veil/cluster/client"
	"veil/peer"
)

// LoadConfig says what P2P load to run.
type LoadConfig struct {
	Bin   string
	Mode  string // bully or raft; default bully
	Nodes int    // cloud nodes; default 3
	// Peers is the number of user processes, one user each; default 12.
	Peers int
	// Workers run operations at once; default 8.
	Workers  int
	Duration time.Duration // default 20 s
	// Churn, when > 0, takes a random peer offline this often (a clean stop
	// or, one time in three, a kill) and brings it back 1 to 3 s later.
	Churn time.Duration
	// KillCoordinator kills the cloud's coordinator halfway through and
	// restarts it 3 s later.
	KillCoordinator bool
	// SimulateFailures is the nodes' failure simulation, e.g. every=5s,down=2s-4s.
	SimulateFailures string
	Quota            int // views each viewer gets; default 2
	// LeaseShare is the share of fetches that lease the viewer's views for
	// offline use (the rest view through the cloud); default 0.5, -1 none.
	LeaseShare float64
	PeerTTL    string // the nodes' --peer-ttl; default 3s, so that a killed peer lapses soon
	Seed       uint64
	Dir        string // keys, data and logs; default a temporary directory, removed
	Logf       func(format string, args ...any)
}

func (c *LoadConfig) setDefaults() {
	if c.Mode == "" {
		c.Mode = "bully"
	}
	if c.Nodes == 0 {
		c.Nodes = 3
	}
	if c.Peers == 0 {
		c.Peers = 12
	}
	if c.Workers == 0 {
		c.Workers = 8
	}
	if c.Duration == 0 {
		c.Duration = 20 * time.Second
	}
	if c.Quota == 0 {
		c.Quota = 2
	}
	if c.LeaseShare == 0 {
		c.LeaseShare = 0.5
	}
	if c.PeerTTL == "" {
		c.PeerTTL = "3s"
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
}

// Counts is how one kind of operation went.
type Counts struct {
	OK int `json:"ok"`
	// Expected are refusals the ground truth called for: a view with no
	// views left, a fetch with no holder online.
	Expected int `json:"expected"`
	Failed   int `json:"failed"`
}

// LoadReport is the outcome of a P2P load.
type LoadReport struct {
	Mode    string  `json:"mode"`
	Nodes   int     `json:"nodes"`
	Peers   int     `json:"peers"`
	Workers int     `json:"workers"`
	Seconds float64 `json:"seconds"`
	Seed    uint64  `json:"seed"`
	Puts    Counts  `json:"puts"`
	Fetches Counts  `json:"fetches"`
	Views   Counts  `json:"views"`

	PutMS   load.LatencyMS `json:"put_ms"`
	FetchMS load.LatencyMS `json:"fetch_ms"`
	ViewMS  load.LatencyMS `json:"view_ms"`

	// Bytes of images moved peer to peer, and through the cloud (a put's
	// secret and veiled PNG, a view's veiled PNG and original).
	BytesP2P   int64 `json:"bytes_p2p"`
	BytesCloud int64 `json:"bytes_cloud"`

	// Leases taken by fetches; views spent from them (no cloud asked);
	// leases given back at the end, before the books are checked.
	Leases       int `json:"leases"`
	OfflineViews int `json:"offline_views"`
	GivenBack    int `json:"given_back"`

	Stops, Kills, Restarts int
	CoordinatorKilled      bool `json:"coordinator_killed"`

	// QuotasExact: once every device has given its leases back, for every
	// viewer of every image, the registry's views left online are the
	// quota less the views that succeeded, online and offline, and its
	// count of views spent offline is the offline views that succeeded.
	QuotasExact bool     `json:"quotas_exact"`
	QuotaErrors []string `json:"quota_errors,omitempty"`
	// Agreed: every node gave the same online list and the same directory
	// for every user; AgreedAfter is how long after the load that took.
	Agreed      bool    `json:"agreed"`
	AgreedAfter float64 `json:"agreed_after_s"`
	Disagree    string  `json:"disagree,omitempty"`

	Failures []string `json:"failures,omitempty"` // the first few, with their errors
}

// OK reports whether the run kept every rule: nothing failed that had a
// holder or the cloud to serve it, quotas exact, the nodes agreed.
func (r LoadReport) OK() bool {
	return r.Puts.Failed == 0 && r.Fetches.Failed == 0 && r.Views.Failed == 0 && r.QuotasExact && r.Agreed
}

// shared is the ground truth of one put.
type shared struct {
	id      string
	owner   string
	quota   map[string]int
	spent   map[string]int
	offline map[string]int  // of spent, views from a lease
	unsure  map[string]bool // a view whose outcome is unknown
	holders map[string]bool
	busy    map[string]bool // a viewer in the middle of an operation on it
}

type loadRun struct {
	cfg   LoadConfig
	peers []*Peer
	users []string

	// churn holds up while an operation runs (read) and while a peer
	// stops or starts (write), so that the ground truth of who is up holds
	// for a whole operation.
	churn sync.RWMutex
	up    map[string]bool

	mu     sync.Mutex
	images []*shared
	rep    LoadReport
	put    *load.Histogram
	fetch  *load.Histogram
	view   *load.Histogram
}

// RunLoad spawns a cluster and cfg.Peers peers, and runs the P2P load: puts
// through the owners' peers, fetches between peers, views through the
// cloud, with peers going offline and back; then it checks the quotas and
// the nodes' agreement.
func RunLoad(ctx context.Context, cfg LoadConfig) (LoadReport, error) {
	cfg.setDefaults()
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "veil-p2p-load-")
		if err != nil {
			return LoadReport{}, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	c, err := local.Spawn(ctx, local.SpawnConfig{Bin: cfg.Bin, Nodes: cfg.Nodes, Mode: cfg.Mode, Dir: dir, KeepDir: cfg.Dir != "",
		SimulateFailures: cfg.SimulateFailures, Args: []string{"--peer-ttl", cfg.PeerTTL}, Logf: cfg.Logf})
	if err != nil {
		return LoadReport{}, err
	}
	defer c.Close()
	l := &loadRun{cfg: cfg, up: map[string]bool{}, put: load.NewHistogram(), fetch: load.NewHistogram(), view: load.NewHistogram()}
	l.rep = LoadReport{Mode: cfg.Mode, Nodes: cfg.Nodes, Peers: cfg.Peers, Workers: cfg.Workers, Seed: cfg.Seed}
	for i := range cfg.Peers {
		l.users = append(l.users, fmt.Sprintf("user%03d", i+1))
	}
	if err := register(ctx, c.APIs(), l.users...); err != nil {
		return l.rep, err
	}
	defer func() {
		for _, p := range l.peers {
			p.Stop()
		}
	}()
	for _, u := range l.users {
		p, err := StartPeer(ctx, cfg.Bin, dir, u, Password(u), c.APIs())
		if err != nil {
			return l.rep, err
		}
		l.peers = append(l.peers, p)
		l.up[u] = true
	}
	cfg.Logf("p2p load: %d peers online; %d workers for %s", len(l.peers), cfg.Workers, cfg.Duration)

	start := time.Now()
	runCtx, stop := context.WithTimeout(ctx, cfg.Duration)
	defer stop()
	var wg sync.WaitGroup
	for w := range cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.worker(runCtx, rand.New(rand.NewPCG(cfg.Seed, uint64(w)+1)))
		}()
	}
	if cfg.Churn > 0 {
		wg.Add(1)
		go func() { defer wg.Done(); l.churner(runCtx, rand.New(rand.NewPCG(cfg.Seed, 0))) }()
	}
	if cfg.KillCoordinator {
		wg.Add(1)
		go func() { defer wg.Done(); l.killCoordinator(runCtx, c) }()
	}
	wg.Wait()
	l.rep.Seconds = time.Since(start).Seconds()
	if err := ctx.Err(); err != nil {
		return l.rep, err
	}
	// Every peer back, then the checks.
	for i, p := range l.peers {
		if !p.Running() {
			if err := p.Start(ctx); err != nil {
				return l.rep, err
			}
			l.up[l.users[i]] = true
			l.rep.Restarts++
		}
	}
	for _, p := range l.peers {
		n, err := p.Client().GiveBack(ctx, "")
		l.rep.GivenBack += n
		if err != nil {
			l.fail("give back", err)
			l.rep.QuotaErrors = append(l.rep.QuotaErrors, fmt.Sprintf("%s could not give its leases back: %v", p.User, err))
		}
	}
	l.checkQuotas(ctx, c.APIs())
	l.checkAgreement(ctx, c.APIs())
	l.rep.PutMS, l.rep.FetchMS, l.rep.ViewMS = l.put.Millis(), l.fetch.Millis(), l.view.Millis()
	return l.rep, nil
}

func (l *loadRun) peerOf(user string) *Peer { return l.peers[slices.Index(l.users, user)] }

func (l *loadRun) fail(kind string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.rep.Failures) < 20 {
		l.rep.Failures = append(l.rep.Failures, fmt.Sprintf("%s: %v", kind, err))
	}
}

func (l *loadRun) worker(ctx context.Context, r *rand.Rand) {
	for ctx.Err() == nil {
		l.mu.Lock()
		n := len(l.images)
		l.mu.Unlock()
		if n < 3 || r.Float64() < 0.2 {
			l.doPut(ctx, r)
		} else {
			l.doFetchView(ctx, r)
		}
	}
}

// upUsers lists the users whose peers are up; the caller holds churn.
func (l *loadRun) upUsers() []string {
	var out []string
	for _, u := range l.users {
		if l.up[u] {
			out = append(out, u)
		}
	}
	return out
}

func (l *loadRun) doPut(ctx context.Context, r *rand.Rand) {
	l.churn.RLock()
	defer l.churn.RUnlock()
	up := l.upUsers()
	if len(up) == 0 {
		return
	}
	owner := up[r.IntN(len(up))]
	viewers := map[string]int{}
	for len(viewers) < min(2, len(l.users)-1) {
		if v := l.users[r.IntN(len(l.users))]; v != owner {
			viewers[v] = l.cfg.Quota
		}
	}
	secret := picture(r.Uint64())
	t0 := time.Now()
	veiled, id, err := l.peerOf(owner).Client().Put(ctx, secret, nil, viewers)
	if ctx.Err() != nil {
		return // the run ended in the middle: neither a success nor a failure
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.rep.Puts.Failed++
		if len(l.rep.Failures) < 20 {
			l.rep.Failures = append(l.rep.Failures, fmt.Sprintf("put by %s: %v", owner, err))
		}
		return
	}
	l.put.Record(time.Since(t0))
	l.rep.Puts.OK++
	l.rep.BytesCloud += int64(len(secret) + len(veiled))
	l.images = append(l.images, &shared{id: id, owner: owner, quota: viewers, spent: map[string]int{}, offline: map[string]int{},
		unsure: map[string]bool{}, holders: map[string]bool{owner: true}, busy: map[string]bool{}})
}

func (l *loadRun) doFetchView(ctx context.Context, r *rand.Rand) {
	l.churn.RLock()
	defer l.churn.RUnlock()
	// Pick an image and one of its viewers that is up and not busy.
	l.mu.Lock()
	img := l.images[r.IntN(len(l.images))]
	var cands []string
	for v := range img.quota {
		if l.up[v] && !img.busy[v] {
			cands = append(cands, v)
		}
	}
	if len(cands) == 0 {
		l.mu.Unlock()
		return
	}
	sort.Strings(cands)
	viewer := cands[r.IntN(len(cands))]
	img.busy[viewer] = true
	held := img.holders[viewer]
	holderUp := false
	for h := range img.holders {
		holderUp = holderUp || (l.up[h] && h != viewer)
	}
	l.mu.Unlock()
	defer func() { l.mu.Lock(); delete(img.busy, viewer); l.mu.Unlock() }()

	lc := l.peerOf(viewer).Client()
	if !held {
		t0 := time.Now()
		lease := 0
		if r.Float64() < l.cfg.LeaseShare {
			lease = peer.LeaseAll
		}
		res, err := lc.Fetch(ctx, img.id, img.owner, lease)
		if ctx.Err() != nil {
			return
		}
		l.mu.Lock()
		switch {
		case err == nil:
			l.fetch.Record(time.Since(t0))
			l.rep.Fetches.OK++
			l.rep.BytesP2P += res.Moved
			img.holders[viewer] = true
			if res.Lease != nil {
				l.rep.Leases++
			}
		case !holderUp:
			l.rep.Fetches.Expected++
		default:
			l.rep.Fetches.Failed++
			if len(l.rep.Failures) < 20 {
				l.rep.Failures = append(l.rep.Failures, fmt.Sprintf("fetch of %s by %s (a holder up): %v", img.id, viewer, err))
			}
		}
		l.mu.Unlock()
		if err != nil {
			return
		}
	}
	l.mu.Lock()
	left := img.quota[viewer] - img.spent[viewer]
	unsure := img.unsure[viewer]
	l.mu.Unlock()
	t0 := time.Now()
	v, err := lc.View(ctx, img.id)
	if ctx.Err() != nil {
		l.mu.Lock()
		img.unsure[viewer] = true // it may have been counted
		l.mu.Unlock()
		return
	}
	var pe *peer.Error
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case err == nil && (left > 0 || unsure):
		l.view.Record(time.Since(t0))
		l.rep.Views.OK++
		if v.Offline {
			l.rep.OfflineViews++
			img.offline[viewer]++
		} else {
			l.rep.BytesCloud += int64(len(v.Secret)) + l.sizeOf(viewer, img.id)
		}
		img.spent[viewer]++
		if !unsure && v.ViewsLeft != left-1 {
			l.rep.Views.Failed++
			l.rep.Failures = append(l.rep.Failures, fmt.Sprintf("view of %s by %s: %d views left, want %d", img.id, viewer, v.ViewsLeft, left-1))
		}
	case err == nil:
		l.rep.Views.Failed++
		l.rep.Failures = append(l.rep.Failures, fmt.Sprintf("view of %s by %s: served with no views left", img.id, viewer))
	case errors.As(err, &pe) && pe.Code == "no_views_left" && (left == 0 || unsure):
		l.rep.Views.Expected++
		if unsure {
			img.spent[viewer] = img.quota[viewer]
			delete(img.unsure, viewer)
		}
	default:
		l.rep.Views.Failed++
		img.unsure[viewer] = true
		if len(l.rep.Failures) < 20 {
			l.rep.Failures = append(l.rep.Failures, fmt.Sprintf("view of %s by %s: %v", img.id, viewer, err))
		}
	}
}

// sizeOf is the size of the veiled copy user's peer holds.
func (l *loadRun) sizeOf(user, id string) int64 {
	st, err := os.Stat(filepath.Join(l.peerOf(user).Dir, "images", id+".png"))
	if err != nil {
		return 0
	}
	return st.Size()
}

func (l *loadRun) churner(ctx context.Context, r *rand.Rand) {
	t := time.NewTicker(l.cfg.Churn)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		l.churn.Lock()
		up := l.upUsers()
		if len(up) <= 2 {
			l.churn.Unlock()
			continue
		}
		u := up[r.IntN(len(up))]
		p := l.peerOf(u)
		var err error
		if r.IntN(3) == 0 {
			err = p.Kill()
			l.rep.Kills++
		} else {
			err = p.Stop()
			l.rep.Stops++
		}
		l.up[u] = false
		l.churn.Unlock()
		if err != nil {
			l.fail("churn", err)
		}
		back := time.Second + time.Duration(r.IntN(2000))*time.Millisecond
		go func() {
			select {
			case <-ctx.Done():
				return // RunLoad restarts it after the run
			case <-time.After(back):
			}
			l.churn.Lock()
			defer l.churn.Unlock()
			if ctx.Err() != nil {
				return
			}
			sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := p.Start(sctx); err != nil {
				l.fail("restart", err)
				return
			}
			l.up[u] = true
			l.rep.Restarts++
		}()
	}
}

func (l *loadRun) killCoordinator(ctx context.Context, c *local.Cluster) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(l.cfg.Duration / 2):
	}
	var st cluster.StatusReply
	for _, i := range c.Live() {
		cl, err := client.New(client.Config{Nodes: []string{c.Node(i).API}, Timeout: 2 * time.Second})
		if err != nil {
			continue
		}
		if st, err = cl.Status(ctx); err == nil && st.Coordinator != "" {
			break
		}
	}
	i := c.Index(st.Coordinator)
	if i < 0 {
		l.fail("kill coordinator", fmt.Errorf("no coordinator known"))
		return
	}
	if err := c.Kill(i); err != nil {
		l.fail("kill coordinator", err)
		return
	}
	l.mu.Lock()
	l.rep.CoordinatorKilled = true
	l.mu.Unlock()
	l.cfg.Logf("p2p load: killed the coordinator %s", st.Coordinator)
	time.Sleep(3 * time.Second)
	rctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Restart(rctx, i); err != nil {
		l.fail("restart coordinator", err)
	}
}

// checkQuotas compares each viewer's views left in the registry with the
// quota less the views that succeeded.
func (l *loadRun) checkQuotas(ctx context.Context, api []string) {
	l.rep.QuotasExact = true
	byOwner := map[string][]*shared{}
	for _, img := range l.images {
		byOwner[img.owner] = append(byOwner[img.owner], img)
	}
	for owner, imgs := range byOwner {
		cl, err := client.New(client.Config{Nodes: api, User: owner, Password: Password(owner)})
		if err != nil {
			l.rep.QuotasExact = false
			l.rep.QuotaErrors = append(l.rep.QuotaErrors, err.Error())
			continue
		}
		d, err := cl.Directory(ctx)
		if err != nil {
			l.rep.QuotasExact = false
			l.rep.QuotaErrors = append(l.rep.QuotaErrors, fmt.Sprintf("%s's directory: %v", owner, err))
			continue
		}
		entries := map[string]cluster.DirectoryEntry{}
		for _, e := range d.Images {
			entries[e.ID] = e
		}
		for _, img := range imgs {
			e := entries[img.id]
			for v, q := range img.quota {
				if img.unsure[v] {
					continue
				}
				got, off := e.Viewers[v], e.Offline[v]
				if got != q-img.spent[v] || off != img.offline[v] || img.spent[v] > q {
					l.rep.QuotasExact = false
					l.rep.QuotaErrors = append(l.rep.QuotaErrors, fmt.Sprintf("%s, viewer %s: registry %d left online, %d spent offline; granted %d, spent %d (%d offline)",
						img.id, v, got, off, q, img.spent[v], img.offline[v]))
				}
			}
			if len(e.Leases) != 0 {
				l.rep.QuotasExact = false
				l.rep.QuotaErrors = append(l.rep.QuotaErrors, fmt.Sprintf("%s: %d leases still open after every device gave its leases back", img.id, len(e.Leases)))
			}
		}
	}
}

// checkAgreement asks every node, for every user, the online list and the
// directory, until they are the same everywhere (or 30 s pass: a node in
// the failure simulation is silent for up to 20 s, then catches up).
func (l *loadRun) checkAgreement(ctx context.Context, api []string) {
	start := time.Now()
	deadline := start.Add(30 * time.Second)
	clients := map[string][]*client.Client{}
	for _, u := range l.users {
		for _, a := range api {
			cl, err := client.New(client.Config{Nodes: []string{a}, User: u, Password: Password(u), Timeout: 2 * time.Second})
			if err != nil {
				l.rep.Disagree = err.Error()
				return
			}
			clients[u] = append(clients[u], cl)
		}
	}
	for {
		diff := l.disagreement(ctx, clients)
		if diff == "" {
			l.rep.Agreed, l.rep.AgreedAfter = true, time.Since(start).Seconds()
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			l.rep.Disagree = diff
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (l *loadRun) disagreement(ctx context.Context, clients map[string][]*client.Client) string {
	for _, u := range l.users {
		var first string
		for i, cl := range clients[u] {
			o, err := cl.Online(ctx)
			if err != nil {
				return fmt.Sprintf("node %d, online list for %s: %v", i+1, u, err)
			}
			d, err := cl.Directory(ctx)
			if err != nil {
				return fmt.Sprintf("node %d, directory for %s: %v", i+1, u, err)
			}
			view := normalise(o, d)
			if i == 0 {
				first = view
			} else if view != first {
				return fmt.Sprintf("%s: node 1 says %.300s; node %d says %.300s", u, first, i+1, view)
			}
		}
	}
	return ""
}

// normalise writes what a node says to a user, without what may rightly
// differ between nodes (the node's name, its index, ticket times).
func normalise(online []cluster.OnlineReply, d cluster.DirectoryReply) string {
	var b strings.Builder
	var on []string
	for _, o := range online {
		on = append(on, o.User+"/"+o.Device+"@"+o.Address)
	}
	sort.Strings(on)
	fmt.Fprintf(&b, "online %v;", on)
	imgs := slices.Clone(d.Images)
	sort.Slice(imgs, func(i, j int) bool { return imgs[i].ID < imgs[j].ID })
	for _, e := range imgs {
		var hs []string
		for _, h := range e.Holders {
			hs = append(hs, h.Device)
		}
		sort.Strings(hs)
		v, _ := json.Marshal(e.Viewers)
		fmt.Fprintf(&b, " %s owner=%s left=%d viewers=%s holders=%v;", e.ID, e.Owner, e.ViewsLeft, v, hs)
	}
	return b.String()
}

// WriteMarkdown writes the report as a short Markdown section.
func (r LoadReport) WriteMarkdown(w io.Writer) {
	fmt.Fprintf(w, "## P2P load: %d peers, %d %s nodes, %d workers, %.0f s (seed %d)\n\n", r.Peers, r.Nodes, r.Mode, r.Workers, r.Seconds, r.Seed)
	fmt.Fprintf(w, "| operation | ok | refused as expected | failed | p50 ms | p99 ms |\n|---|---:|---:|---:|---:|---:|\n")
	fmt.Fprintf(w, "| put (through the owner's peer) | %d | %d | %d | %.1f | %.1f |\n", r.Puts.OK, r.Puts.Expected, r.Puts.Failed, r.PutMS.P50, r.PutMS.P99)
	fmt.Fprintf(w, "| fetch (peer to peer) | %d | %d | %d | %.1f | %.1f |\n", r.Fetches.OK, r.Fetches.Expected, r.Fetches.Failed, r.FetchMS.P50, r.FetchMS.P99)
	fmt.Fprintf(w, "| view (a leased view, or through the cloud) | %d | %d | %d | %.1f | %.1f |\n\n", r.Views.OK, r.Views.Expected, r.Views.Failed, r.ViewMS.P50, r.ViewMS.P99)
	fmt.Fprintf(w, "- Image bytes peer to peer: %d; through the cloud: %d.\n", r.BytesP2P, r.BytesCloud)
	fmt.Fprintf(w, "- Offline: %d leases taken by fetches, %d views spent from them with no cloud asked, %d leases given back at the end.\n", r.Leases, r.OfflineViews, r.GivenBack)
	fmt.Fprintf(w, "- Churn: %d clean stops, %d kills, %d restarts; coordinator killed: %v.\n", r.Stops, r.Kills, r.Restarts, r.CoordinatorKilled)
	fmt.Fprintf(w, "- Books (granted = spent online + spent offline + left, every lease given back): %v. Directory and online list the same on every node: %v", r.QuotasExact, r.Agreed)
	if r.Agreed {
		fmt.Fprintf(w, " (after %.1f s).\n", r.AgreedAfter)
	} else {
		fmt.Fprintf(w, " (%s).\n", r.Disagree)
	}
	for _, q := range r.QuotaErrors {
		fmt.Fprintf(w, "- quota: %s\n", q)
	}
	for _, f := range r.Failures {
		fmt.Fprintf(w, "- failure: %s\n", f)
	}
}
