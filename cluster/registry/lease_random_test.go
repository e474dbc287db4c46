package registry

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// held names one viewer's views of one image.
type held struct{ image, viewer string }

// books keeps what the registry does not record, for each image and
// viewer: views granted (given by the owner and not taken back), spent
// online, and forfeited by revoked leases that came back. It learns them
// from the commands that took effect and the state before each, and
// checkBooks balances them against the state.
type books struct {
	granted, online, forfeited map[held]int
}

func newBooks() *books {
	return &books{granted: map[held]int{}, online: map[held]int{}, forfeited: map[held]int{}}
}

// record enters cmd, applied to before with outcome out.
func (k *books) record(before *State, cmd Command, out Outcome) {
	if out.Err != nil || out.Replayed {
		return
	}
	switch c := cmd.(type) {
	case PutImage:
		for v, n := range c.Viewers {
			k.granted[held{c.ID, v}] += n
		}
	case View:
		if !out.ByOwner {
			k.online[held{c.ID, c.Viewer}]++
		}
	case Share:
		img := images(before)[c.ID]
		for v, n := range c.Set {
			// The owner sets the viewer's whole allowance: views left online
			// and views in unrevoked leases, if n covers them; else the
			// leases are revoked (their views stay out, to be spent or
			// forfeited) and n is what is left online.
			left := img.Viewers[v]
			_, leased, _ := leaseViews(before, c.ID, v)
			if n >= leased {
				k.granted[held{c.ID, v}] += n - left - leased
			} else {
				k.granted[held{c.ID, v}] += n - left
			}
		}
		for _, v := range c.Remove {
			k.granted[held{c.ID, v}] -= img.Viewers[v]
		}
	case ReturnLease:
		l := leases(before)[c.ID]
		_, listed := images(before)[l.Image].Viewers[l.Viewer]
		if l.Revoked || !listed {
			k.forfeited[held{l.Image, l.Viewer}] += l.Views - c.Spent
		}
	}
}

// leaseViews returns the number of unrevoked leases viewer holds on image,
// their views, and the views of its revoked leases.
func leaseViews(s *State, image, viewer string) (count, live, revoked int) {
	for _, l := range s.LeasesOf(image) {
		switch {
		case l.Viewer != viewer:
		case l.Revoked:
			revoked += l.Views
		default:
			count++
			live += l.Views
		}
	}
	return count, live, revoked
}

// checkBooks checks, for every image and viewer, that
//
//	granted = left online + in unrevoked leases + spent online
//	        + spent offline + forfeited (revoked leases, returned or not)
//
// and that nothing is negative, every unrevoked lease is of a listed viewer,
// and no viewer holds more than MaxLeasesPerViewer unrevoked leases on an
// image.
func checkBooks(s *State, k *books) error {
	all := map[held]bool{}
	for h := range k.granted {
		all[h] = true
	}
	imgs := images(s)
	for _, img := range imgs {
		for v := range img.Viewers {
			all[held{img.ID, v}] = true
		}
		for v := range img.Offline {
			all[held{img.ID, v}] = true
		}
	}
	for _, l := range leases(s) {
		all[held{l.Image, l.Viewer}] = true
		if _, listed := imgs[l.Image].Viewers[l.Viewer]; !l.Revoked && !listed {
			return fmt.Errorf("lease %s is unrevoked, and %s is not a viewer of %s", l.ID, l.Viewer, l.Image)
		}
	}
	for _, h := range slices.SortedFunc(maps.Keys(all), func(a, b held) int {
		return cmp.Or(cmp.Compare(a.image, b.image), cmp.Compare(a.viewer, b.viewer))
	}) {
		img := imgs[h.image]
		left, offline := img.Viewers[h.viewer], img.Offline[h.viewer]
		count, live, revoked := leaseViews(s, h.image, h.viewer)
		sum := left + live + k.online[h] + offline + k.forfeited[h] + revoked
		switch {
		case left < 0 || offline < 0 || k.forfeited[h] < 0 || k.granted[h] < 0:
			return fmt.Errorf("%s on %s: a negative count: left %d, offline %d, forfeited %d, granted %d", h.viewer, h.image, left, offline, k.forfeited[h], k.granted[h])
		case sum != k.granted[h]:
			return fmt.Errorf("%s on %s: granted %d, but left %d + leased %d + spent online %d + spent offline %d + forfeited %d + out on revoked leases %d = %d",
				h.viewer, h.image, k.granted[h], left, live, k.online[h], offline, k.forfeited[h], revoked, sum)
		case count > MaxLeasesPerViewer:
			return fmt.Errorf("%s holds %d leases on %s", h.viewer, count, h.image)
		}
	}
	return nil
}

