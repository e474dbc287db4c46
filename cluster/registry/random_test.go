package registry

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// randomCommand draws a command from a small world (four users, three
// images, six keys) so that collisions, replays and reused keys are common,
// and about one command in ten breaks a rule.
func randomCommand(r *rand.Rand, index uint64) Command {
	users := []string{"ann", "bob", "cy", "dee"}
	user := func() string { return users[r.IntN(len(users))] }
	img := func() string { return id(r.IntN(3)) }
	key := func() string {
		if r.IntN(3) == 0 {
			return ""
		}
		return fmt.Sprintf("k%d", r.IntN(6))
	}
	viewers := func(min int) map[string]int {
		m := map[string]int{}
		for range r.IntN(3) {
			m[user()] = min + r.IntN(3)
		}
		return m
	}
	switch r.IntN(10) {
	case 0:
		return RegisterUser{Name: user(), PasswordHash: testHash, IdemKey: key()}
	case 1, 2:
		return PutImage{ID: img(), Owner: user(), Viewers: viewers(1), Created: t0.Add(time.Duration(index) * time.Second), IdemKey: key()}
	case 3, 4, 5, 6:
		return View{ID: img(), Viewer: user(), IdemKey: key()}
	case 7, 8:
		return Share{ID: img(), Caller: user(), Set: viewers(0), Remove: []string{user()}, IdemKey: key()}
	default:
		return ExpireKeys{Before: index - uint64(r.IntN(int(min(index, 20))))}
	}
}

// TestRandomCommandsKeepTheRules applies seeded random commands and checks,
// after each: a refused or replayed command changed nothing but
// LastApplied; views left are never negative and a granted view spent
// exactly one; versions never go down; the snapshot restores to the same
// bytes; and a second state fed the same commands is byte-identical.
func TestRandomCommandsKeepTheRules(t *testing.T) {
	for seed := range uint64(5) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 0))
			s, twin := NewState(), NewState()
			for index := uint64(1); index <= 250; index++ {
				cmd := randomCommand(r, index)
				before := s.Clone()
				out := s.Apply(index, cmd)
				if !sameOutcome(twin.Apply(index, cmd), out) {
					t.Fatalf("seed %d index %d: two states gave different outcomes for %#v", seed, index, cmd)
				}
				before.lastApplied = index
				if (out.Err != nil || out.Replayed) && !bytes.Equal(before.Snapshot(), s.Snapshot()) {
					t.Fatalf("seed %d index %d: %#v (%+v) changed the state", seed, index, cmd, out)
				}
				if v, ok := cmd.(View); ok && out.Err == nil && !out.Replayed && !out.ByOwner {
					was, _ := before.Image(v.ID)
					now, _ := s.Image(v.ID)
					if now.Viewers[v.Viewer] != was.Viewers[v.Viewer]-1 || out.ViewsLeft != now.Viewers[v.Viewer] {
						t.Fatalf("seed %d index %d: view took %d to %d", seed, index, was.Viewers[v.Viewer], now.Viewers[v.Viewer])
					}
				}
				was := images(before)
				for imgID, img := range images(s) {
					if was, ok := was[imgID]; ok && img.Version < was.Version {
						t.Fatalf("seed %d index %d: version of %s went down", seed, index, imgID)
					}
					for name, n := range img.Viewers {
						if n < 0 {
							t.Fatalf("seed %d index %d: %s has %d views of %s", seed, index, name, n, imgID)
						}
					}
				}
				snap := s.Snapshot()
				if restored, err := decodeSnapshot(snap); err != nil || !bytes.Equal(restored.Snapshot(), snap) {
					t.Fatalf("seed %d index %d: snapshot does not restore: %v", seed, index, err)
				}
			}
			if !bytes.Equal(s.Snapshot(), twin.Snapshot()) {
				t.Fatalf("seed %d: two states fed the same commands differ", seed)
			}
		})
	}
}

// sameOutcome compares outcomes, errors by message.
func sameOutcome(a, b Outcome) bool {
	if (a.Err == nil) != (b.Err == nil) || a.Err != nil && a.Err.Error() != b.Err.Error() {
		return false
	}
	a.Err, b.Err = nil, nil
	return a == b
}
