package compose

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"veil/cluster/client"
	"veil/stego"
)

// The modes the end-to-end test runs the cluster in, e.g. "bully,raft".
var modes = flag.String("compose.modes", envOr("VEIL_COMPOSE_MODES", "bully"),
	"modes of compose.yaml the end-to-end test runs, comma separated (or VEIL_COMPOSE_MODES)")

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// root is the repository: the Makefile, the Dockerfile and compose.yaml.
const root = "../.."

// TestComposeClusterLosesItsCoordinator builds the image as `make docker`
// does, brings the three nodes of compose.yaml up, and puts and views
// through them while the coordinator's container is cut off the network.
// The two others must elect a new coordinator and serve, and every put and
// view the cluster acknowledged must be there afterwards. The project is
// taken down with its volumes however the test ends.
func TestComposeClusterLosesItsCoordinator(t *testing.T) {
	ctx := withTimeout(t, 10*time.Second)
	if err := Available(ctx); err != nil {
		t.Skipf("skipping the Docker end-to-end test: %v", err)
	}
	img := buildImage(t)
	for _, mode := range strings.Split(*modes, ",") {
		t.Run(mode, func(t *testing.T) { runCoordinatorLoss(t, img, strings.TrimSpace(mode)) })
	}
}

// buildImage builds the static binary with the Makefile and the image
// from the Dockerfile, under a tag of this run's that is removed at the end.
func buildImage(t *testing.T) string {
	ctx := withTimeout(t, 5*time.Minute)
	run(t, ctx, "make", "--no-print-directory", "-C", root, "static")
	tag := "veil:e2e-" + suffix()
	run(t, ctx, "docker", "build", "--quiet", "-t", tag, root)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if out, err := exec.CommandContext(ctx, "docker", "rmi", tag).CombinedOutput(); err != nil {
			t.Errorf("removing the image %s: %v: %s", tag, err, out)
		}
	})
	return tag
}

