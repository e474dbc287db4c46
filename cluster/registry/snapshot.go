package registry

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"time"
)

// snapshotMagic opens every snapshot; the byte after it is the version.
const (
	snapshotMagic   = "VEILREG"
	snapshotVersion = 1
)

// Snapshot returns the whole state as bytes, for a Raft snapshot or for a
// node too far behind to catch up from the log. The form is canonical (every
// collection in key order), so two nodes that applied the same commands give
// identical bytes:
//
//	magic        7 bytes "VEILREG", then 1 byte of version
//	lastApplied  8 bytes
//	users        4-byte count; by name: name, password hash
//	images       4-byte count; by id: id (16 bytes), owner, created
//	             (8 bytes, Unix ns), version (8 bytes), viewers (a 4-byte
//	             count and, by name, name and views left as 4 bytes)
//	keys         4-byte count; by user then key: user, key, fingerprint
//	             (32 bytes), index (8), image id (a string, empty or 32 hex
//	             digits), version (8), views left (4), by owner (1)
//
// Strings are a 2-byte length and the bytes; integers are big-endian.
func (s *State) Snapshot() []byte {
	b := append([]byte(snapshotMagic), snapshotVersion)
	b = appendU64(b, s.lastApplied)
	b = appendU32(b, uint32(len(s.users)))
	for _, name := range slices.Sorted(maps.Keys(s.users)) {
		b = appendStr(b, name)
		b = appendStr(b, s.users[name].PasswordHash)
	}
	b = appendU32(b, uint32(len(s.images)))
	for _, id := range slices.Sorted(maps.Keys(s.images)) {
		img := s.images[id]
		b = appendID(b, id)
		b = appendStr(b, img.Owner)
		b = appendU64(b, uint64(img.Created.UnixNano()))
		b = appendU64(b, img.Version)
		b = appendViewers(b, img.Viewers)
	}
	b = appendU32(b, uint32(len(s.keys)))
	refs := slices.SortedFunc(maps.Keys(s.keys), func(a, b keyRef) int {
		return cmp.Or(cmp.Compare(a.actor, b.actor), cmp.Compare(a.key, b.key))
	})
	for _, ref := range refs {
		rec := s.keys[ref]
		b = appendStr(b, ref.actor)
		b = appendStr(b, ref.key)
		b = append(b, rec.fp[:]...)
		b = appendU64(b, rec.out.Index)
		b = appendStr(b, rec.out.ID)
		b = appendU64(b, rec.out.Version)
		b = appendU32(b, uint32(rec.out.ViewsLeft))
		b = append(b, boolByte(rec.out.ByOwner))
	}
	return b
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// Restore replaces the whole state with one from Snapshot. It checks
// everything (form, order, names, ids, views, that every owner is
// registered, that no key is newer than lastApplied) and on any failure
// returns an error wrapping ErrMalformed and leaves s unchanged.
func (s *State) Restore(b []byte) error {
	n, err := decodeSnapshot(b)
	if err != nil {
		return err
	}
	*s = *n
	return nil
}

func decodeSnapshot(b []byte) (*State, error) {
	r := &reader{b: b}
	if m := r.bytes(len(snapshotMagic)); r.err == nil && string(m) != snapshotMagic {
		return nil, fmt.Errorf("%w: not a registry snapshot", ErrMalformed)
	}
	if v := r.u8(); r.err == nil && v != snapshotVersion {
		return nil, fmt.Errorf("%w: snapshot version %d, want %d", ErrMalformed, v, snapshotVersion)
	}
	s := NewState()
	s.lastApplied = r.u64()

	n := r.count(2 + 2)
	prev := ""
	for i := 0; i < n && r.err == nil; i++ {
		u := User{Name: r.str(), PasswordHash: r.str()}
		r.check(ValidName(u.Name))
		if r.err == nil {
			_, err := parseHash(u.PasswordHash)
			r.check(err)
		}
		if r.err == nil && i > 0 && u.Name <= prev {
			r.fail("user %q after %q: out of order", u.Name, prev)
		}
		s.users[u.Name], prev = u, u.Name
	}

	n = r.count(16 + 2 + 8 + 8 + 4)
	prev = ""
	for i := 0; i < n && r.err == nil; i++ {
		img := &Image{ID: r.id(), Owner: r.str()}
		img.Created = time.Unix(0, int64(r.u64())).UTC()
		img.Version = r.u64()
		img.Viewers = r.viewers()
		if r.err != nil {
			break
		}
		switch {
		case i > 0 && img.ID <= prev:
			r.fail("image %s after %s: out of order", img.ID, prev)
		case img.Version == 0:
			r.fail("image %s has version 0", img.ID)
		case len(img.Viewers) > MaxViewers:
			r.fail("image %s has %d viewers, at most %d allowed", img.ID, len(img.Viewers), MaxViewers)
		}
		if _, ok := s.users[img.Owner]; r.err == nil && !ok {
			r.fail("image %s: owner %q is not registered", img.ID, img.Owner)
		}
		if _, ok := img.Viewers[img.Owner]; r.err == nil && ok {
			r.fail("image %s lists its owner as a viewer", img.ID)
		}
		r.check(validCreated(img.Created))
		for name := range img.Viewers {
			r.check(ValidName(name))
		}
		s.images[img.ID], prev = img, img.ID
	}

	n = r.count(2 + 2 + 32 + 8 + 2 + 8 + 4 + 1)
	var last keyRef
	for i := 0; i < n && r.err == nil; i++ {
		ref := keyRef{actor: r.str(), key: r.str()}
		var rec keyRecord
		copy(rec.fp[:], r.bytes(len(rec.fp)))
		rec.out.Index = r.u64()
		rec.out.ID = r.str()
		rec.out.Version = r.u64()
		views := r.u32()
		byOwner := r.u8()
		if r.err != nil {
			break
		}
		r.check(ValidName(ref.actor))
		r.check(validKey(ref.key))
		if rec.out.ID != "" {
			r.check(ValidImageID(rec.out.ID))
		}
		switch {
		case ref.key == "":
			r.fail("empty idempotency key")
		case i > 0 && (ref.actor < last.actor || ref.actor == last.actor && ref.key <= last.key):
			r.fail("key %q of %q after %q of %q: out of order", ref.key, ref.actor, last.key, last.actor)
		case rec.out.Index == 0 || rec.out.Index > s.lastApplied:
			r.fail("key %q recorded at index %d, last applied %d", ref.key, rec.out.Index, s.lastApplied)
		case views > MaxViews:
			r.fail("key %q: %d views left", ref.key, views)
		case byOwner > 1:
			r.fail("key %q: by-owner flag %d", ref.key, byOwner)
		}
		rec.out.ViewsLeft, rec.out.ByOwner = int(views), byOwner == 1
		s.keys[ref], last = rec, ref
	}
	r.done()
	if r.err != nil {
		return nil, r.err
	}
	return s, nil
}

// check records err, which wraps ErrInvalid or ErrBadHash, as a decoding
// failure.
func (r *reader) check(err error) {
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("%w: at byte %d: %w", ErrMalformed, r.off, err)
	}
}
