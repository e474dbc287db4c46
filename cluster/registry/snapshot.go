package registry

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"slices"
	"time"
)

// snapshotMagic opens every snapshot; the byte after it is the version.
const (
	snapshotMagic   = "VEILREG"
	snapshotVersion = 2
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
//	             count and, by name, name and views left as 4 bytes),
//	             digest (a string of 0 or 32 bytes; not in version 1)
//	keys         4-byte count; by user then key: user, key, fingerprint
//	             (32 bytes), index (8), image id (a string, empty or 32 hex
//	             digits), version (8), views left (4), by owner (1)
//	peers        (not in version 1) 4-byte count; by device: device
//	             (16 bytes), user, key (32 bytes), address, online (1),
//	             since (8 bytes, Unix ns), holds (a 4-byte count and ids)
//
// Restore reads versions 1 and 2.
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
		b = appendStr(b, string(img.Digest))
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
	b = appendU32(b, uint32(len(s.peers)))
	for _, dev := range slices.Sorted(maps.Keys(s.peers)) {
		p := s.peers[dev]
		b = appendID(b, dev)
		b = appendStr(b, p.User)
		b = append(b, p.Key...)
		b = appendStr(b, p.Addr)
		b = append(b, boolByte(p.Online))
		b = appendU64(b, uint64(p.Since.UnixNano()))
		b = appendIDs(b, p.Holds)
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
	v := r.u8()
	if r.err == nil && (v < 1 || v > snapshotVersion) {
		return nil, fmt.Errorf("%w: snapshot version %d, this node reads 1 to %d", ErrMalformed, v, snapshotVersion)
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
		if v >= 2 {
			if d := r.bytes(int(r.u16())); len(d) > 0 {
				img.Digest = bytes.Clone(d)
			}
		}
		if r.err != nil {
			break
		}
		switch {
		case img.Digest != nil && len(img.Digest) != DigestLen:
			r.fail("image %s has a digest of %d bytes", img.ID, len(img.Digest))
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
	if v >= 2 {
		r.peers(s)
	}
	r.done()
	if r.err != nil {
		return nil, r.err
	}
	return s, nil
}

// peers reads the peers section of a snapshot into s.
func (r *reader) peers(s *State) {
	n := r.count(16 + 2 + PeerKeyLen + 2 + 1 + 8 + 4)
	prev := ""
	for i := 0; i < n && r.err == nil; i++ {
		p := &Peer{Device: r.id(), User: r.str(), Key: bytes.Clone(r.bytes(PeerKeyLen)), Addr: r.str()}
		online := r.u8()
		p.Since = time.Unix(0, int64(r.u64())).UTC()
		p.Holds = r.ids()
		if r.err != nil {
			break
		}
		switch {
		case i > 0 && p.Device <= prev:
			r.fail("peer %s after %s: out of order", p.Device, prev)
		case online > 1:
			r.fail("peer %s: online flag %d", p.Device, online)
		case online == 0 && len(p.Holds) > 0:
			r.fail("peer %s is offline and offers images", p.Device)
		}
		if _, ok := s.users[p.User]; r.err == nil && !ok {
			r.fail("peer %s: user %q is not registered", p.Device, p.User)
		}
		p.Online = online == 1
		r.check(PeerUp{User: p.User, Device: p.Device, Key: p.Key, Addr: p.Addr, Holds: p.Holds, At: p.Since}.Validate())
		s.peers[p.Device], prev = p, p.Device
	}
}

// check records err, which wraps ErrInvalid or ErrBadHash, as a decoding
// failure.
func (r *reader) check(err error) {
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("%w: at byte %d: %w", ErrMalformed, r.off, err)
	}
}
