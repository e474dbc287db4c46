package cluster

import (
	"crypto/rand"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"veil/cluster/registry"
)

func fillCall(t *testing.T, n *Node, f FillRequest, token string) reply {
	t.Helper()
	body, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	h := map[string]string{"Content-Type": "application/json"}
	if token != "" {
		h["Authorization"] = "Bearer " + token
	}
	return call(t, "POST", "http://"+n.APIAddr()+"/v1/admin/fill", body, h)
}

func TestFillPutsSyntheticUsersAndImagesThroughTheLogOnEveryNode(t *testing.T) {
	t.Setenv(FillEnv, "1")
	const password = "a synthetic user's password"
	hash, err := registry.HashPassword(registry.DefaultArgon2, rand.Reader, password)
	if err != nil {
		t.Fatal(err)
	}
	ForEachMode(t, func(t *testing.T, mode Mode) {
		c := NewTestClusterMode(t, mode, 3, nil)
		coord := c.WaitCoordinator(30 * time.Second)
		follower := c.NotCoordinator(coord)
		const users, images = 100, 1000
		f := FillRequest{Users: users, UserTo: users, Viewers: 3, Views: 2, PasswordHash: hash, Seed: 7}
		// Users first, then the images that name them; sent to a follower,
		// which passes the call to the coordinator.
		for _, step := range []FillRequest{f, {Users: users, ImageTo: images, Viewers: 3, Views: 2, Seed: 7, CollectGarbage: true}} {
			r := fillCall(t, follower, step, follower.admin)
			if r.status != http.StatusOK {
				t.Fatalf("fill: %d %s", r.status, r.body)
			}
			var rep FillReply
			if err := json.Unmarshal(r.body, &rep); err != nil {
				t.Fatal(err)
			}
			if rep.Node != coord.Name() || rep.Registered != step.UserTo || rep.Put != step.ImageTo || rep.Existing != 0 {
				t.Fatalf("fill %+v answered %+v; want every command new, proposed by %s", step, rep, coord.Name())
			}
			if step.CollectGarbage && rep.HeapBytes == 0 {
				t.Fatalf("a fill asked to collect garbage says no heap: %+v", rep)
			}
		}
		c.WaitFor(30*time.Second, "every node to hold the synthetic registry", func() bool {
			for _, n := range c.Nodes {
				var u, i int
				n.ReadRegistry(func(s *registry.State) { u, i, _ = s.Counts() })
				if u < users || i < images {
					return false
				}
			}
			return true
		})
		coord.ReadRegistry(func(s *registry.State) {
			if got := len(s.ImagesOwnedBy(FillUser(0))); got != images/users {
				t.Errorf("%s owns %d images; want %d", FillUser(0), got, images/users)
			}
			if got := len(s.SharedWith(FillUser(1))); got != 3*images/users {
				t.Errorf("%d images are shared with %s; want %d", got, FillUser(1), 3*images/users)
			}
		})

		// Every synthetic user logs in with the one password.
		if r := login(t, http.DefaultClient, follower, FillUser(42), password, nil); r.status != http.StatusOK {
			t.Fatalf("login as %s: %d %s", FillUser(42), r.status, r.body)
		}

		// The same call again changes nothing and says so.
		r := fillCall(t, coord, FillRequest{Users: users, UserFrom: 90, UserTo: users, ImageFrom: 900, ImageTo: images, Viewers: 3, Views: 2, PasswordHash: hash, Seed: 7}, coord.admin)
		var rep FillReply
		if err := json.Unmarshal(r.body, &rep); err != nil || r.status != http.StatusOK {
			t.Fatalf("fill again: %d %s", r.status, r.body)
		}
		if rep.Registered != 0 || rep.Put != 0 || rep.Existing != 110 {
			t.Fatalf("a fill repeated answered %+v; want 110 existing and nothing new", rep)
		}
	})
}

func TestFillIsRefusedWithoutTheOptInTheAdminTokenOrASoundRequest(t *testing.T) {
	c := NewTestCluster(t, 1, nil)
	n := c.WaitCoordinator(30 * time.Second)
	ok := FillRequest{Users: 10, ImageTo: 10}

	if r := fillCall(t, n, ok, n.admin); r.status != http.StatusNotFound || errorCode(t, r) != "not_found" {
		t.Fatalf("a node started without %s=1 answered %d %s; want 404 not_found", FillEnv, r.status, r.body)
	}
	t.Setenv(FillEnv, "1")
	if r := fillCall(t, n, ok, ""); r.status != http.StatusUnauthorized {
		t.Fatalf("a fill without the admin token answered %d %s; want 401", r.status, r.body)
	}
	if r := fillCall(t, n, ok, "not-the-token"); r.status != http.StatusUnauthorized {
		t.Fatalf("a fill with a wrong token answered %d %s; want 401", r.status, r.body)
	}
	cases := []struct {
		name string
		f    FillRequest
	}{
		{"no users", FillRequest{ImageTo: 1}},
		{"a user range past the users", FillRequest{Users: 10, UserTo: 11, PasswordHash: "x"}},
		{"a range backwards", FillRequest{Users: 10, ImageFrom: 5, ImageTo: 4}},
		{"too many commands in one call", FillRequest{Users: 10, ImageTo: MaxFillCommands + 1}},
		{"more viewers than the offsets", FillRequest{Users: 100, ImageTo: 1, Viewers: MaxFillViewers + 1, Views: 1}},
		{"viewers that would be the owner", FillRequest{Users: 31, ImageTo: 1, Viewers: 3, Views: 1}},
		{"viewers with no views", FillRequest{Users: 100, ImageTo: 1, Viewers: 1}},
		{"users with no password hash", FillRequest{Users: 10, UserTo: 10}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if r := fillCall(t, n, tc.f, n.admin); r.status != http.StatusBadRequest {
				t.Fatalf("%+v answered %d %s; want 400", tc.f, r.status, r.body)
			}
		})
	}
	var u, i int
	n.ReadRegistry(func(s *registry.State) { u, i, _ = s.Counts() })
	if u != 0 || i != 0 {
		t.Fatalf("refused fills left %d users and %d images", u, i)
	}
}

func TestFillImagesAreDistinctAndValid(t *testing.T) {
	f := FillRequest{Users: 1000, Viewers: 3, Views: 3, Seed: 1}
	seen := map[string]bool{}
	for i := range 5000 {
		img := f.image(i, time.Unix(1_700_000_000, 0))
		if err := registry.ValidateNew(img); err != nil {
			t.Fatalf("image %d: %v", i, err)
		}
		if seen[img.ID] {
			t.Fatalf("image %d repeats the id %s", i, img.ID)
		}
		seen[img.ID] = true
		if img.Owner != FillUser(i%1000) || len(img.Viewers) != 3 {
			t.Fatalf("image %d: owner %s, %d viewers", i, img.Owner, len(img.Viewers))
		}
	}
	if a, b := f.image(3, time.Time{}).ID, (FillRequest{Users: 1000, Seed: 2}).image(3, time.Time{}).ID; a == b {
		t.Fatalf("two seeds give image 3 the same id %s", a)
	}
	if got := FillUser(7); got != "user0000007" {
		t.Fatalf("FillUser(7) = %q", got)
	}
}
