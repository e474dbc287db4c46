package cluster

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"veil/cluster/registry"
)

func TestImageWorkStaysWhereTheBytesArriveAndOnlyTheCommandReachesTheCoordinator(t *testing.T) {
	ForEachMode(t, func(t *testing.T, mode Mode) {
		c := NewTestClusterMode(t, mode, 3, nil)
		coord := c.WaitCoordinator(20 * time.Second)
		entry := c.NotCoordinator(coord)
		alice, bob, eve := register(t, coord, "alice"), register(t, coord, "bob"), register(t, coord, "eve")
		coordJobs, entryJobs := coord.pool.done.Load(), entry.pool.done.Load()

		r := put(t, entry, alice, secretPNG(t, 7), "bob=1")
		if r.status != http.StatusOK || r.header.Get(hdrWorker) != entry.Name() {
			t.Fatalf("put through %s: %d, worker %q: %s", entry.Name(), r.status, r.header.Get(hdrWorker), r.body)
		}
		v := view(t, entry, bob, r.body)
		if v.status != http.StatusOK || !bytes.Equal(v.body, secretPNG(t, 7)) || v.header.Get("Veil-Views-Left") != "0" {
			t.Fatalf("bob's view through %s: %d, views left %q", entry.Name(), v.status, v.header.Get("Veil-Views-Left"))
		}
		for _, tc := range []struct {
			who    user
			status int
			code   string
		}{{bob, http.StatusForbidden, "no_views_left"}, {eve, http.StatusNotFound, "unknown_image"}} {
			d := view(t, entry, tc.who, r.body)
			if d.status != tc.status || replyCode(d.body) != tc.code || bytes.Contains(d.body, secretPNG(t, 7)[:64]) {
				t.Fatalf("%s's view: %d %s, want %d %s without the image", tc.who.name, d.status, d.body, tc.status, tc.code)
			}
		}
		if got := coord.pool.done.Load() - coordJobs; got != 0 {
			t.Fatalf("the coordinator ran %d image jobs for work that arrived at %s", got, entry.Name())
		}
		if got := entry.pool.done.Load() - entryJobs; got != 4 {
			t.Fatalf("%s ran %d image jobs, want 4 (a hide, three reveals)", entry.Name(), got)
		}
		var img registry.Image
		coord.ReadRegistry(func(s *registry.State) { img, _ = s.Image(r.header.Get(hdrImageID)) })
		if img.Viewers["bob"] != 0 || len(img.Digest) != registry.DigestLen {
			t.Fatalf("registry after the view: %+v", img)
		}
	})
}

func TestTheCommitRouteTakesOnlyPutsAndViewsFromNodes(t *testing.T) {
	c := NewTestCluster(t, 1, nil)
	n := c.WaitCoordinator(20 * time.Second)
	alice := register(t, n, "alice")
	share, err := registry.Encode(registry.Share{ID: "00000000000000000000000000000001", Caller: "alice", Set: map[string]int{"bob": 1}})
	if err != nil {
		t.Fatal(err)
	}
	view, _ := registry.Encode(registry.View{ID: "00000000000000000000000000000001", Viewer: "alice"})
	url := "http://" + n.APIAddr() + "/v1/internal/commit"
	for _, tc := range []struct {
		name   string
		body   []byte
		auth   map[string]string
		status int
	}{
		{"a user's token is not a node's", view, alice.auth(), http.StatusUnauthorized},
		{"a share is not committed through it", share, map[string]string{"Authorization": "Bearer " + n.peerTok}, http.StatusBadRequest},
		{"bytes that are no command", []byte("not a command"), map[string]string{"Authorization": "Bearer " + n.peerTok}, http.StatusBadRequest},
		{"a view of an unknown image is refused by the registry", view, map[string]string{"Authorization": "Bearer " + n.peerTok}, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := call(t, "POST", url, tc.body, tc.auth); r.status != tc.status {
				t.Fatalf("%d %s, want %d", r.status, r.body, tc.status)
			}
		})
	}
}
