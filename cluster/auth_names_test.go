package cluster

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"testing"
	"time"

	"veil/cluster/registry"
)

// registerAs registers name with password and returns the reply.
func registerAs(t testing.TB, n *Node, name, password string) reply {
	t.Helper()
	return callRetry(t, "POST", "http://"+n.APIAddr()+"/v1/users", jsonBody(t, credentials{name, password}), nil)
}

// ownImages is GET /v1/images for u.
func ownImages(t testing.TB, n *Node, u user) []ImageReply {
	t.Helper()
	r := callRetry(t, "GET", "http://"+n.APIAddr()+"/v1/images", nil, u.auth())
	if r.status != http.StatusOK {
		t.Fatalf("GET /v1/images: %d %s", r.status, r.body)
	}
	var out []ImageReply
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAUserHasOneNameWhateverItsCaseOrWidth(t *testing.T) {
	c := NewTestCluster(t, 3, nil)
	coord := c.WaitCoordinator(20 * time.Second)
	entry := c.NotCoordinator(coord)

	r := registerAs(t, entry, "Alice", "correct horse alice")
	if r.status != http.StatusCreated || string(r.body) != "{\n  \"name\": \"alice\"\n}\n" {
		t.Fatalf("register Alice: %d %s, want 201 naming alice", r.status, r.body)
	}
	for _, other := range []string{"alice", "ALICE", "ａｌｉｃｅ", "ＡＬＩＣＥ"} {
		if r := registerAs(t, entry, other, "another password"); r.status != http.StatusConflict || errorCode(t, r) != "user_exists" {
			t.Errorf("register %q after Alice: %d %s, want 409 user_exists", other, r.status, r.body)
		}
	}
	for _, typed := range []string{"alice", "ALICE", "ａｌｉｃｅ"} {
		r := login(t, http.DefaultClient, entry, typed, "correct horse alice", nil)
		if r.status != http.StatusOK {
			t.Fatalf("login as %q: %d %s", typed, r.status, r.body)
		}
		var lr LoginReply
		if err := json.Unmarshal(r.body, &lr); err != nil {
			t.Fatal(err)
		}
		if got, err := registry.VerifyToken(entry.userKey, lr.Token, time.Now()); err != nil || got != "alice" {
			t.Errorf("login as %q: a token for %q (%v), want alice", typed, got, err)
		}
	}

	alice := user{"alice", ""}
	alice.token = func() string {
		var lr LoginReply
		_ = json.Unmarshal(login(t, http.DefaultClient, entry, "Alice", "correct horse alice", nil).body, &lr)
		return lr.Token
	}()
	bob, carol := register(t, coord, "bob"), register(t, coord, "carol")
	knows(c, "carol")

	// A put's viewers and its owner field, and a share's names, are the
	// users they name.
	p := callRetry(t, "POST", hideURL(entry, "owner=ALICE&viewers=BOB=2"), secretPNG(t, 31), alice.auth("Content-Type", "image/png"))
	if p.status != http.StatusOK {
		t.Fatalf("put for BOB by owner=ALICE: %d %s", p.status, p.body)
	}
	id := p.header.Get(hdrImageID)
	if v := view(t, entry, bob, p.body); v.status != http.StatusOK {
		t.Fatalf("bob views the image put for BOB: %d %s", v.status, v.body)
	}
	s := callRetry(t, "PATCH", "http://"+entry.APIAddr()+"/v1/images/"+id, []byte(`{"set":{"ＣＡＲＯＬ":1},"remove":["Bob"]}`), alice.auth())
	if s.status != http.StatusOK {
		t.Fatalf("share with ＣＡＲＯＬ, removing Bob: %d %s", s.status, s.body)
	}
	imgs := ownImages(t, entry, alice)
	if len(imgs) != 1 || !maps.Equal(imgs[0].Viewers, map[string]int{"carol": 1}) {
		t.Fatalf("alice's images: %+v, want one, viewed by carol alone", imgs)
	}
	if v := view(t, entry, carol, p.body); v.status != http.StatusOK {
		t.Fatalf("carol views the image shared with ＣＡＲＯＬ: %d %s", v.status, v.body)
	}

	for _, tc := range []struct {
		name, method, path string
		body               []byte
	}{
		{"a put naming one viewer twice", "POST", "/v1/images?viewers=bob,BOB", secretPNG(t, 32)},
		{"a share naming one viewer twice", "PATCH", "/v1/images/" + id, []byte(`{"set":{"bob":1,"BOB":2}}`)},
		{"a share setting and removing one viewer", "PATCH", "/v1/images/" + id, []byte(`{"set":{"bob":1},"remove":["Bob"]}`)},
	} {
		if r := call(t, tc.method, "http://"+entry.APIAddr()+tc.path, tc.body, alice.auth()); r.status != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", tc.name, r.status, r.body)
		}
	}
}

