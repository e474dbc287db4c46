package registry

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// fastArgon2 keeps hashing cheap in tests; the cost parameters do not
// change what is tested.
var fastArgon2 = Argon2Params{Time: 1, MemoryKiB: 8, Threads: 1, SaltLen: 8, KeyLen: 16}

// seeded returns a deterministic source of salt.
func seeded(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	s[0] = byte(seed)
	return rand.NewChaCha8(s)
}

// testHash is a valid hash of "password1".
var testHash = func() string {
	h, err := HashPassword(fastArgon2, seeded(1), "password1")
	if err != nil {
		panic(err)
	}
	return h
}()

var t0 = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

// id returns the image id numbered n.
func id(n int) string { return fmt.Sprintf("%032x", n) }

// fixture returns a state with users ann, bob, cy and dee, and image 1 owned
// by ann with bob given 2 views and cy 1, at index 10.
func fixture(t testing.TB) *State {
	t.Helper()
	s := NewState()
	cmds := []Command{
		RegisterUser{Name: "ann", PasswordHash: testHash},
		RegisterUser{Name: "bob", PasswordHash: testHash},
		RegisterUser{Name: "cy", PasswordHash: testHash},
		RegisterUser{Name: "dee", PasswordHash: testHash},
		PutImage{ID: id(1), Owner: "ann", Viewers: map[string]int{"bob": 2, "cy": 1}, Created: t0},
	}
	for i, c := range cmds {
		if out := s.Apply(uint64(6+i), c); out.Err != nil {
			t.Fatalf("fixture command %d: %v", i, out.Err)
		}
	}
	return s
}

// applyRefused applies cmd at the next index, requires it to be refused
// with want, and requires everything but LastApplied to be unchanged.
func applyRefused(t *testing.T, s *State, cmd Command, want error) Outcome {
	t.Helper()
	before := s.Clone()
	index := s.LastApplied() + 1
	out := s.Apply(index, cmd)
	if !errorIs(out.Err, want) {
		t.Fatalf("Apply(%#v) = %v, want %v", cmd, out.Err, want)
	}
	before.lastApplied = index
	if !bytes.Equal(before.Snapshot(), s.Snapshot()) {
		t.Fatalf("refused %#v changed the state", cmd)
	}
	return out
}

// mustApply applies cmd at the next index and requires it to take effect.
func mustApply(t *testing.T, s *State, cmd Command) Outcome {
	t.Helper()
	out := s.Apply(s.LastApplied()+1, cmd)
	if out.Err != nil {
		t.Fatalf("%#v: %v", cmd, out.Err)
	}
	return out
}

// images returns copies of every image of s, by id.
func images(s *State) map[string]Image {
	out := map[string]Image{}
	s.t.images.Ascend(func(img *imageRec) bool {
		out[img.id] = img.export()
		return true
	})
	return out
}

// leases returns copies of every lease of s, by id.
func leases(s *State) map[string]Lease {
	out := map[string]Lease{}
	s.t.leases.Ascend(func(l *Lease) bool {
		out[l.ID] = *l
		return true
	})
	return out
}

// The edit functions change a record of s behind Apply's back, leaving its
// indexes as they were: for tests that forge snapshots.

func editImage(s *State, id string, f func(*Image)) {
	img, _ := s.image(id)
	e := img.export()
	f(&e)
	putImageRecord(s, e)
}

// putImageRecord puts img in the images table, indexes and rules aside.
func putImageRecord(s *State, img Image) {
	rec := &imageRec{id: img.ID, owner: img.Owner, created: img.Created.UnixNano(), version: img.Version, digest: string(img.Digest), gen: s.gen}
	for _, name := range slices.Sorted(maps.Keys(img.Viewers)) {
		rec.viewers = append(rec.viewers, named{name, img.Viewers[name]})
	}
	for _, name := range slices.Sorted(maps.Keys(img.Offline)) {
		rec.offline = append(rec.offline, named{name, img.Offline[name]})
	}
	s.t.images.ReplaceOrInsert(rec)
}

func editLease(s *State, id string, f func(*Lease)) {
	l, _ := s.t.leases.Get(&Lease{ID: id})
	c := *l
	f(&c)
	s.t.leases.ReplaceOrInsert(&c)
}

func editPeer(s *State, device string, f func(*Peer)) {
	p, _ := s.t.peers.Get(&Peer{Device: device})
	c := p.clone()
	f(&c)
	s.t.peers.ReplaceOrInsert(&c)
}

func editKey(s *State, ref keyRef, f func(*keyRecord)) {
	e, _ := s.t.keys.Get(&keyEntry{ref: ref})
	c := *e
	f(&c.rec)
	s.t.keys.ReplaceOrInsert(&c)
}

// resum sets the checksum of a forged version 4 snapshot.
func resum(b []byte) []byte {
	binary.BigEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], castagnoli))
	return b
}
