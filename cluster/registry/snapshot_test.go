package registry

import (
	"bytes"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"
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
	t.Run("a newer version is refused", func(t *testing.T) {
		b := bytes.Clone(good)
		b[len(snapshotMagic)] = snapshotVersion + 1
		if err := NewState().Restore(b); !errors.Is(err, ErrMalformed) {
			t.Fatalf("Restore = %v", err)
		}
	})
	t.Run("an image whose owner is not registered is refused", func(t *testing.T) {
		s := NewState()
		putImageRecord(s, Image{ID: id(1), Owner: "ghost", Viewers: map[string]int{}, Created: t0, Version: 1})
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

// withPeers returns populated's state with a digest on a new image and
// peers online and offline.
func withPeers(t testing.TB) *State {
	t.Helper()
	s := populated(t)
	key := bytes.Repeat([]byte{3}, PeerKeyLen)
	cmds := []Command{
		PutImage{ID: id(8), Owner: "ann", Viewers: map[string]int{"bob": 2}, Created: t0, Digest: bytes.Repeat([]byte{9}, DigestLen)},
		PeerUp{User: "bob", Device: id(20), Key: key, Addr: "127.0.0.1:7001", Holds: []string{id(1), id(8)}, At: t0},
		PeerUp{User: "ann", Device: id(21), Key: key, Addr: "127.0.0.1:7002", At: t0},
		PeerDown{Device: id(21), At: t0.Add(time.Minute)},
	}
	for _, c := range cmds {
		if out := s.Apply(s.LastApplied()+1, c); out.Err != nil {
			t.Fatalf("%#v: %v", c, out.Err)
		}
	}
	return s
}

func TestASnapshotKeepsPeersAndDigests(t *testing.T) {
	s := withPeers(t)
	r := NewState()
	if err := r.Restore(s.Snapshot()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.Snapshot(), s.Snapshot()) {
		t.Fatal("the restored state snapshots differently")
	}
	if !reflect.DeepEqual(r.Peers(), s.Peers()) {
		t.Fatalf("peers after Restore %+v, want %+v", r.Peers(), s.Peers())
	}
	img, _ := r.Image(id(8))
	if !bytes.Equal(img.Digest, bytes.Repeat([]byte{9}, DigestLen)) {
		t.Fatalf("digest after Restore %x", img.Digest)
	}
}

func TestAVersion1SnapshotStillRestores(t *testing.T) {
	b := readHex(t, "testdata/snapshot-v1.hex")
	if b[len(snapshotMagic)] != 1 {
		t.Fatalf("golden snapshot has version %d, want 1", b[len(snapshotMagic)])
	}
	r := NewState()
	if err := r.Restore(b); err != nil {
		t.Fatal(err)
	}
	// The golden snapshot was taken of populated's state by the version
	// that wrote version 1.
	if want := populated(t).Snapshot(); !bytes.Equal(r.Snapshot(), want) {
		t.Fatal("a version 1 snapshot restores to another state than the one it was taken of")
	}
	if len(r.Peers()) != 0 {
		t.Fatalf("peers from a version 1 snapshot: %+v", r.Peers())
	}
}

// withLeases returns withPeers's state with leases out, revoked and
// returned: images with views spent offline, and keys whose outcomes hold
// views leased and returned.
func withLeases(t testing.TB) *State {
	t.Helper()
	s := withPeers(t)
	lease := func(n int, image, viewer string, views int, key string) TakeLease {
		return TakeLease{ID: id(n), Image: image, Viewer: viewer, Device: id(20), Views: views, Issued: t0, Expires: t0.Add(time.Hour), IdemKey: key}
	}
	cmds := []Command{
		lease(300, id(7), "ann", 4, "tl"),
		lease(301, id(8), "bob", 1, ""),
		lease(302, id(8), "bob", 1, "tl2"),
		Share{ID: id(8), Caller: "ann", Set: map[string]int{"bob": 1}}, // revokes 301 and 302
		ReturnLease{ID: id(301), Viewer: "bob", Spent: 1, IdemKey: "rl"},
		lease(303, id(7), "ann", 2, ""),
		ReturnLease{ID: id(303), Viewer: "ann", Spent: 1, IdemKey: "rl2"},
	}
	for _, c := range cmds {
		if out := s.Apply(s.LastApplied()+1, c); out.Err != nil {
			t.Fatalf("%#v: %v", c, out.Err)
		}
	}
	return s
}

func TestASnapshotKeepsLeases(t *testing.T) {
	s := withLeases(t)
	r := NewState()
	if err := r.Restore(s.Snapshot()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.Snapshot(), s.Snapshot()) {
		t.Fatal("the restored state snapshots differently")
	}
	for _, img := range []string{id(7), id(8)} {
		if got, want := r.LeasesOf(img), s.LeasesOf(img); !reflect.DeepEqual(got, want) || len(got) != 1 {
			t.Fatalf("leases of %s after Restore %+v, want %+v", img, got, want)
		}
		got, _ := r.Image(img)
		want, _ := s.Image(img)
		if !reflect.DeepEqual(got, want) || len(got.Offline) != 1 {
			t.Fatalf("image %s after Restore %+v, want %+v", img, got, want)
		}
	}
	for _, ref := range []keyRef{{"ann", "tl"}, {"bob", "tl2"}, {"bob", "rl"}, {"ann", "rl2"}} {
		got, ok := r.Lookup(ref.actor, ref.key)
		want, _ := s.Lookup(ref.actor, ref.key)
		if !ok || got != want {
			t.Fatalf("Lookup(%s, %s) after Restore = %+v, %v; want %+v", ref.actor, ref.key, got, ok, want)
		}
	}
	if o, _ := r.Lookup("ann", "rl2"); o.Returned != 1 {
		t.Fatalf("the return's outcome %+v lost what it returned", o)
	}
	// The restored state goes on as the original does.
	next := []Command{
		ReturnLease{ID: id(300), Viewer: "ann", Spent: 2},
		ReturnLease{ID: id(302), Viewer: "bob", Spent: 0},
		TakeLease{ID: id(304), Image: id(8), Viewer: "bob", Device: id(20), Views: 1, Issued: t0, Expires: t0.Add(time.Hour)},
	}
	for _, c := range next {
		a, b := mustApply(t, s, c), mustApply(t, r, c)
		if a != b {
			t.Fatalf("after Restore %#v gave %+v, the original %+v", c, b, a)
		}
	}
	if !bytes.Equal(r.Snapshot(), s.Snapshot()) {
		t.Fatal("states diverged after Restore")
	}
}

func TestRestoreRefusesMalformedLeases(t *testing.T) {
	// In withLeases, lease 300 is ann's on image 7 (owned by cy, listing
	// ann and bob), unrevoked; lease 302 is bob's on image 8, revoked, and
	// the last record of the snapshot.
	cases := []struct {
		name string
		edit func(s *State) []byte
	}{
		{"a lease of an image not held", func(s *State) []byte { editLease(s, id(300), func(l *Lease) { l.Image = id(99) }); return s.Snapshot() }},
		{"a lease held by the image's owner", func(s *State) []byte { editLease(s, id(300), func(l *Lease) { l.Viewer = "cy" }); return s.Snapshot() }},
		{"an unrevoked lease of a viewer not listed", func(s *State) []byte { editLease(s, id(300), func(l *Lease) { l.Viewer = "dee" }); return s.Snapshot() }},
		{"a lease of no views", func(s *State) []byte { editLease(s, id(300), func(l *Lease) { l.Views = 0 }); return s.Snapshot() }},
		{"a lease that expires when issued", func(s *State) []byte { editLease(s, id(300), func(l *Lease) { l.Expires = t0 }); return s.Snapshot() }},
		{"a lease issued before 1970", func(s *State) []byte {
			editLease(s, id(300), func(l *Lease) { l.Issued = minCreated.Add(-time.Second) })
			return s.Snapshot()
		}},
		{"a revoked flag of 2", func(s *State) []byte { b := s.Snapshot(); b[len(b)-5] = 2; return resum(b) }},
		{"more than MaxLeasesPerViewer unrevoked leases", func(s *State) []byte {
			for i := range MaxLeasesPerViewer {
				s.addLease(&Lease{ID: id(400 + i), Image: id(7), Viewer: "ann", Device: id(20), Views: 1, Issued: t0, Expires: t0.Add(time.Hour)})
			}
			return s.Snapshot()
		}},
		{"views spent offline by the owner", func(s *State) []byte {
			editImage(s, id(7), func(img *Image) { img.Offline["cy"] = 1 })
			return s.Snapshot()
		}},
		{"zero views spent offline", func(s *State) []byte {
			editImage(s, id(7), func(img *Image) { img.Offline["ann"] = 0 })
			return s.Snapshot()
		}},
		{"a recorded outcome leasing more than MaxViews", func(s *State) []byte {
			editKey(s, keyRef{"ann", "tl"}, func(rec *keyRecord) { rec.out.Leased = MaxViews + 1 })
			return s.Snapshot()
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := NewState().Restore(c.edit(withLeases(t))); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Restore = %v, want ErrMalformed", err)
			}
		})
	}
	t.Run("MaxLeasesPerViewer unrevoked leases restore", func(t *testing.T) {
		s := withLeases(t)
		for i := range MaxLeasesPerViewer - 1 {
			s.addLease(&Lease{ID: id(400 + i), Image: id(7), Viewer: "ann", Device: id(20), Views: 1, Issued: t0, Expires: t0.Add(time.Hour)})
		}
		if err := NewState().Restore(s.Snapshot()); err != nil {
			t.Fatal(err)
		}
	})
}

func TestAVersion2SnapshotStillRestores(t *testing.T) {
	b := readHex(t, "testdata/snapshot-v2.hex")
	if b[len(snapshotMagic)] != 2 {
		t.Fatalf("golden snapshot has version %d, want 2", b[len(snapshotMagic)])
	}
	r := NewState()
	if err := r.Restore(b); err != nil {
		t.Fatal(err)
	}
	// The golden snapshot was taken of withPeers's state by the version
	// that wrote version 2: images with and without digests, peers online
	// and offline, idempotency records.
	want := withPeers(t)
	if !bytes.Equal(r.Snapshot(), want.Snapshot()) {
		t.Fatal("a version 2 snapshot restores to another state than the one it was taken of")
	}
	if !reflect.DeepEqual(r.Peers(), want.Peers()) {
		t.Fatalf("peers after Restore %+v, want %+v", r.Peers(), want.Peers())
	}
	for _, img := range []string{id(1), id(7), id(8)} {
		got, _ := r.Image(img)
		w, _ := want.Image(img)
		if !reflect.DeepEqual(got, w) {
			t.Fatalf("image %s after Restore %+v, want %+v", img, got, w)
		}
	}
	for _, ref := range []keyRef{{"bob", "v1"}, {"cy", "p"}, {"cy", "s"}, {"eve", "r"}} {
		got, ok := r.Lookup(ref.actor, ref.key)
		w, _ := want.Lookup(ref.actor, ref.key)
		if !ok || got != w {
			t.Fatalf("Lookup(%s, %s) after Restore = %+v, %v; want %+v", ref.actor, ref.key, got, ok, w)
		}
	}
}

func TestRestoreRefusesMalformedPeers(t *testing.T) {
	good := withPeers(t).Snapshot()
	// The last peer record ends the snapshot: online flag, since, holds.
	cases := []struct {
		name string
		edit func(b []byte) []byte
	}{
		{"a peer of no registered user", func(b []byte) []byte {
			s := withPeers(t)
			editPeer(s, id(21), func(p *Peer) { p.User = "nobody" })
			return s.Snapshot()
		}},
		{"an offline peer that offers images", func(b []byte) []byte {
			s := withPeers(t)
			editPeer(s, id(21), func(p *Peer) { p.Holds = []string{id(1)} })
			return s.Snapshot()
		}},
		{"a bad address", func(b []byte) []byte {
			s := withPeers(t)
			editPeer(s, id(20), func(p *Peer) { p.Addr = "no port" })
			return s.Snapshot()
		}},
		{"truncated", func(b []byte) []byte { return b[:len(b)-3] }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := NewState().Restore(c.edit(bytes.Clone(good))); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Restore = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestAVersion3SnapshotStillRestores(t *testing.T) {
	b := readHex(t, "testdata/snapshot-v3.hex")
	if b[len(snapshotMagic)] != 3 {
		t.Fatalf("golden snapshot has version %d, want 3", b[len(snapshotMagic)])
	}
	r := NewState()
	if err := r.Restore(b); err != nil {
		t.Fatal(err)
	}
	// The golden snapshot was taken by the version that wrote version 3, of
	// withLeases's state after a lease returned with a view spent offline
	// and a peer gone down.
	want := withLeases(t)
	want.Apply(want.LastApplied()+1, ReturnLease{ID: id(300), Viewer: "ann", Spent: 1})
	want.Apply(want.LastApplied()+1, PeerDown{Device: id(21), At: t0.Add(time.Hour)})
	if !bytes.Equal(r.Snapshot(), want.Snapshot()) {
		t.Fatal("a version 3 snapshot restores to another state than the one it was taken of")
	}
	if !reflect.DeepEqual(images(r), images(want)) || !reflect.DeepEqual(leases(r), leases(want)) || !reflect.DeepEqual(r.Peers(), want.Peers()) {
		t.Fatal("a version 3 snapshot restores other records")
	}
	if err := checkIndexes(r); err != nil {
		t.Fatal(err)
	}
}

func TestSnapshotChecksum(t *testing.T) {
	good := withLeases(t).Snapshot()
	if err := NewState().Restore(good); err != nil {
		t.Fatal(err)
	}
	for i := len(snapshotMagic) + 1; i < len(good); i++ {
		b := bytes.Clone(good)
		b[i] ^= 0x10
		if err := NewState().Restore(b); !errors.Is(err, ErrMalformed) {
			t.Fatalf("a bit flipped at byte %d of %d: Restore = %v", i, len(good), err)
		}
	}
	for _, n := range []int{len(good) - 1, len(good) - 4, 12} {
		if err := NewState().Restore(good[:n]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("cut to %d bytes: Restore = %v", n, err)
		}
	}
}
