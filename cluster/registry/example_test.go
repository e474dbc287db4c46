package registry_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"time"

	"veil/cluster/registry"
)

// A view, from the command to its outcome, through the state machine alone.
// In a node the command goes through Store.Propose, the other nodes'
// Store.AppendEntries and Store.Commit; the Outcome is the same.
func ExampleState_Apply() {
	salt := rand.NewChaCha8([32]byte{})
	hash, _ := registry.HashPassword(registry.Argon2Params{Time: 1, MemoryKiB: 8, Threads: 1, SaltLen: 16, KeyLen: 32}, salt, "correct horse")
	created := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	const img = "00112233445566778899aabbccddeeff"

	s := registry.NewState()
	s.Apply(1, registry.RegisterUser{Name: "ann", PasswordHash: hash})
	s.Apply(2, registry.PutImage{ID: img, Owner: "ann", Viewers: map[string]int{"bob": 1}, Created: created})

	for i, viewer := range []string{"bob", "bob", "cy", "ann"} {
		out := s.Apply(uint64(3+i), registry.View{ID: img, Viewer: viewer})
		if out.Err != nil {
			fmt.Printf("%s: denied, %s\n", viewer, registry.Reason(out.Err))
			continue
		}
		fmt.Printf("%s: allowed, %d left, owner %v\n", viewer, out.ViewsLeft, out.ByOwner)
	}
	// Output:
	// bob: allowed, 0 left, owner false
	// bob: denied, no_views_left
	// cy: denied, not_allowed
	// ann: allowed, 0 left, owner true
}

// A login checks the password once and hands out a token; every later
// request is checked with one HMAC.
func ExampleIssueToken() {
	key := bytes.Repeat([]byte{42}, registry.MinTokenKeyLen) // derived from the master key in a node
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

	token := registry.IssueToken(key, "ann", now, time.Hour)
	user, err := registry.VerifyToken(key, token, now.Add(time.Minute))
	fmt.Println(user, err)
	_, err = registry.VerifyToken(key, token, now.Add(2*time.Hour))
	fmt.Println(err)
	// Output:
	// ann <nil>
	// registry: token expired: at 2026-11-22 10:00:00 +0000 UTC
}
