package cluster

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"veil/cluster/registry"
	"veil/stego"
)

// sameAnswer fails unless two replies are the same to a client: status,
// code and message, byte for byte.
func sameAnswer(t *testing.T, what string, got, want reply) {
	t.Helper()
	if got.status != want.status || !bytes.Equal(got.body, want.body) {
		t.Errorf("%s: %d %s\nwant the answer for an image that does not exist: %d %s", what, got.status, got.body, want.status, want.body)
	}
}

func wantRefusal(t *testing.T, what string, r reply, status int, code string) {
	t.Helper()
	if r.status != status || errorCode(t, r) != code {
		t.Errorf("%s: %d %s, want %d %s", what, r.status, r.body, status, code)
	}
}

func lease(t testing.TB, n *Node, u user, d device, veiled []byte) reply {
	t.Helper()
	return call(t, "POST", "http://"+n.APIAddr()+"/v1/leases?views=1", veiled, u.auth("Veil-Device", d.statement))
}

// TestACallerWhoMayNotSeeAnImageIsToldItDoesNotExist: a non-viewer gets,
// on every route that names an image, the very answer given for an image
// the registry does not hold; a viewer or the owner is told why.
func TestACallerWhoMayNotSeeAnImageIsToldItDoesNotExist(t *testing.T) {
	c := NewTestCluster(t, 3, nil)
	coord := c.WaitCoordinator(20 * time.Second)
	alice, bob, carol := register(t, coord, "alice"), register(t, coord, "bob"), register(t, coord, "carol")
	register(t, coord, "dave")
	knows(c, "dave")
	p := put(t, coord, alice, secretPNG(t, 61), "bob=1")
	if p.status != http.StatusOK {
		t.Fatalf("put: %d %s", p.status, p.body)
	}
	id := p.header.Get(hdrImageID)
	// A veiled image the cloud's key opens but the registry never held:
	// an image that does not exist, as far as anyone can tell.
	key, err := stego.ParseKey(c.Key)
	if err != nil {
		t.Fatal(err)
	}
	ghost, ghostMeta, err := stego.Hide(secretPNG(t, 62), stego.Meta{Owner: "alice", Viewers: map[string]int{"carol": 1}}, nil, key, stego.Options{})
	if err != nil {
		t.Fatal(err)
	}
	devices := map[string]device{}
	for i, u := range []user{alice, bob, carol} {
		devices[u.name] = newDevice(t, coord, u, byte(70+i))
	}

	for _, n := range []*Node{coord, c.NotCoordinator(coord)} {
		t.Run("at "+n.Name(), func(t *testing.T) {
			missing := view(t, n, carol, ghost)
			wantRefusal(t, "a view of an image that does not exist", missing, http.StatusNotFound, "unknown_image")
			sameAnswer(t, "a view by a non-viewer", view(t, n, carol, p.body), missing)

			sameAnswer(t, "a lease by a non-viewer", lease(t, n, carol, devices["carol"], p.body), missing)
			sameAnswer(t, "a lease of an image that does not exist", lease(t, n, carol, devices["carol"], ghost), missing)
			wantRefusal(t, "a lease by the owner", lease(t, n, alice, devices["alice"], p.body), http.StatusForbidden, "not_allowed")

			patch := func(u user, id string) reply {
				return call(t, "PATCH", "http://"+n.APIAddr()+"/v1/images/"+id, []byte(`{"set":{"dave":5}}`), u.auth())
			}
			sameAnswer(t, "a share by a non-viewer", patch(carol, id), patch(carol, ghostMeta.ID.String()))
			sameAnswer(t, "a share of an image that does not exist, by anyone", patch(alice, ghostMeta.ID.String()), patch(carol, ghostMeta.ID.String()))
			wantRefusal(t, "a share by a non-viewer", patch(carol, id), http.StatusNotFound, "unknown_image")
			wantRefusal(t, "a share by a viewer", patch(bob, id), http.StatusForbidden, "not_owner")
		})
	}
	// A viewer who may see the image is told when its views are spent.
	if v := view(t, coord, bob, p.body); v.status != http.StatusOK {
		t.Fatalf("bob's one view: %d %s", v.status, v.body)
	}
	wantRefusal(t, "a view by a viewer with no views left", view(t, coord, bob, p.body), http.StatusForbidden, "no_views_left")
	wantRefusal(t, "a lease by a viewer with no views left", lease(t, coord, bob, devices["bob"], p.body), http.StatusForbidden, "no_views_left")
	if v := view(t, c.NotCoordinator(coord), alice, p.body); v.status != http.StatusOK {
		t.Fatalf("the owner's view: %d %s", v.status, v.body)
	}
}

func TestAsSeenByHidesOnlyFromThoseWhoMayNotSee(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		maySee bool
		want   error // errUnseen, or the error itself when nil
	}{
		{"an unknown image, to anyone", registry.ErrUnknownImage, false, errUnseen},
		{"a view by a non-viewer", registry.ErrNotAllowed, false, errUnseen},
		{"a share by a non-viewer", registry.ErrNotOwner, false, errUnseen},
		{"a share by a viewer", registry.ErrNotOwner, true, nil},
		{"a lease by the owner", registry.ErrNotAllowed, true, nil},
		{"a viewer with no views left", registry.ErrNoViewsLeft, true, nil},
		{"another refusal", registry.ErrKeyReused, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.want
			if want == nil {
				want = tc.err
			}
			if got := asSeenBy(tc.err, tc.maySee); got != want {
				t.Errorf("asSeenBy(%v, %v) = %v, want %v", tc.err, tc.maySee, got, want)
			}
		})
	}
}