func runCoordinatorLoss(t *testing.T, img, mode string) {
	ctx := withTimeout(t, 3*time.Minute)
	start := time.Now()
	step := func(format string, args ...any) {
		t.Helper()
		t.Logf("%6.1fs  %s", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	p := up(t, img, mode)
	step("%s is up in %s mode", p.Name, mode)
	// One HTTP client for every call of the test, its connections closed
	// at the end. An attempt that has no answer within 5 s is given up and
	// retried (with the same idempotency key, for a write): a connection
	// kept alive through Docker's port forwarding to a container that is
	// gone is never closed, and would hold the call to its deadline.
	hc := &http.Client{Transport: &http.Transport{
		DialContext:           (&net.Dialer{Timeout: time.Second}).DialContext,
		ResponseHeaderTimeout: 5 * time.Second,
		IdleConnTimeout:       10 * time.Second,
	}}
	t.Cleanup(hc.CloseIdleConnections)

	apis := map[string]string{}
	for _, s := range Services {
		api, err := p.API(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		apis[s] = api
	}
	first, err := settled(ctx, hc, apis)
	if err != nil {
		t.Fatal(err)
	}
	step("settled: %s coordinates at epoch %d", first.Coordinator, first.Epoch)
	for _, s := range Services {
		id, err := p.Container(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		got, err := exec.CommandContext(ctx, "docker", "inspect", "-f", "{{.HostConfig.NanoCpus}}", id).CombinedOutput()
		if err != nil || strings.TrimSpace(string(got)) != "1000000000" {
			t.Fatalf("%s runs with NanoCpus %q (%v), want the 1 CPU VEIL_NODE_CPUS asks for", s, got, err)
		}
	}

	l := newLoad(t, ctx, hc, values(apis))
	l.start(2)
	l.waitUntil(t, func(a *acks) bool { return len(a.puts) >= 6 })
	// The coordinator now, should the load have moved it.
	before, err := agreed(ctx, hc, apis, func(coordinator) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	old := before.Coordinator
	addr, err := p.Address(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	if err := p.Disconnect(ctx, old); err != nil {
		t.Fatal(err)
	}
	step("cut %s (%s) off the network, after %d acknowledged puts", old, addr, l.count())
	others := map[string]string{}
	for s, api := range apis {
		if s != old {
			others[s] = api
		}
	}
	after, err := agreed(ctx, hc, others, func(c coordinator) bool { return c.Coordinator != old && c.Epoch > before.Epoch })
	if err != nil {
		t.Fatal(err)
	}
	step("%s and %s agree: %s coordinates at epoch %d, %s after the cut",
		keys(others)[0], keys(others)[1], after.Coordinator, after.Epoch, time.Since(cut).Round(time.Millisecond))
	// Serving: puts acknowledged by the new coordinator.
	l.waitUntil(t, func(a *acks) bool { return a.by[after.Coordinator] >= 6 })
	acks := l.stop()
	step("load stopped: %d puts and %d views acknowledged, %d puts and %d views failed or cut off; puts by coordinator: %v; errors: %v",
		len(acks.puts), acks.viewsAcked(), acks.putsFailed, acks.viewsFailed(), acks.by, acks.errors)
	checkAcknowledged(t, ctx, hc, values(others), acks)
	step("every acknowledged put and view checked through %s", strings.Join(keys(others), " and "))

	// Back on the network, the old coordinator rejoins: all three agree
	// again, at an epoch no lower, and serve what was acknowledged.
	if err := p.Connect(ctx, old); err != nil {
		t.Fatal(err)
	}
	step("put %s back on the network", old)
	if again, err := p.Address(ctx, old); err != nil || again != addr {
		t.Errorf("%s came back at %q (%v), not at %s: the others would look for it there", old, again, err, addr)
	}
	if apis[old], err = p.API(ctx, old); err != nil {
		t.Fatal(err)
	}
	healed, err := settled(ctx, hc, apis)
	if err != nil {
		t.Fatal(err)
	}
	if healed.Epoch < after.Epoch {
		t.Fatalf("the epoch went down from %d to %d when %s came back", after.Epoch, healed.Epoch, old)
	}
	step("settled again: %s coordinates at epoch %d", healed.Coordinator, healed.Epoch)
	checkAcknowledged(t, ctx, hc, []string{apis[old]}, acks)
	step("every acknowledged put and view checked through %s", old)
}

// up starts a project of compose.yaml in mode, with its own name, key and
// image, and API ports Docker picks; it is taken down, with its volumes,
// when the test ends, and what is left of it then fails the test.
func up(t *testing.T, img, mode string) *Project {
	key, err := stego.NewKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	keyText, err := key.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	name := "veil-e2e-" + mode + "-" + suffix()
	p, err := New(filepath.Join(root, "compose.yaml"), name, []string{
		"VEIL_KEY=" + string(keyText), "VEIL_MODE=" + mode, "VEIL_IMAGE=" + img, "VEIL_PROFILE=lan",
		"VEIL_PORT_1=", "VEIL_PORT_2=", "VEIL_PORT_3=", "VEIL_NODE_CPUS=1",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if t.Failed() {
			t.Logf("logs of %s:\n%s", name, p.Logs(ctx, 150))
		}
		if err := p.Down(ctx); err != nil {
			t.Errorf("down: %v", err)
		}
		if left, err := p.Leftovers(ctx); err != nil || len(left) > 0 {
			t.Errorf("project %s left behind %v (%v)", name, left, err)
		}
	})
	ctx := withTimeout(t, 2*time.Minute)
	if err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	return p
}

// coordinator is what a node says of the coordinator.
type coordinator struct {
	Coordinator string
	Epoch       uint64
}

// agreed waits until every node of apis names the same coordinator, one of
// them, at the same epoch, and ok accepts it.
func agreed(ctx context.Context, hc *http.Client, apis map[string]string, ok func(coordinator) bool) (coordinator, error) {
	var last string
	for {
		var first coordinator
		same, among := true, false
		var seen []string
		for s, api := range apis {
			cl, err := client.New(client.Config{Nodes: []string{api}, Timeout: time.Second, HTTP: hc})
			if err != nil {
				return coordinator{}, err
			}
			r, err := cl.Coordinator(ctx)
			if err != nil {
				seen = append(seen, fmt.Sprintf("%s: %v", s, err))
				same = false
				continue
			}
			seen = append(seen, fmt.Sprintf("%s: %s at %d", s, r.Coordinator, r.Epoch))
			c := coordinator{r.Coordinator, r.Epoch}
			if first == (coordinator{}) {
				first = c
			}
			same = same && c == first
			among = among || c.Coordinator == s
		}
		if same && among && ok(first) {
			return first, nil
		}
		last = strings.Join(seen, "; ")
		select {
		case <-ctx.Done():
			return coordinator{}, fmt.Errorf("the nodes did not agree on a coordinator: %w; last answers: %s", ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// settled waits until the nodes agree on a coordinator and each lists every
// one of them alive and active.
func settled(ctx context.Context, hc *http.Client, apis map[string]string) (coordinator, error) {
	var why string
	for {
		c, err := agreed(ctx, hc, apis, func(coordinator) bool { return true })
		if err != nil {
			return c, fmt.Errorf("%w (last: %s)", err, why)
		}
		why = ""
		for s, api := range apis {
			cl, err := client.New(client.Config{Nodes: []string{api}, Timeout: time.Second, HTTP: hc})
			if err != nil {
				return c, err
			}
			members, err := cl.Members(ctx)
			if err != nil {
				why = fmt.Sprintf("%s: members: %v", s, err)
				break
			}
			for other := range apis {
				status, state := "absent", ""
				for _, m := range members {
					if m.Name == other {
						status, state = m.Status, m.State
					}
				}
				if status != "alive" || state != "active" {
					why = fmt.Sprintf("%s sees %s as %q, %q", s, other, status, state)
				}
			}
		}
		if why == "" {
			return c, nil
		}
		select {
		case <-ctx.Done():
			return c, fmt.Errorf("the cluster did not settle: %w; last: %s", ctx.Err(), why)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// The users of the load: an owner whose puts give the viewer views.
const (
	owner, ownerPassword   = "olivia", "olivia's password"
	viewer, viewerPassword = "victor", "victor's password"
	quota                  = 3
)

// put is an acknowledged put: what was hidden and what came back.
type put struct {
	id     string
	secret []byte
	veiled []byte
}

// acks is what the cluster acknowledged, and what it may have done without
// saying so (a call that failed may have been carried out).
type acks struct {
	puts       []put
	putsFailed int
	views      map[string]int // image id → views acknowledged
	viewFails  map[string]int // image id → views that failed
	by         map[string]int // coordinator → puts it acknowledged
	errors     map[string]int // why calls failed, but for the end of the run
}

func (a *acks) viewsAcked() (n int) {
	for _, v := range a.views {
		n += v
	}
	return n
}

func (a *acks) viewsFailed() (n int) {
	for _, v := range a.viewFails {
		n += v
	}
	return n
}

// load is a closed loop of clients, each putting a new secret for the
// viewer and then viewing it once as the viewer.
type load struct {
	ctx           context.Context
	cancel        context.CancelFunc
	owner, viewer *client.Client
	wg            sync.WaitGroup

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every acknowledged put
	acks    acks
	seq     int
}

func newLoad(t *testing.T, ctx context.Context, hc *http.Client, apis []string) *load {
	// RouteAny: the nodes forward to the coordinator, so the clients never
	// need the containers' own addresses, which the host may not reach.
	cfg := client.Config{Nodes: apis, Route: client.RouteAny, Timeout: 20 * time.Second, HTTP: hc}
	ocfg, vcfg := cfg, cfg
	ocfg.User, ocfg.Password = owner, ownerPassword
	vcfg.User, vcfg.Password = viewer, viewerPassword
	oc, err := client.New(ocfg)
	if err != nil {
		t.Fatal(err)
	}
	vc, err := client.New(vcfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct{ name, password string }{{owner, ownerPassword}, {viewer, viewerPassword}} {
		if err := oc.Register(ctx, u.name, u.password); err != nil {
			t.Fatalf("registering %s: %v", u.name, err)
		}
	}
	lctx, cancel := context.WithCancel(ctx)
	return &load{ctx: lctx, cancel: cancel, owner: oc, viewer: vc, changed: make(chan struct{}),
		acks: acks{views: map[string]int{}, viewFails: map[string]int{}, by: map[string]int{}, errors: map[string]int{}}}
}

func (l *load) start(clients int) {
	for range clients {
		l.wg.Go(func() {
			for l.ctx.Err() == nil {
				l.round()
			}
		})
	}
}

// round puts one new secret and views it once.
func (l *load) round() {
	l.mu.Lock()
	l.seq++
	secret := secretPNG(l.seq)
	l.mu.Unlock()
	res, err := l.owner.Put(l.ctx, secret, nil, map[string]int{viewer: quota})
	l.mu.Lock()
	if err != nil {
		// Failed, or cut off by the end of the run: it may have been
		// carried out all the same.
		l.acks.putsFailed++
		l.failed("put", err)
		l.mu.Unlock()
		return
	}
	l.acks.puts = append(l.acks.puts, put{id: res.ImageID, secret: secret, veiled: res.PNG})
	l.acks.by[res.Coordinator]++
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()

	v, err := l.viewer.View(l.ctx, res.PNG)
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case err != nil:
		// Cut off or failed: it may have been counted.
		l.acks.viewFails[res.ImageID]++
		l.failed("view", err)
	case !bytes.Equal(v.Secret, secret):
		l.acks.viewFails[res.ImageID]++
		l.acks.views[res.ImageID] = -1000 // fails the check below, loudly
	default:
		l.acks.views[res.ImageID]++
	}
}

// failed notes why a call failed, unless the end of the run cut it off.
// The caller holds l.mu.
func (l *load) failed(call string, err error) {
	if l.ctx.Err() == nil {
		l.acks.errors[call+": "+err.Error()]++
	}
}

// count is the number of acknowledged puts so far.
func (l *load) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acks.puts)
}

// waitUntil waits until done holds of what was acknowledged; it is asked
// again after every acknowledged put.
func (l *load) waitUntil(t *testing.T, done func(*acks) bool) {
	t.Helper()
	for {
		l.mu.Lock()
		ok, n, ch := done(&l.acks), len(l.acks.puts), l.changed
		l.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-l.ctx.Done():
			t.Fatalf("the load ended first, after %d acknowledged puts: %v", n, l.ctx.Err())
		}
	}
}

// stop ends the load and returns what was acknowledged.
func (l *load) stop() acks {
	l.cancel()
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.acks
}

// checkAcknowledged asks the cluster, through the given nodes, for every
// acknowledged put: the owner lists it with the viewer's views left as the
// acknowledged views say, and gets the original back from the veiled PNG.
func checkAcknowledged(t *testing.T, ctx context.Context, hc *http.Client, apis []string, a acks) {
	t.Helper()
	oc, err := client.New(client.Config{Nodes: apis, Route: client.RouteAny, Timeout: 20 * time.Second, HTTP: hc,
		User: owner, Password: ownerPassword})
	if err != nil {
		t.Fatal(err)
	}
	listed, err := oc.Images(ctx)
	if err != nil {
		t.Fatalf("listing the owner's images: %v", err)
	}
	left := map[string]int{}
	for _, img := range listed {
		left[img.ID] = img.Viewers[viewer]
	}
	if len(listed) < len(a.puts) || len(listed) > len(a.puts)+a.putsFailed {
		t.Errorf("%d images listed; %d puts were acknowledged and %d failed", len(listed), len(a.puts), a.putsFailed)
	}
	for _, p := range a.puts {
		l, ok := left[p.id]
		if !ok {
			t.Errorf("image %s was acknowledged but is not listed", p.id)
			continue
		}
		// Each acknowledged view was counted once; a failed one may
		// have been.
		hi := quota - a.views[p.id]
		lo := hi - a.viewFails[p.id]
		if l < lo || l > hi {
			t.Errorf("image %s: %d views left; %d views were acknowledged and %d failed, of %d",
				p.id, l, a.views[p.id], a.viewFails[p.id], quota)
		}
		v, err := oc.View(ctx, p.veiled)
		switch {
		case err != nil:
			t.Errorf("image %s: the owner's view: %v", p.id, err)
		case !v.ByOwner || !bytes.Equal(v.Secret, p.secret):
			t.Errorf("image %s: the owner's view returned %d bytes (by owner: %v), not the %d-byte secret",
				p.id, len(v.Secret), v.ByOwner, len(p.secret))
		}
	}
}

// secretPNG is a small PNG that differs for every n.
func secretPNG(n int) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, 8, 8))
	for i := range 64 {
		img.Set(i%8, i/8, color.NRGBA{R: uint8(n), G: uint8(n >> 8), B: uint8(i * 4), A: 255})
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// run runs a command and fails the test with its output if it fails.
func run(t *testing.T, ctx context.Context, name string, args ...string) {
	t.Helper()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func withTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// suffix makes names of this run's that no other run has.
func suffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%d-%s", os.Getpid(), hex.EncodeToString(b))
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func values(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
