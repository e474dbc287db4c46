package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"veil/cluster/registry"
	"veil/stego"
)

// secretPNG returns a small real PNG to hide.
func secretPNG(t testing.TB, seed int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 24, 16))
	for y := 0; y < 16; y++ {
		for x := 0; x < 24; x++ {
			img.Set(x, y, color.NRGBA{uint8(x * 10), uint8(y * 15), uint8(seed), 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func call(t testing.TB, method, url string, body []byte, header map[string]string) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{resp.StatusCode, resp.Header, b}
}

func errorCode(t testing.TB, r reply) string {
	t.Helper()
	var e struct {
		Error apiError `json:"error"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("status %d with a body that is not a JSON error: %q", r.status, r.body)
	}
	return e.Error.Code
}

func hideURL(n *Node, query string) string {
	return "http://" + n.APIAddr() + "/v1/hide?" + query
}

func TestClusterAgreesOnOneCoordinator(t *testing.T) {
	ForEachMode(t, func(t *testing.T, mode Mode) {
		for _, size := range []int{3, 5} {
			t.Run(fmt.Sprint(size), func(t *testing.T) {
				c := NewTestClusterMode(t, mode, size, nil)
				coord := c.WaitCoordinator(20 * time.Second)
				for _, n := range c.Nodes {
					r := call(t, "GET", "http://"+n.APIAddr()+"/v1/coordinator", nil, nil)
					var got CoordinatorReply
					if err := json.Unmarshal(r.body, &got); err != nil || r.status != 200 {
						t.Fatalf("%s: coordinator reply %d %q", n.Name(), r.status, r.body)
					}
					if got.Coordinator != coord.Name() || got.API != coord.APIAddr() {
						t.Errorf("%s names %s at %s, want %s at %s", n.Name(), got.Coordinator, got.API, coord.Name(), coord.APIAddr())
					}
				}
			})
		}
	})
}

func TestAHideThroughANodeThatDoesNotCoordinateIsCommittedByTheCoordinator(t *testing.T) {
	ForEachMode(t, func(t *testing.T, mode Mode) {
		c := NewTestClusterMode(t, mode, 3, nil)
		coord := c.WaitCoordinator(20 * time.Second)
		other := c.NotCoordinator(coord)
		secret := secretPNG(t, 1)
		alice := register(t, coord, "alice")
		register(t, coord, "bob")
		register(t, coord, "carol")
		r := call(t, "POST", hideURL(other, "viewers=bob=2,carol&views=3"), secret,
			alice.auth("Content-Type", "image/png"))
		if r.status != 200 {
			t.Fatalf("hide: %d %s", r.status, r.body)
		}
		if got := r.header.Get(hdrCoordinator); got != coord.Name() {
			t.Errorf("%s header %q, want %q", hdrCoordinator, got, coord.Name())
		}
		if r.header.Get(hdrWorker) == "" || r.header.Get(hdrEpoch) == "" {
			t.Errorf("reply lacks the worker or epoch header: %v", r.header)
		}
		key, err := stego.ParseKey(c.Key)
		if err != nil {
			t.Fatal(err)
		}
		got, meta, err := stego.Reveal(r.body, key, stego.Options{})
		if err != nil {
			t.Fatalf("reveal of the veiled PNG: %v", err)
		}
		if !bytes.Equal(got, secret) {
			t.Fatal("revealed secret differs from the one sent")
		}
		want := map[string]int{"bob": 2, "carol": 3}
		if meta.Owner != "alice" || fmt.Sprint(meta.Viewers) != fmt.Sprint(want) {
			t.Errorf("meta = %+v, want owner alice and viewers %v", meta, want)
		}
		if meta.ID.String() != r.header.Get(hdrImageID) {
			t.Errorf("image id header %q, sealed id %s", r.header.Get(hdrImageID), meta.ID)
		}
	})
}

func TestIdempotencyKeyReturnsTheFirstOutcome(t *testing.T) {
	ForEachMode(t, func(t *testing.T, mode Mode) {
		c := NewTestClusterMode(t, mode, 3, nil)
		c.WaitCoordinator(20 * time.Second)
		secret := secretPNG(t, 2)
		alice := register(t, c.Nodes[0], "alice")
		register(t, c.Nodes[0], "bob")
		hdr := alice.auth("Content-Type", "image/png", hdrIdempotencyKey, "put-42")
		var wg sync.WaitGroup
		replies := make([]reply, 6)
		for i := range replies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				node := c.Nodes[i%len(c.Nodes)]
				replies[i] = callRetry(t, "POST", hideURL(node, "viewers=bob"), secret, hdr)
			}()
		}
		wg.Wait()
		for i, r := range replies {
			if r.status != 200 {
				t.Fatalf("reply %d: %d %s", i, r.status, r.body)
			}
			if !bytes.Equal(r.body, replies[0].body) || r.header.Get(hdrImageID) != replies[0].header.Get(hdrImageID) {
				t.Fatalf("reply %d differs from the first: the work ran twice", i)
			}
		}
		// Followers apply what the coordinator committed once they hear
		// of the commit (in Raft mode, with the next heartbeat).
		images := func(n *Node) (count int) {
			n.ReadRegistry(func(s *registry.State) { _, count, _ = s.Counts() })
			return count
		}
		c.WaitFor(10*time.Second, "every node to apply the put", func() bool {
			for _, n := range c.Nodes {
				if images(n) == 0 {
					return false
				}
			}
			return true
		})
		for _, n := range c.Nodes {
			if got := images(n); got != 1 {
				t.Fatalf("%s records %d images for one idempotency key, want 1", n.Name(), got)
			}
		}
	})
}

func TestCoordinatorCrashGivesANewCoordinator(t *testing.T) {
	ForEachMode(t, func(t *testing.T, mode Mode) {
		c := NewTestClusterMode(t, mode, 3, nil)
		old := c.WaitCoordinator(20 * time.Second)
		oldEpoch := old.Leadership().Epoch
		old.Close()
		coord := c.WaitCoordinator(20 * time.Second)
		if coord == old {
			t.Fatal("the crashed node is still coordinator")
		}
		if coord.Leadership().Epoch.Compare(oldEpoch) <= 0 {
			t.Fatalf("new epoch %v is not above the old %v", coord.Leadership().Epoch, oldEpoch)
		}
		c.WaitFor(10*time.Second, "the crashed node to show as failed", func() bool {
			m, ok := coord.mship.member(old.Name())
			return ok && m.Status == StatusFailed
		})
	})
}

func TestGracefulLeaveShowsAsLeft(t *testing.T) {
	ForEachMode(t, func(t *testing.T, mode Mode) {
		c := NewTestClusterMode(t, mode, 3, nil)
		coord := c.WaitCoordinator(20 * time.Second)
		leaver := c.NotCoordinator(coord)
		if err := leaver.Leave(2 * time.Second); err != nil {
			t.Fatalf("leave: %v", err)
		}
		c.WaitFor(10*time.Second, "the leaver to show as left", func() bool {
			m, ok := coord.mship.member(leaver.Name())
			return ok && m.Status == StatusLeft
		})
		if m, _ := coord.mship.member(leaver.Name()); m.Meta.State != StateLeaving {
			t.Fatalf("the leaver shows state %s, want leaving", m.Meta.State)
		}
	})
}

func TestLowestLoadWinsAReelection(t *testing.T) {
	c := NewTestCluster(t, 3, func(i int, cfg *Config) {
		cfg.Profile.ReelectInterval = 2 * time.Second
	})
	c.WaitCoordinator(20 * time.Second)
	// Keep node-1 and node-2 busy with jobs that wait, so their load is
	// well above node-3's, by more than the profile's gap.
	release := make(chan struct{})
	var wg sync.WaitGroup
	for _, n := range c.Nodes[:2] {
		for j := 0; j < 3*n.cfg.Workers; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = n.pool.do(context.Background(), func() error { <-release; return nil })
			}()
		}
	}
	defer func() { close(release); wg.Wait() }()
	c.WaitFor(30*time.Second, "node-3, the least loaded, to become coordinator", func() bool {
		coord, ok := Agreed(c.Nodes)
		return ok && coord.Name() == "node-3"
	})
}

func TestAPIErrorsAreClearAndChangeNothing(t *testing.T) {
	ForEachMode(t, func(t *testing.T, mode Mode) {
		c := NewTestClusterMode(t, mode, 3, func(i int, cfg *Config) { cfg.MaxBodyBytes = 64 << 10 })
		c.WaitCoordinator(20 * time.Second)
		n := c.Nodes[1]
		secret := secretPNG(t, 3)
		admin := AdminToken(c.Key)
		a := register(t, n, "alice").auth()
		with := func(extra ...string) map[string]string {
			h := map[string]string{"Authorization": a["Authorization"]}
			for i := 0; i+1 < len(extra); i += 2 {
				h[extra[i]] = extra[i+1]
			}
			return h
		}
		cases := []struct {
			name   string
			method string
			path   string
			body   []byte
			header map[string]string
			status int
			code   string
		}{
			{"no token", "POST", "/v1/hide", secret, nil, 401, "unauthorized"},
			{"empty body", "POST", "/v1/hide", nil, with(), 400, "bad_request"},
			{"another owner", "POST", "/v1/hide?owner=bob", secret, with(), 400, "bad_request"},
			{"bad views", "POST", "/v1/hide?viewers=bob&views=lots", secret, with(), 400, "bad_request"},
			{"zero views", "POST", "/v1/hide?viewers=bob=0", secret, with(), 400, "bad_request"},
			{"viewer twice", "POST", "/v1/hide?viewers=bob,bob", secret, with(), 400, "bad_request"},
			{"bad viewer name", "POST", "/v1/hide?viewers=b%20b", secret, with(), 400, "invalid_meta"},
			{"not an image", "POST", "/v1/hide", []byte("hello, world"), with(), 422, "unsupported_image"},
			{"body over the limit", "POST", "/v1/hide", make([]byte, 65<<10), with(), 413, "body_too_large"},
			{"broken multipart", "POST", "/v1/hide", []byte("--x\r\nnot a part"),
				with("Content-Type", "multipart/form-data; boundary=x"), 400, "bad_request"},
			{"unknown route", "GET", "/v1/nothing", nil, nil, 404, "not_found"},
			{"internal route without token", "POST", "/v1/internal/hide?owner=alice", secret, nil, 401, "unauthorized"},
			{"admin without token", "POST", "/v1/admin/fail?for=1s", nil, nil, 401, "unauthorized"},
			{"admin with a wrong token", "POST", "/v1/admin/fail?for=1s", nil,
				map[string]string{"Authorization": "Bearer " + strings.Repeat("0", 64)}, 401, "unauthorized"},
			{"admin with a bad duration", "POST", "/v1/admin/fail?for=forever", nil,
				map[string]string{"Authorization": "Bearer " + admin}, 400, "bad_request"},
			{"admin for too long", "POST", "/v1/admin/fail?for=21s", nil,
				map[string]string{"Authorization": "Bearer " + admin}, 400, "bad_request"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := call(t, tc.method, "http://"+n.APIAddr()+tc.path, tc.body, tc.header)
				if r.status != tc.status {
					t.Fatalf("status %d, want %d (body %s)", r.status, tc.status, r.body)
				}
				if got := errorCode(t, r); got != tc.code {
					t.Fatalf("code %q, want %q", got, tc.code)
				}
			})
		}
		var jobs uint64
		for _, node := range c.Nodes {
			jobs += node.pool.done.Load()
			if node.State() != StateActive {
				t.Errorf("%s is %s after bad input", node.Name(), node.State())
			}
			var images int
			node.ReadRegistry(func(s *registry.State) { _, images, _ = s.Counts() })
			if images != 0 {
				t.Errorf("%s records %d images after bad input", node.Name(), images)
			}
		}
		// Only the non-image reached a worker (it is refused there by the
		// stego decoder); nothing else ran.
		if jobs > 1 {
			t.Errorf("%d jobs ran for bad input", jobs)
		}
	})
}

func TestProfilesAreServedOnlyWhenAsked(t *testing.T) {
	c := NewTestCluster(t, 2, func(i int, cfg *Config) { cfg.Pprof = i == 0 })
	c.WaitCoordinator(20 * time.Second)
	on := call(t, "GET", "http://"+c.Nodes[0].APIAddr()+"/debug/pprof/cmdline", nil, nil)
	if on.status != 200 || len(on.body) == 0 {
		t.Fatalf("with Pprof: status %d, %d bytes; want 200 and the command line", on.status, len(on.body))
	}
	off := call(t, "GET", "http://"+c.Nodes[1].APIAddr()+"/debug/pprof/cmdline", nil, nil)
	if off.status != 404 || errorCode(t, off) != "not_found" {
		t.Fatalf("without Pprof: status %d (body %s); want 404 not_found", off.status, off.body)
	}
}
