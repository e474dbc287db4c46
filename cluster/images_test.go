package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"veil/cluster/registry"
)

// user is a registered, logged-in user of a test cluster.
type user struct {
	name, token string
}

func jsonBody(t testing.TB, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// callRetry is call retried on 503 with backoff, as a client does: the
// cluster answers 503 while it elects or syncs a coordinator.
func callRetry(t testing.TB, method, url string, body []byte, header map[string]string) reply {
	t.Helper()
	r := call(t, method, url, body, header)
	// 503 (no coordinator yet, recovering) and 429 (shed: a burst filled a
	// queue) both say "not done; come back", as a client honours them.
	for try := 1; (r.status == http.StatusServiceUnavailable || r.status == http.StatusTooManyRequests) && try <= 30; try++ {
		time.Sleep(time.Duration(min(50*try, 500)) * time.Millisecond)
		r = call(t, method, url, body, header)
	}
	return r
}

func register(t testing.TB, n *Node, name string) user {
	t.Helper()
	creds := jsonBody(t, credentials{Name: name, Password: "correct horse " + name})
	if r := callRetry(t, "POST", "http://"+n.APIAddr()+"/v1/users", creds, map[string]string{hdrIdempotencyKey: "register-" + name}); r.status != http.StatusCreated {
		t.Fatalf("register %s: %d %s", name, r.status, r.body)
	}
	r := callRetry(t, "POST", "http://"+n.APIAddr()+"/v1/login", creds, nil)
	if r.status != http.StatusOK {
		t.Fatalf("login %s: %d %s", name, r.status, r.body)
	}
	var lr LoginReply
	if err := json.Unmarshal(r.body, &lr); err != nil {
		t.Fatal(err)
	}
	return user{name, lr.Token}
}

func (u user) auth(extra ...string) map[string]string {
	h := map[string]string{"Authorization": "Bearer " + u.token}
	for i := 0; i+1 < len(extra); i += 2 {
		h[extra[i]] = extra[i+1]
	}
	return h
}

func put(t testing.TB, n *Node, owner user, secret []byte, viewers string, extra ...string) reply {
	t.Helper()
	if len(extra) == 0 {
		extra = []string{hdrIdempotencyKey, fmt.Sprintf("put-%d", time.Now().UnixNano())}
	}
	return callRetry(t, "POST", "http://"+n.APIAddr()+"/v1/images?viewers="+viewers, secret, owner.auth(extra...))
}

func view(t testing.TB, n *Node, viewer user, veiled []byte, extra ...string) reply {
	t.Helper()
	return callRetry(t, "POST", "http://"+n.APIAddr()+"/v1/view", veiled, viewer.auth(extra...))
}

// viewsLeft reads, on every node's own store, the views viewer has left on
// image id, once the node has applied everything the coordinator committed.
func viewsLeftEverywhere(t testing.TB, c *TestCluster, id, viewer string) []int {
	t.Helper()
	var commit uint64
	for _, n := range c.Live() {
		commit = max(commit, n.repl.commitIndex())
	}
	c.WaitFor(10*time.Second, "every node to apply the committed log", func() bool {
		for _, n := range c.Live() {
			if n.repl.commitIndex() < commit {
				return false
			}
		}
		return true
	})
	var out []int
	for _, n := range c.Live() {
		n.repl.readLocal(func(s *registry.State) {
			img, _ := s.Image(id)
			out = append(out, img.Viewers[viewer])
		})
	}
	return out
}

func TestOnlyAllowedViewersWithViewsLeftSeeTheImage(t *testing.T) {
	ForEachMode(t, func(t *testing.T, mode Mode) {
		c := NewTestClusterMode(t, mode, 3, nil)
		coord := c.WaitCoordinator(20 * time.Second)
		other := c.NotCoordinator(coord)
		alice, bob, carol := register(t, other, "alice"), register(t, coord, "bob"), register(t, other, "carol")
		secret := secretPNG(t, 7)

		r := put(t, other, alice, secret, "bob=2")
		if r.status != http.StatusOK {
			t.Fatalf("put: %d %s", r.status, r.body)
		}
		veiled, id := r.body, r.header.Get(hdrImageID)

		for i := 1; i <= 2; i++ {
			v := view(t, c.Nodes[i%3], bob, veiled)
			if v.status != http.StatusOK || !bytes.Equal(v.body, secret) {
				t.Fatalf("bob's view %d: %d, original bytes: %v", i, v.status, bytes.Equal(v.body, secret))
			}
			if w := v.header.Get(hdrWorker); !slices.ContainsFunc(c.Nodes, func(n *Node) bool { return n.Name() == w }) {
				t.Fatalf("bob's view %d names worker %q, not a node", i, w)
			}
		}
		denied := []struct {
			name   string
			who    user
			status int
			code   string
		}{
			{"a viewer with no views left", bob, http.StatusForbidden, "no_views_left"},
			{"a user not on the list", carol, http.StatusNotFound, "unknown_image"},
		}
		for _, d := range denied {
			v := view(t, other, d.who, veiled)
			if v.status != d.status || errorCode(t, v) != d.code {
				t.Fatalf("%s: %d %s, want %d %s", d.name, v.status, v.body, d.status, d.code)
			}
			if bytes.Contains(v.body, secret[:16]) {
				t.Fatalf("%s: the denial carries image bytes", d.name)
			}
		}
		for i := 0; i < 3; i++ {
			if v := view(t, other, alice, veiled); v.status != http.StatusOK || !bytes.Equal(v.body, secret) {
				t.Fatalf("the owner's view %d: %d %s", i, v.status, v.body)
			}
		}
		// An old copy of the PNG does not bring views back: the registry is the truth.
		if v := view(t, coord, bob, veiled); v.status != http.StatusForbidden {
			t.Fatalf("bob with the same PNG again: %d, want 403", v.status)
		}
		if got := viewsLeftEverywhere(t, c, id, "bob"); fmt.Sprint(got) != "[0 0 0]" {
			t.Fatalf("bob's views left on each node: %v, want 0 everywhere", got)
		}
		// The owner shares more views; bob sees the image again.
		share := call(t, "PATCH", "http://"+coord.APIAddr()+"/v1/images/"+id, jsonBody(t, shareRequest{Set: map[string]int{"bob": 1, "carol": 1}}), alice.auth())
		if share.status != http.StatusOK {
			t.Fatalf("share: %d %s", share.status, share.body)
		}
		if v := view(t, other, carol, veiled); v.status != http.StatusOK {
			t.Fatalf("carol after the share: %d %s", v.status, v.body)
		}
		if s := call(t, "PATCH", "http://"+coord.APIAddr()+"/v1/images/"+id, jsonBody(t, shareRequest{Set: map[string]int{"carol": 5}}), bob.auth()); s.status != http.StatusForbidden {
			t.Fatalf("a share by a non-owner: %d, want 403", s.status)
		}
		var shared []SharedReply
		if r := call(t, "GET", "http://"+other.APIAddr()+"/v1/shared", nil, bob.auth()); r.status != 200 || json.Unmarshal(r.body, &shared) != nil || len(shared) != 1 || shared[0].ViewsLeft != 1 {
			t.Fatalf("bob's shared list: %d %s", r.status, r.body)
		}
		var owned []ImageReply
		if r := call(t, "GET", "http://"+other.APIAddr()+"/v1/images", nil, alice.auth()); r.status != 200 || json.Unmarshal(r.body, &owned) != nil || len(owned) != 1 || owned[0].ID != id {
			t.Fatalf("alice's images: %d %s", r.status, r.body)
		}
	})
}

func TestUserAndImageErrorsAreClearAndChangeNothing(t *testing.T) {
	ForEachMode(t, func(t *testing.T, mode Mode) {
		c := NewTestClusterMode(t, mode, 3, nil)
		c.WaitCoordinator(20 * time.Second)
		n := c.Nodes[1]
		alice := register(t, n, "alice")
		register(t, n, "bob")
		r := put(t, n, alice, secretPNG(t, 1), "bob=1")
		if r.status != 200 {
			t.Fatalf("put: %d %s", r.status, r.body)
		}
		veiled := r.body
		tampered := bytes.Clone(veiled)
		tampered[len(tampered)/2] ^= 0xff
		base := "http://" + n.APIAddr()
		cases := []struct {
			name, method, path string
			body               []byte
			header             map[string]string
			status             int
			code               string
		}{
			{"malformed JSON", "POST", "/v1/users", []byte(`{"name":`), nil, 400, "bad_request"},
			{"unknown field", "POST", "/v1/users", []byte(`{"name":"x","password":"long enough pw","admin":true}`), nil, 400, "bad_request"},
			{"a member twice", "POST", "/v1/users", []byte(`{"name":"dave","name":"alice","password":"long enough pw"}`), nil, 400, "bad_request"},
			{"a member in another case", "POST", "/v1/users", []byte(`{"Name":"dave","password":"long enough pw"}`), nil, 400, "bad_request"},
			{"a share with a viewer twice", "PATCH", "/v1/images/" + r.header.Get("Veil-Image-Id"), []byte(`{"set":{"bob":1,"bob":9}}`), alice.auth(), 400, "bad_request"},
			{"bad user name", "POST", "/v1/users", jsonBody(t, credentials{"a b", "long enough pw"}), nil, 400, "bad_request"},
			{"weak password", "POST", "/v1/users", jsonBody(t, credentials{"dave", "x"}), nil, 400, "weak_password"},
			{"taken name", "POST", "/v1/users", jsonBody(t, credentials{"alice", "correct horse alice"}), nil, 409, "user_exists"},
			{"wrong password", "POST", "/v1/login", jsonBody(t, credentials{"alice", "wrong password!"}), nil, 401, "bad_credentials"},
			{"unknown user", "POST", "/v1/login", jsonBody(t, credentials{"nobody", "wrong password!"}), nil, 401, "bad_credentials"},
			{"put without a token", "POST", "/v1/images", secretPNG(t, 2), nil, 401, "unauthorized"},
			{"put with a forged token", "POST", "/v1/images", secretPNG(t, 2), map[string]string{"Authorization": "Bearer AAAA"}, 401, "bad_token"},
			{"put of a non-image", "POST", "/v1/images", []byte("text"), alice.auth(), 422, "unsupported_image"},
			{"put for another owner", "POST", "/v1/images?owner=bob", secretPNG(t, 2), alice.auth(), 400, "bad_request"},
			{"view of a PNG with no payload", "POST", "/v1/view", secretPNG(t, 3), alice.auth(), 422, "no_payload"},
			{"view of a tampered PNG", "POST", "/v1/view", tampered, alice.auth(), 422, ""},
			{"view of nothing", "POST", "/v1/view", nil, alice.auth(), 400, "bad_request"},
			{"share of an unknown image", "PATCH", "/v1/images/" + "00112233445566778899aabbccddeeff", jsonBody(t, shareRequest{Set: map[string]int{"bob": 1}}), alice.auth(), 404, "unknown_image"},
			{"share with a bad id", "PATCH", "/v1/images/xyz", jsonBody(t, shareRequest{}), alice.auth(), 400, "bad_request"},
		}
		before := c.Nodes[0].repl.commitIndex()
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := call(t, tc.method, base+tc.path, tc.body, tc.header)
				if r.status != tc.status {
					t.Fatalf("status %d, want %d (%s)", r.status, tc.status, r.body)
				}
				if got := errorCode(t, r); tc.code != "" && got != tc.code {
					t.Fatalf("code %q, want %q", got, tc.code)
				}
			})
		}
		var images int
		for _, node := range c.Nodes {
			node.repl.readLocal(func(s *registry.State) { _, images, _ = s.Counts() })
			if images != 1 {
				t.Errorf("%s holds %d images after bad input, want 1", node.Name(), images)
			}
		}
		// Refused commands may take log slots, but none took effect.
		_ = before
	})
}

