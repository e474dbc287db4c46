package registry

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"
)

// snapshotMagic opens every snapshot; the byte after it is the version.
const (
	snapshotMagic   = "VEILREG"
	snapshotVersion = 3
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
//	             digest (a string of 0 or 32 bytes; not in version 1),
//	             offline (from version 3; a 4-byte count and, by name,
//	             name and views spent offline as 8 bytes, none zero)
//	keys         4-byte count; by user then key: user, key, fingerprint
//	             (32 bytes), index (8), image id (a string, empty or 32 hex
//	             digits), version (8), views left (4), by owner (1),
//	             leased (4; from version 3), returned (4; from version 3)
//	peers        (not in version 1) 4-byte count; by device: device
//	             (16 bytes), user, key (32 bytes), address, online (1),
//	             since (8 bytes, Unix ns), holds (a 4-byte count and ids)
//	leases       (from version 3) 4-byte count; by id: id (16 bytes),
//	             image id (16), viewer, device (16), views (4), issued
//	             (8 bytes, Unix ns), expires (8 bytes, Unix ns), revoked (1)
//
// Restore reads versions 1 to 3.
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
		b = appendU32(b, uint32(len(img.Offline)))
		for _, name := range slices.Sorted(maps.Keys(img.Offline)) {
			b = appendStr(b, name)
			b = appendU64(b, uint64(img.Offline[name]))
		}
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
		b = appendU32(b, uint32(rec.out.Leased))
		b = appendU32(b, uint32(rec.out.Returned))
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
	b = appendU32(b, uint32(len(s.leases)))
	for _, id := range slices.Sorted(maps.Keys(s.leases)) {
		l := s.leases[id]
		b = appendID(b, id)
		b = appendID(b, l.Image)
		b = appendStr(b, l.Viewer)
		b = appendID(b, l.Device)
		b = appendU32(b, uint32(l.Views))
		b = appendU64(b, uint64(l.Issued.UnixNano()))
		b = appendU64(b, uint64(l.Expires.UnixNano()))
		b = append(b, boolByte(l.Revoked))
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
// registered, that no key is newer than lastApplied, that every lease is of
// a listed viewer of a held image, within the limits) and on any failure
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
		if v >= 3 {
			img.Offline = r.offline(img)
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
		var leased, returned uint32
		if v >= 3 {
			leased, returned = r.u32(), r.u32()
		}
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
		case leased > MaxViews || returned > MaxViews:
			r.fail("key %q: %d views leased, %d returned", ref.key, leased, returned)
		}
		rec.out.ViewsLeft, rec.out.ByOwner = int(views), byOwner == 1
		rec.out.Leased, rec.out.Returned = int(leased), int(returned)
		s.keys[ref], last = rec, ref
	}
	if v >= 2 {
		r.peers(s)
	}
	if v >= 3 {
		r.leases(s)
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

// offline reads an image's views spent offline; an empty map is nil.
func (r *reader) offline(img *Image) map[string]int {
	n := r.count(2 + 8)
	var m map[string]int
	prev := ""
	for i := 0; i < n && r.err == nil; i++ {
		name, spent := r.str(), r.u64()
		if r.err != nil {
			break
		}
		switch {
		case i > 0 && name <= prev:
			r.fail("image %s: offline views of %q after %q: out of order", img.ID, name, prev)
		case name == img.Owner:
			r.fail("image %s: offline views of its owner", img.ID)
		case spent == 0 || spent > math.MaxInt64:
			r.fail("image %s: %q spent %d views offline", img.ID, name, spent)
		}
		r.check(ValidName(name))
		if m == nil {
			m = make(map[string]int, n)
		}
		m[name], prev = int(spent), name
	}
	return m
}

// leases reads the leases section of a snapshot into s, whose images are
// read.
func (r *reader) leases(s *State) {
	n := r.count(16 + 16 + 2 + 16 + 4 + 8 + 8 + 1)
	prev := ""
	type held struct{ image, viewer string }
	unrevoked := map[held]int{}
	for i := 0; i < n && r.err == nil; i++ {
		l := &Lease{ID: r.id(), Image: r.id(), Viewer: r.str(), Device: r.id(), Views: int(r.u32())}
		l.Issued = time.Unix(0, int64(r.u64())).UTC()
		l.Expires = time.Unix(0, int64(r.u64())).UTC()
		revoked := r.u8()
		if r.err != nil {
			break
		}
		r.check(TakeLease{ID: l.ID, Image: l.Image, Viewer: l.Viewer, Device: l.Device, Views: l.Views, Issued: l.Issued, Expires: l.Expires}.Validate())
		img, ok := s.images[l.Image]
		listed := false
		if ok {
			_, listed = img.Viewers[l.Viewer]
		}
		switch {
		case r.err != nil:
		case i > 0 && l.ID <= prev:
			r.fail("lease %s after %s: out of order", l.ID, prev)
		case revoked > 1:
			r.fail("lease %s: revoked flag %d", l.ID, revoked)
		case !ok:
			r.fail("lease %s of image %s, which is not held", l.ID, l.Image)
		case l.Viewer == img.Owner:
			r.fail("lease %s is held by the owner of %s", l.ID, l.Image)
		case revoked == 0 && !listed:
			r.fail("lease %s is not revoked, and %q is not a viewer of %s", l.ID, l.Viewer, l.Image)
		case revoked == 0 && unrevoked[held{l.Image, l.Viewer}] == MaxLeasesPerViewer:
			r.fail("%q holds more than %d leases on %s", l.Viewer, MaxLeasesPerViewer, l.Image)
		}
		l.Revoked = revoked == 1
		if !l.Revoked {
			unrevoked[held{l.Image, l.Viewer}]++
		}
		s.addLease(l)
		prev = l.ID
	}
}

// check records err, which wraps ErrInvalid or ErrBadHash, as a decoding
// failure.
func (r *reader) check(err error) {
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("%w: at byte %d: %w", ErrMalformed, r.off, err)
	}
}
