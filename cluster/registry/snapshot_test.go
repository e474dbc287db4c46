package registry

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

// populated returns a state with users, images and keys of every kind.
func populated(t testing.TB) *State {
	t.Helper()
	s := fixture(t)
	cmds := []Command{
		View{ID: id(1), Viewer: "bob", IdemKey: "v1"},
		View{ID: id(1), Viewer: "ann", IdemKey: "v2"},
		PutImage{ID: id(7), Owner: "cy", Viewers: map[string]int{"ann": 9, "dee": 1}, Created: t0, IdemKey: "p"},
		Share{ID: id(7), Caller: "cy", Set: map[string]int{"bob": 0}, Remove: []string{"dee"}, IdemKey: "s"},
		RegisterUser{Name: "eve", PasswordHash: testHash, IdemKey: "r"},
	}
	for _, c := range cmds {
		if out := s.Apply(s.LastApplied()+1, c); out.Err != nil {
			t.Fatalf("%#v: %v", c, out.Err)
		}
	}
	return s
}

func TestSnapshotRestoreRoundTrip(t *testing.T) {
	s := populated(t)
	b := s.Snapshot()
	r := NewState()
	if err := r.Restore(b); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if !bytes.Equal(r.Snapshot(), b) {
		t.Fatal("the restored state snapshots differently")
	}
	if r.LastApplied() != s.LastApplied() {
		t.Fatalf("LastApplied = %d, want %d", r.LastApplied(), s.LastApplied())
	}
	for _, name := range []string{"ann", "bob", "cy", "dee", "eve"} {
		got, want := r.SharedWith(name), s.SharedWith(name)
		if !slices.Equal(got, want) {
			t.Fatalf("SharedWith(%s) = %+v, want %+v", name, got, want)
		}
	}
	o1, _ := s.Lookup("bob", "v1")
	o2, ok := r.Lookup("bob", "v1")
	if !ok || o1 != o2 {
		t.Fatalf("Lookup after Restore = %+v, %v; want %+v", o2, ok, o1)
	}
	// The restored state goes on exactly as the original does.
	next := []Command{View{ID: id(1), Viewer: "bob", IdemKey: "v1"}, View{ID: id(7), Viewer: "ann"}}
	for _, c := range next {
		a, b := s.Apply(s.LastApplied()+1, c), r.Apply(r.LastApplied()+1, c)
		if a != b {
			t.Fatalf("after Restore %#v gave %+v, the original %+v", c, b, a)
		}
	}
	if !bytes.Equal(r.Snapshot(), s.Snapshot()) {
		t.Fatal("states diverged after Restore")
	}
}

func TestSnapshotIsDeterministic(t *testing.T) {
	// Go randomises map iteration, so building twice exercises the order.
	a, b := populated(t).Snapshot(), populated(t).Snapshot()
	if !bytes.Equal(a, b) {
		t.Fatal("two states built by the same commands snapshot differently")
	}
}

func TestRestoreRefusesMalformedSnapshots(t *testing.T) {
	good := populated(t).Snapshot()
	t.Run("every truncation is refused and changes nothing", func(t *testing.T) {
		s := fixture(t)
		before := s.Snapshot()
		for n := range len(good) {
			if err := s.Restore(good[:n]); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Restore of %d of %d bytes = %v", n, len(good), err)
			}
		}
		if !bytes.Equal(s.Snapshot(), before) {
			t.Fatal("a refused snapshot changed the state")
		}
	})
	t.Run("a trailing byte is refused", func(t *testing.T) {
		if err := NewState().Restore(append(bytes.Clone(good), 0)); !errors.Is(err, ErrMalformed) {
			t.Fatalf("Restore = %v", err)
		}
	})
	t.Run("another version is refused", func(t *testing.T) {
		b := bytes.Clone(good)
		b[len(snapshotMagic)] = 2
		if err := NewState().Restore(b); !errors.Is(err, ErrMalformed) {
			t.Fatalf("Restore = %v", err)
		}
	})
	t.Run("an image whose owner is not registered is refused", func(t *testing.T) {
		s := NewState()
		s.images[id(1)] = &Image{ID: id(1), Owner: "ghost", Viewers: map[string]int{}, Created: t0, Version: 1}
		if err := NewState().Restore(s.Snapshot()); !errors.Is(err, ErrMalformed) {
			t.Fatalf("Restore = %v", err)
		}
	})
	t.Run("a key newer than the last applied index is refused", func(t *testing.T) {
		s := populated(t)
		s.lastApplied = 1
		if err := NewState().Restore(s.Snapshot()); !errors.Is(err, ErrMalformed) {
			t.Fatalf("Restore = %v", err)
		}
	})
}