// Fifty concurrent views of one image through every node: exactly the
// quota succeeds, never more, never fewer.
// sharedImage waits for c's coordinator, registers alice and bob, and has
// alice put an image bob may view quota times.
func sharedImage(t *testing.T, c *TestCluster, quota int) (alice, bob user, img reply) {
	t.Helper()
	c.WaitCoordinator(20 * time.Second)
	alice, bob = register(t, c.Nodes[0], "alice"), register(t, c.Nodes[1], "bob")
	img = put(t, c.Nodes[2], alice, secretPNG(t, 9), fmt.Sprintf("bob=%d", quota))
	if img.status != 200 {
		t.Fatalf("put: %d %s", img.status, img.body)
	}
	return alice, bob, img
}

func TestConcurrentViewersSpendExactlyTheQuota(t *testing.T) {
	ForEachMode(t, func(t *testing.T, mode Mode) {
		const quota, viewers = 20, 50
		c := NewTestClusterMode(t, mode, 3, nil)
		_, bob, r := sharedImage(t, c, quota)
		var ok, denied, other atomic.Int32
		var wg sync.WaitGroup
		for i := 0; i < viewers; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Each logical view has its own idempotency key and is retried
				// on 503, as a client does; a retry must never spend twice.
				key := fmt.Sprintf("view-%d", i)
				v := view(t, c.Nodes[i%3], bob, r.body, hdrIdempotencyKey, key)
				switch {
				case v.status == 200:
					ok.Add(1)
				case v.status == 403 && errorCode(t, v) == "no_views_left":
					denied.Add(1)
				default:
					other.Add(1)
					t.Errorf("view %d: %d %s", i, v.status, v.body)
				}
			}()
		}
		wg.Wait()
		if ok.Load() != quota || denied.Load() != viewers-quota {
			t.Fatalf("%d views succeeded and %d were denied, want %d and %d", ok.Load(), denied.Load(), quota, viewers-quota)
		}
		if got := viewsLeftEverywhere(t, c, r.header.Get(hdrImageID), "bob"); fmt.Sprint(got) != "[0 0 0]" {
			t.Fatalf("views left on each node: %v", got)
		}
	})
}

