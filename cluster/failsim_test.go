package cluster_test

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"veil/cluster"
	"veil/cluster/client"
)

func tinyPNG(t testing.TB) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 8, 8))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// The assignment's failure simulation runs while clients keep hiding
// images: every request must still succeed (the client retries on another
// node), and never are two nodes failed at the same time.
func TestFailureSimulationLosesNoRequest(t *testing.T) {
	cluster.ForEachMode(t, func(t *testing.T, mode cluster.Mode) {
		c := cluster.NewTestClusterMode(t, mode, 3, func(i int, cfg *cluster.Config) {
			cfg.Failures = &cluster.FailureSim{Every: 1500 * time.Millisecond, DownMin: time.Second, DownMax: 2 * time.Second}
		})
		c.WaitCoordinator(20 * time.Second)
		var addrs []string
		for _, n := range c.Nodes {
			addrs = append(addrs, n.APIAddr())
		}
		cl := loggedIn(t, c, "alice")
		loggedIn(t, c, "bob")
		_ = addrs

		ctx, cancel := context.WithTimeout(context.Background(), 12*time.Second)
		defer cancel()
		var twoDown atomic.Bool
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // watch that at most one node is silent at a time
			defer wg.Done()
			for ctx.Err() == nil {
				down := 0
				for _, n := range c.Nodes {
					if n.State() == cluster.StateFailed {
						down++
					}
				}
				if down > 1 {
					twoDown.Store(true)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
		var ok, failed atomic.Int64
		secret := tinyPNG(t)
		for w := 0; w < 3; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					_, err := cl.Hide(context.Background(), client.HideRequest{
						Secret: secret, Viewers: map[string]int{"bob": 1},
					})
					if err != nil {
						failed.Add(1)
						t.Errorf("hide failed during the simulation: %v", err)
					} else {
						ok.Add(1)
					}
				}
			}()
		}
		wg.Wait()

		var failures uint64
		for _, n := range c.Nodes {
			failures += n.Failures()
		}
		t.Logf("%d hides succeeded, %d failed, %d simulated failures", ok.Load(), failed.Load(), failures)
		if failures == 0 {
			t.Fatal("the simulation failed no node in 12 s")
		}
		if ok.Load() == 0 {
			t.Fatal("no hide succeeded")
		}
		if twoDown.Load() {
			t.Fatal("two nodes were down at the same time")
		}
	})
}

// A node failed through the admin route goes silent, the others see it
// fail (and elect a new coordinator if it was the coordinator), and it comes
// back active under the coordinator the others chose.
func TestAdminFailOfTheCoordinatorFailsOverAndComesBack(t *testing.T) {
	cluster.ForEachMode(t, func(t *testing.T, mode cluster.Mode) {
		c := cluster.NewTestClusterMode(t, mode, 3, nil)
		old := c.WaitCoordinator(20 * time.Second)
		req, _ := httpPost("http://"+old.APIAddr()+"/v1/admin/fail?for=3s", cluster.AdminToken(c.Key))
		if req != 202 {
			t.Fatalf("admin fail: status %d, want 202", req)
		}
		var others []*cluster.Node
		for _, n := range c.Nodes {
			if n != old {
				others = append(others, n)
			}
		}
		c.WaitFor(10*time.Second, "the other two to elect a new coordinator", func() bool {
			coord, ok := cluster.Agreed(others)
			return ok && coord != old
		})
		c.WaitFor(20*time.Second, "the failed node to come back active under the same coordinator", func() bool {
			coord, ok := cluster.Agreed(c.Nodes)
			return ok && coord != old && old.State() == cluster.StateActive
		})
		if old.Failures() != 1 {
			t.Fatalf("old coordinator counts %d failures, want 1", old.Failures())
		}
	})
}