func TestASharedImageNamesOnlyRegisteredUsers(t *testing.T) {
	ForEachMode(t, func(t *testing.T, mode Mode) {
		c := NewTestClusterMode(t, mode, 3, nil)
		coord := c.WaitCoordinator(20 * time.Second)
		entry := c.NotCoordinator(coord)
		alice, bob := register(t, coord, "alice"), register(t, coord, "bob")
		knows(c, "bob")

		for _, n := range []*Node{entry, coord} {
			r := call(t, "POST", hideURL(n, "viewers=bob,nobody"), secretPNG(t, 41), alice.auth("Content-Type", "image/png"))
			if r.status != http.StatusNotFound || errorCode(t, r) != "unknown_user" {
				t.Fatalf("a put for an unregistered viewer, through %s: %d %s, want 404 unknown_user", n.Name(), r.status, r.body)
			}
		}
		if imgs := ownImages(t, entry, alice); len(imgs) != 0 {
			t.Fatalf("a refused put registered %+v", imgs)
		}
		p := put(t, entry, alice, secretPNG(t, 42), "bob")
		if p.status != http.StatusOK {
			t.Fatalf("put for bob: %d %s", p.status, p.body)
		}
		id := p.header.Get(hdrImageID)
		r := call(t, "PATCH", "http://"+entry.APIAddr()+"/v1/images/"+id, []byte(`{"set":{"nobody":1}}`), alice.auth())
		if r.status != http.StatusNotFound || errorCode(t, r) != "unknown_user" {
			t.Fatalf("a share with an unregistered name: %d %s, want 404 unknown_user", r.status, r.body)
		}
		if imgs := ownImages(t, entry, alice); len(imgs) != 1 || !maps.Equal(imgs[0].Viewers, map[string]int{"bob": 1}) || imgs[0].Version != 1 {
			t.Fatalf("after a refused share: %+v, want the image as put", imgs)
		}
		// Removing a name needs no registration: it is no change.
		if r := call(t, "PATCH", "http://"+entry.APIAddr()+"/v1/images/"+id, []byte(`{"remove":["nobody"]}`), alice.auth()); r.status != http.StatusOK {
			t.Fatalf("removing a name that is not listed: %d %s", r.status, r.body)
		}
		if v := view(t, entry, bob, p.body); v.status != http.StatusOK {
			t.Fatalf("bob views: %d %s", v.status, v.body)
		}
	})
}

// TestNamesRegisteredBeforeNamesWereCanonicalStillWork: a log of the
// version that compared names byte for byte may hold "Bob"; it loads after
// a restart, and Bob logs in under that spelling and is known by it.
func TestNamesRegisteredBeforeNamesWereCanonicalStillWork(t *testing.T) {
	c := NewTestCluster(t, 3, nil)
	coord := c.WaitCoordinator(20 * time.Second)
	hash, err := registry.HashPassword(registry.DefaultArgon2, bytesReader(7), "correct horse Bob")
	if err != nil {
		t.Fatal(err)
	}
	// Proposed as the old version did, without today's checks.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := coord.repl.submit(ctx, registry.RegisterUser{Name: "Bob", PasswordHash: hash}); err != nil || out.Err != nil {
		t.Fatalf("registering Bob as the old version did: %v, %v", err, out.Err)
	}
	c.RestartAll()
	coord = c.WaitCoordinator(30 * time.Second)
	knows(c, "Bob")
	entry := c.NotCoordinator(coord)

	r := login(t, http.DefaultClient, entry, "Bob", "correct horse Bob", nil)
	if r.status != http.StatusOK {
		t.Fatalf("Bob logs in after the restart: %d %s", r.status, r.body)
	}
	var lr LoginReply
	if err := json.Unmarshal(r.body, &lr); err != nil {
		t.Fatal(err)
	}
	if got, err := registry.VerifyToken(entry.userKey, lr.Token, time.Now()); err != nil || got != "Bob" {
		t.Fatalf("Bob's token names %q (%v), want Bob as registered", got, err)
	}
	if r := registerAs(t, entry, "Bob", "another password"); r.status != http.StatusConflict {
		t.Errorf("registering Bob again: %d %s, want 409", r.status, r.body)
	}
	bob := user{"Bob", lr.Token}
	if p := put(t, entry, bob, secretPNG(t, 51), ""); p.status != http.StatusOK {
		t.Fatalf("Bob puts an image: %d %s", p.status, p.body)
	}
	if imgs := ownImages(t, entry, bob); len(imgs) != 1 || imgs[0].Owner != "Bob" {
		t.Fatalf("Bob's images: %+v", imgs)
	}
}

// bytesReader is an endless reader of b, for a salt in a test.
type bytesReader byte

func (b bytesReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}
