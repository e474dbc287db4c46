package cluster

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"veil/cluster/registry"
)

// plainCall is one HTTP request with no retry, as curl or a browser sends
// it: what it answers is what the client sees.
func plainCall(method, url string, body []byte, header map[string]string) (int, string, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func adminHandoff(t *testing.T, n *Node, to string) reply {
	t.Helper()
	return call(t, "POST", "http://"+n.APIAddr()+"/v1/admin/handoff?to="+to, nil, map[string]string{"Authorization": "Bearer " + n.admin})
}

// TestHandOffsUnderLoadFailNoRequest moves the coordinator's role again and
// again while plain clients (one request each, no retry) put and view
// through every node: not one of them may see an error, and the views
// counted must be exactly those acknowledged.
func TestHandOffsUnderLoadFailNoRequest(t *testing.T) {
	ForEachMode(t, func(t *testing.T, mode Mode) {
		const quota, moves = 100000, 6
		c := NewTestClusterMode(t, mode, 3, nil)
		alice, bob, img := sharedImage(t, c, quota)

		stop := make(chan struct{})
		var views, puts atomic.Int64
		var mu sync.Mutex
		var failures []string
		var wg sync.WaitGroup
		for w := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := 0; ; k++ {
					select {
					case <-stop:
						return
					default:
					}
					n := c.Nodes[(w+k)%len(c.Nodes)]
					var status int
					var body string
					var err error
					if w%2 == 0 {
						status, body, err = plainCall("POST", "http://"+n.APIAddr()+"/v1/view", img.body, bob.auth())
						if status == http.StatusOK {
							views.Add(1)
						}
					} else {
						status, body, err = plainCall("POST", "http://"+n.APIAddr()+"/v1/images?viewers=bob", secretPNG(t, w*1000+k), alice.auth())
						if status == http.StatusOK {
							puts.Add(1)
						}
					}
					if err != nil || status != http.StatusOK {
						mu.Lock()
						failures = append(failures, fmt.Sprintf("%s at %s: %d %v %.200s", map[bool]string{true: "view", false: "put"}[w%2 == 0], n.cfg.Name, status, err, body))
						mu.Unlock()
					}
				}
			}()
		}

		time.Sleep(300 * time.Millisecond)
		elections := func() (sum uint64) {
			for _, n := range c.Nodes {
				sum += n.elector.Stats().Elections
			}
			return sum
		}
		before := elections()
		for k := range moves {
			from := c.WaitCoordinator(20 * time.Second)
			to := c.NotCoordinator(from).cfg.Name
			if k%2 == 1 {
				to = "" // the cluster picks the least-loaded member
			}
			// The order goes to a node that does not coordinate: it passes it on.
			r := adminHandoff(t, c.NotCoordinator(from), to)
			if r.status != http.StatusOK {
				t.Fatalf("hand-off %d from %s to %q: %d %s", k, from.cfg.Name, to, r.status, r.body)
			}
			var res HandOffResult
			if err := json.Unmarshal(r.body, &res); err != nil {
				t.Fatal(err)
			}
			if res.From != from.cfg.Name || res.To == from.cfg.Name || (to != "" && res.To != to) || res.Epoch == "" {
				t.Fatalf("hand-off %d from %s to %q answered %+v", k, from.cfg.Name, to, res)
			}
			c.WaitFor(10*time.Second, "every node to follow "+res.To, func() bool {
				coord, ok := Agreed(c.Nodes)
				return ok && coord.cfg.Name == res.To
			})
			time.Sleep(200 * time.Millisecond)
		}
		close(stop)
		wg.Wait()
		if after := elections(); mode == ModeBully && after != before {
			// A hand-off is no election: a follower that loses its
			// coordinator to one waits for the successor.
			t.Errorf("%d elections during %d hand-offs, want none", after-before, moves)
		}

		for _, f := range failures {
			t.Error(f)
		}
		if views.Load() == 0 || puts.Load() == 0 {
			t.Fatalf("the load did nothing: %d views, %d puts", views.Load(), puts.Load())
		}
		want := fmt.Sprint(quota - views.Load())
		if got := viewsLeftEverywhere(t, c, img.header.Get(hdrImageID), "bob"); fmt.Sprint(got) != "["+want+" "+want+" "+want+"]" {
			t.Fatalf("views left on each node %v, want %s: %d views acknowledged", got, want, views.Load())
		}
		t.Logf("%s: %d hand-offs under %d views and %d puts, none failed", mode, moves, views.Load(), puts.Load())
	})
}

func TestAHandOffThatCannotBeMadeChangesNothing(t *testing.T) {
	c := NewTestCluster(t, 3, nil)
	coord := c.WaitCoordinator(20 * time.Second)
	epoch := coord.elector.Leadership().Epoch
	for _, tt := range []struct {
		name   string
		to     string
		token  string
		status int
		code   string
	}{
		{"without the admin token", "", "not-the-token", http.StatusUnauthorized, "unauthorized"},
		{"to no member", "node-99", coord.admin, http.StatusConflict, "no_handoff"},
		{"to the coordinator itself", coord.cfg.Name, coord.admin, http.StatusConflict, "no_handoff"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, "POST", "http://"+c.NotCoordinator(coord).APIAddr()+"/v1/admin/handoff?to="+tt.to, nil,
				map[string]string{"Authorization": "Bearer " + tt.token})
			if r.status != tt.status || errorCode(t, r) != tt.code {
				t.Fatalf("got %d %s, want %d %s", r.status, r.body, tt.status, tt.code)
			}
			if l := coord.elector.Leadership(); !l.Self || l.Epoch != epoch {
				t.Fatalf("a refused hand-off moved the role: %+v", l)
			}
			// And the coordinator still takes writes.
			if _, err := coord.SubmitForTest(registry.Barrier{}); err != nil {
				t.Fatalf("the coordinator takes no write after a refused hand-off: %v", err)
			}
		})
	}
}