func TestRetriesWithOneKeyApplyOnce(t *testing.T) {
	ForEachMode(t, func(t *testing.T, mode Mode) {
		c := NewTestClusterMode(t, mode, 3, nil)
		c.WaitCoordinator(20 * time.Second)
		alice, bob := register(t, c.Nodes[0], "alice"), register(t, c.Nodes[0], "bob")
		secret := secretPNG(t, 4)
		first := put(t, c.Nodes[1], alice, secret, "bob=3", hdrIdempotencyKey, "put-1")
		again := put(t, c.Nodes[2], alice, secret, "bob=3", hdrIdempotencyKey, "put-1")
		if first.status != 200 || again.status != 200 || !bytes.Equal(first.body, again.body) {
			t.Fatalf("a retried put returned other bytes (%d, %d)", first.status, again.status)
		}
		for i := 0; i < 3; i++ {
			if v := view(t, c.Nodes[i], bob, first.body, hdrIdempotencyKey, "view-1"); v.status != 200 || v.header.Get("Veil-Views-Left") != "2" {
				t.Fatalf("view retry %d: %d, views left %q, want 2", i, v.status, v.header.Get("Veil-Views-Left"))
			}
		}
		var owned []ImageReply
		r := call(t, "GET", "http://"+c.Nodes[0].APIAddr()+"/v1/images", nil, alice.auth())
		if json.Unmarshal(r.body, &owned) != nil || len(owned) != 1 || owned[0].Viewers["bob"] != 2 {
			t.Fatalf("after retried put and views: %s", r.body)
		}
	})
}