// randomLeaseCommand draws a command from a small world (four users, three
// images, two devices, eight lease ids, six keys) in which leases are taken,
// returned and revoked often, and some commands break a rule.
func randomLeaseCommand(r *rand.Rand, s *State, index uint64) Command {
	users := []string{"ann", "bob", "cy", "dee"}
	user := func() string { return users[r.IntN(len(users))] }
	img := func() string { return id(1 + r.IntN(3)) }
	key := func() string {
		if r.IntN(3) == 0 {
			return ""
		}
		return fmt.Sprintf("k%d", r.IntN(6))
	}
	owner := func(image string) string {
		if i, ok := s.Image(image); ok && r.IntN(5) > 0 {
			return i.Owner
		}
		return user()
	}
	at := t0.Add(time.Duration(index) * time.Second)
	takeLease := func() Command {
		return TakeLease{ID: id(200 + r.IntN(8)), Image: img(), Viewer: user(), Device: id(100 + r.IntN(2)),
			Views: 1 + r.IntN(4), Issued: at, Expires: at.Add(time.Hour), IdemKey: key()}
	}
	switch r.IntN(12) {
	case 0, 1:
		o := user()
		viewers := map[string]int{}
		for range r.IntN(4) {
			if v := user(); v != o || r.IntN(10) == 0 {
				viewers[v] = 1 + r.IntN(5)
			}
		}
		return PutImage{ID: img(), Owner: o, Viewers: viewers, Created: at, IdemKey: key()}
	case 2, 3:
		return View{ID: img(), Viewer: user(), IdemKey: key()}
	case 4, 5:
		image := img()
		c := Share{ID: image, Caller: owner(image), Set: map[string]int{}, IdemKey: key()}
		for range r.IntN(3) {
			c.Set[user()] = r.IntN(8)
		}
		if r.IntN(3) == 0 {
			if v := user(); !slices.Contains(slices.Collect(maps.Keys(c.Set)), v) {
				c.Remove = []string{v}
			}
		}
		return c
	case 6:
		// A revocation, if a lease is out: set its viewer below what it
		// holds, or remove it.
		all := leases(s)
		ls := slices.Sorted(maps.Keys(all))
		if len(ls) == 0 {
			return takeLease()
		}
		l := all[ls[r.IntN(len(ls))]]
		img, _ := s.Image(l.Image)
		c := Share{ID: l.Image, Caller: img.Owner}
		if r.IntN(2) == 0 {
			c.Remove = []string{l.Viewer}
		} else {
			c.Set = map[string]int{l.Viewer: r.IntN(l.Views)}
		}
		return c
	case 7, 8:
		return takeLease()
	default:
		all := leases(s)
		ls := slices.Sorted(maps.Keys(all))
		if len(ls) == 0 || r.IntN(10) == 0 {
			return ReturnLease{ID: id(200 + r.IntN(8)), Viewer: user(), Spent: r.IntN(3), IdemKey: key()}
		}
		l := all[ls[r.IntN(len(ls))]]
		c := ReturnLease{ID: l.ID, Viewer: l.Viewer, Spent: r.IntN(l.Views + 1), IdemKey: key()}
		switch r.IntN(10) {
		case 0:
			c.Viewer = user()
		case 1:
			c.Spent = l.Views + 1
		}
		return c
	}
}

// TestRandomLeasesKeepTheBooks applies seeded random puts, views, shares,
// takes, returns and revocations, and checks after each that the books
// balance for every image and viewer, that a refused or replayed command
// changed nothing but LastApplied, that the snapshot restores and
// snapshots back to the same bytes, and that a second state fed the same
// commands is byte-identical.
func TestRandomLeasesKeepTheBooks(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 1))
			s, twin, k := NewState(), NewState(), newBooks()
			for i, name := range []string{"ann", "bob", "cy", "dee"} {
				mustApply(t, s, RegisterUser{Name: name, PasswordHash: testHash})
				twin.Apply(uint64(i+1), RegisterUser{Name: name, PasswordHash: testHash})
			}
			effects := map[Kind]int{}
			for index := s.LastApplied() + 1; index <= 600; index++ {
				cmd := randomLeaseCommand(r, s, index)
				before := s.Clone()
				out := s.Apply(index, cmd)
				if !sameOutcome(twin.Apply(index, cmd), out) {
					t.Fatalf("seed %d index %d: two states gave different outcomes for %#v", seed, index, cmd)
				}
				k.record(before, cmd, out)
				if out.Err == nil && !out.Replayed {
					effects[cmd.Kind()]++
				}
				before.lastApplied = index
				if (out.Err != nil || out.Replayed) && !bytes.Equal(before.Snapshot(), s.Snapshot()) {
					t.Fatalf("seed %d index %d: %#v (%+v) changed the state", seed, index, cmd, out)
				}
				if err := checkBooks(s, k); err != nil {
					t.Fatalf("seed %d index %d: after %#v (%+v): %v", seed, index, cmd, out, err)
				}
				snap := s.Snapshot()
				restored := NewState()
				if err := restored.Restore(snap); err != nil || !bytes.Equal(restored.Snapshot(), snap) {
					t.Fatalf("seed %d index %d: the snapshot does not restore to itself: %v", seed, index, err)
				}
			}
			if !bytes.Equal(s.Snapshot(), twin.Snapshot()) {
				t.Fatalf("seed %d: two states fed the same commands differ", seed)
			}
			if effects[KindTakeLease] == 0 || effects[KindReturnLease] == 0 {
				t.Fatalf("seed %d: the draw took effect as %v; it exercises too little", seed, effects)
			}
		})
	}
}
