package cluster_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"veil/cluster"
	"veil/cluster/client"
	"veil/cluster/registry"
)

// history records what clients were told.
type history struct {
	mu     sync.Mutex
	puts   map[string]int // acknowledged image id → quota given to the viewer
	views  map[string]int // image id → acknowledged views by the viewer
	denied int
}

func newHistory() *history { return &history{puts: map[string]int{}, views: map[string]int{}} }

func loggedIn(t testing.TB, c *cluster.TestCluster, name string) *client.Client {
	t.Helper()
	var addrs []string
	for _, n := range c.Live() {
		addrs = append(addrs, n.APIAddr())
	}
	cl, err := client.New(client.Config{Nodes: addrs, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pw := "password of " + name
	if err := cl.Register(ctx, name, pw); err != nil {
		var apiErr *client.Error
		if !errors.As(err, &apiErr) || apiErr.Code != "user_exists" {
			t.Fatalf("register %s: %v", name, err)
		}
	}
	if _, err := cl.Login(ctx, name, pw); err != nil {
		t.Fatalf("login %s: %v", name, err)
	}
	return cl
}

// checkBooks compares every live node's registry with the history: every
// acknowledged put is there, and each viewer has exactly quota minus the
// acknowledged views left (so none was lost, and none applied twice).
func checkBooks(t *testing.T, c *cluster.TestCluster, h *history, viewer string) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, n := range c.Live() {
		c.WaitFor(15*time.Second, n.Name()+" to apply what was acknowledged", func() bool {
			ok := true
			n.ReadRegistry(func(s *registry.State) {
				for id, quota := range h.puts {
					img, found := s.Image(id)
					if !found || img.Viewers[viewer] != quota-h.views[id] {
						ok = false
					}
				}
			})
			return ok
		})
	}
}

// The coordinator is killed (no leave: a crash) in the middle of a stream of
// puts and views. Clients retry with their idempotency keys; in the end
// every acknowledged put is in the registry of every live node and every
// acknowledged view was counted exactly once.
func TestCoordinatorCrashLosesAndDuplicatesNothing(t *testing.T) {
	cluster.ForEachMode(t, func(t *testing.T, mode cluster.Mode) {
		c := cluster.NewTestClusterMode(t, mode, 3, nil)
		c.WaitCoordinator(20 * time.Second)
		alice, bob := loggedIn(t, c, "alice"), loggedIn(t, c, "bob")
		h := newHistory()
		secret := tinyPNG(t)
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		for w := 0; w < 3; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ctx.Err() == nil; i++ {
					const quota = 3
					res, err := alice.Put(context.Background(), secret, nil, map[string]int{"bob": quota})
					if err != nil {
						t.Errorf("put: %v", err)
						return
					}
					h.mu.Lock()
					h.puts[res.ImageID] = quota
					h.mu.Unlock()
					for v := 0; v < quota+1; v++ {
						_, err := bob.View(context.Background(), res.PNG)
						var apiErr *client.Error
						switch {
						case err == nil:
							h.mu.Lock()
							h.views[res.ImageID]++
							h.mu.Unlock()
						case errors.As(err, &apiErr) && apiErr.Code == "no_views_left":
							h.mu.Lock()
							h.denied++
							h.mu.Unlock()
						default:
							t.Errorf("view: %v", err)
							return
						}
					}
				}
			}()
		}
		time.Sleep(2 * time.Second) // let the stream run before the crash
		coord, _ := cluster.Agreed(c.Live())
		if coord == nil {
			t.Fatal("no agreed coordinator before the crash")
		}
		t.Logf("killing the coordinator %s", coord.Name())
		coord.Close()
		wg.Wait()
		h.mu.Lock()
		t.Logf("%d puts and %d views acknowledged, %d views denied", len(h.puts), sumViews(h.views), h.denied)
		for id, n := range h.views {
			if n > h.puts[id] {
				t.Errorf("image %s: %d views acknowledged, quota %d", id, n, h.puts[id])
			}
		}
		h.mu.Unlock()
		c.WaitCoordinator(20 * time.Second)
		checkBooks(t, c, h, "bob")
	})
}

func sumViews(m map[string]int) (n int) {
	for _, v := range m {
		n += v
	}
	return n
}

// A node failed by the simulation for 20 s while views go on comes back
// with the same counts as the others.
func TestANodeBackFromA20sFailureHasTheSameCounts(t *testing.T) {
	cluster.ForEachMode(t, func(t *testing.T, mode cluster.Mode) {
		if testing.Short() {
			t.Skip("takes about 30 s; run without -short")
		}
		c := cluster.NewTestClusterMode(t, mode, 3, nil)
		coord := c.WaitCoordinator(20 * time.Second)
		alice, bob := loggedIn(t, c, "alice"), loggedIn(t, c, "bob")
		secret := tinyPNG(t)
		res, err := alice.Put(context.Background(), secret, nil, map[string]int{"bob": 1_000_000})
		if err != nil {
			t.Fatal(err)
		}
		var victim *cluster.Node
		for _, n := range c.Nodes {
			if n != coord {
				victim = n
			}
		}
		if code, err := httpPost("http://"+victim.APIAddr()+"/v1/admin/fail?for=20s", cluster.AdminToken(c.Key)); err != nil || code != 202 {
			t.Fatalf("admin fail: %d %v", code, err)
		}
		h := newHistory()
		h.puts[res.ImageID] = 1_000_000
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			if _, err := bob.View(context.Background(), res.PNG); err != nil {
				t.Fatalf("view while %s is down: %v", victim.Name(), err)
			}
			h.views[res.ImageID]++
		}
		c.WaitFor(30*time.Second, victim.Name()+" to come back active", func() bool {
			return victim.State() == cluster.StateActive && victim.Failures() == 1
		})
		t.Logf("%d views while %s was down", h.views[res.ImageID], victim.Name())
		checkBooks(t, c, h, "bob")
	})
}