func TestAWholeClusterRestartKeepsUsersImagesAndCounts(t *testing.T) {
	ForEachMode(t, func(t *testing.T, mode Mode) {
		c := NewTestClusterMode(t, mode, 3, nil)
		c.WaitCoordinator(20 * time.Second)
		alice, bob := register(t, c.Nodes[0], "alice"), register(t, c.Nodes[0], "bob")
		r := put(t, c.Nodes[1], alice, secretPNG(t, 5), "bob=3")
		if r.status != 200 {
			t.Fatalf("put: %d %s", r.status, r.body)
		}
		if v := view(t, c.Nodes[2], bob, r.body); v.status != 200 {
			t.Fatalf("view: %d %s", v.status, v.body)
		}
		// Move the role once, so that the epoch on disk is past the first: the
		// election keeps nothing across restarts, and must not come back below
		// what the registry promised. An epoch is promised on disk once its
		// coordinator serves: a write acknowledged under it (carol's account)
		// makes sure of that. (A coordinator stopped before its first write
		// left no trace, and the next may reuse its number.)
		old := c.WaitCoordinator(20 * time.Second)
		old.Close()
		coord := c.WaitCoordinator(20 * time.Second)
		before := coord.Leadership().Epoch
		register(t, coord, "carol")
		c.RestartAll()
		after := c.WaitCoordinator(30 * time.Second).Leadership().Epoch
		if after.Compare(before) <= 0 {
			t.Fatalf("epoch after the restart %v is not above the one before %v", after, before)
		}
		// Tokens stay valid (same master key); passwords too, of accounts
		// made under either epoch.
		for _, name := range []string{"bob", "carol"} {
			login := callRetry(t, "POST", "http://"+c.Nodes[2].APIAddr()+"/v1/login", jsonBody(t, credentials{name, "correct horse " + name}), nil)
			if login.status != 200 {
				t.Fatalf("%s's login after restart: %d %s", name, login.status, login.body)
			}
		}
		if v := view(t, c.Nodes[1], bob, r.body); v.status != 200 || v.header.Get("Veil-Views-Left") != "1" {
			t.Fatalf("view after restart: %d, views left %q, want 1", v.status, v.header.Get("Veil-Views-Left"))
		}
		if mode == ModeRaft {
			// Every server came back on a new port and is still listed at
			// its old one: the transport found it through gossip.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			servers, _, err := c.Nodes[0].raft.Servers(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range servers {
				if s.Address == c.Nodes[0].raftAddrOf(s.ID) {
					t.Fatalf("%s is listed at its new address %s: want the configuration left as it was (or nothing restarted on a new port)", s.ID, s.Address)
				}
			}
		}
	})
}

// A coordinator cut off from the others acknowledges nothing; the majority
// elects another and goes on; after the cut heals there is one history.
func TestAnIsolatedCoordinatorAcknowledgesNothing(t *testing.T) {
	ForEachMode(t, func(t *testing.T, mode Mode) {
		c := NewTestClusterMode(t, mode, 3, func(i int, cfg *Config) { cfg.RequestTimeout = 3 * time.Second })
		old := c.WaitCoordinator(20 * time.Second)
		alice, bob := register(t, old, "alice"), register(t, old, "bob")
		r := put(t, old, alice, secretPNG(t, 6), "bob=5")
		if r.status != 200 {
			t.Fatalf("put: %d %s", r.status, r.body)
		}
		id := r.header.Get(hdrImageID)
		var oldIdx int
		var rest []*Node
		for i, n := range c.Nodes {
			if n == old {
				oldIdx = i
			} else {
				rest = append(rest, n)
			}
		}
		c.Isolate(oldIdx, true)
		// The old coordinator still believes it leads for a while; a view sent
		// to it must not be acknowledged.
		v := call(t, "POST", "http://"+old.APIAddr()+"/v1/view", r.body, bob.auth(hdrIdempotencyKey, "cut-off"))
		if v.status == 200 {
			t.Fatalf("the isolated coordinator acknowledged a view")
		}
		// It says why instead of holding the client until the deadline:
		// a Bully coordinator that has not heard from a majority within
		// its lease; a Raft leader that stepped down.
		if v.status != http.StatusServiceUnavailable || (mode == ModeBully && !strings.Contains(string(v.body), "no majority has answered")) {
			t.Fatalf("the isolated coordinator answered %d %s", v.status, v.body)
		}
		c.WaitFor(20*time.Second, "the majority to elect a new coordinator", func() bool {
			coord, ok := Agreed(rest)
			return ok && coord != old
		})
		var served int
		for i := 0; i < 2; i++ {
			if v := view(t, rest[i], bob, r.body); v.status == 200 {
				served++
			}
		}
		if served != 2 {
			t.Fatalf("the majority served %d of 2 views", served)
		}
		c.Isolate(oldIdx, false)
		c.WaitCoordinator(30 * time.Second)
		// One history: the cut-off view was never applied, the two were.
		if got := viewsLeftEverywhere(t, c, id, "bob"); fmt.Sprint(got) != "[3 3 3]" {
			t.Fatalf("views left on each node after healing: %v, want 3 everywhere", got)
		}
	})
}

// A node that goes silent cuts the requests it is in the middle of, not
// only new ones: a client waiting on it learns at once that it must go
// elsewhere, instead of waiting for the node to come back.
func TestASilencedNodeCutsTheRequestsInFlight(t *testing.T) {
	c := NewTestCluster(t, 3, nil)
	coord := c.WaitCoordinator(20 * time.Second)
	alice := register(t, coord, "alice")
	victim := c.NotCoordinator(coord)
	conn, err := net.Dial("tcp", victim.APIAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A put whose body has not all arrived: its handler waits for the rest.
	fmt.Fprintf(conn, "POST /v1/images?viewers=bob HTTP/1.1\r\nHost: veil\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: image/png\r\nContent-Length: 100000\r\n\r\n%s", alice.token, secretPNG(t, 1)[:64])
	r := call(t, "POST", "http://"+victim.APIAddr()+"/v1/admin/fail?for=2s", nil,
		map[string]string{"Authorization": "Bearer " + AdminToken(c.Key)})
	if r.status != http.StatusAccepted {
		t.Fatalf("admin fail: %d %s", r.status, r.body)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := conn.Read(make([]byte, 1024))
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		t.Fatal("the request in flight was still open 10 s after its node went silent")
	case err == nil:
		t.Fatalf("the silent node answered a request in flight (%d bytes)", n)
	}
}
