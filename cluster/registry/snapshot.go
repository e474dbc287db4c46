package registry

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"time"
)

// snapshotMagic opens every snapshot; the byte after it is the version.
const (
	snapshotMagic   = "VEILREG"
	snapshotVersion = 4
)

// castagnoli is CRC-32C, the checksum of snapshots (version 4) and of log
// entries.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

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
//	checksum     (from version 4) 4 bytes: CRC-32C of every byte before it
//
// Restore reads versions 1 to 4.
// Strings are a 2-byte length and the bytes; integers are big-endian.
func (s *State) Snapshot() []byte {
	var buf bytes.Buffer
	s.WriteSnapshot(&buf) // a bytes.Buffer does not fail
	return buf.Bytes()
}

// WriteSnapshot writes Snapshot's bytes to w as it reads the state, in
// pieces of about 64 KiB, and returns the number of bytes written. Taken
// from a frozen copy (Freeze), it runs while the State it was frozen from
// goes on applying.
func (s *State) WriteSnapshot(w io.Writer) (int64, error) {
	e := &snapWriter{w: w, b: make([]byte, 0, 80<<10)}
	b := append(e.b, snapshotMagic...)
	b = append(b, snapshotVersion)
	b = appendU64(b, s.lastApplied)
	b = appendU32(b, uint32(s.t.users.Len()))
	e.b = b
	s.t.users.Ascend(func(u *User) bool {
		e.b = appendStr(e.b, u.Name)
		e.b = appendStr(e.b, u.PasswordHash)
		return e.flush()
	})
	e.b = appendU32(e.b, uint32(s.t.images.Len()))
	s.t.images.Ascend(func(img *imageRec) bool {
		b := appendID(e.b, img.id)
		b = appendStr(b, img.owner)
		b = appendU64(b, uint64(img.created))
		b = appendU64(b, img.version)
		b = appendNamed(b, img.viewers, 4)
		b = appendStr(b, img.digest)
		e.b = appendNamed(b, img.offline, 8)
		return e.flush()
	})
	e.b = appendU32(e.b, uint32(s.t.keys.Len()))
	s.t.keys.Ascend(func(k *keyEntry) bool {
		b := appendStr(e.b, k.ref.actor)
		b = appendStr(b, k.ref.key)
		b = append(b, k.rec.fp[:]...)
		out := k.rec.out
		b = appendU64(b, out.Index)
		b = appendStr(b, out.ID)
		b = appendU64(b, out.Version)
		b = appendU32(b, uint32(out.ViewsLeft))
		b = append(b, boolByte(out.ByOwner))
		b = appendU32(b, uint32(out.Leased))
		e.b = appendU32(b, uint32(out.Returned))
		return e.flush()
	})
	e.b = appendU32(e.b, uint32(s.t.peers.Len()))
	s.t.peers.Ascend(func(p *Peer) bool {
		b := appendID(e.b, p.Device)
		b = appendStr(b, p.User)
		b = append(b, p.Key...)
		b = appendStr(b, p.Addr)
		b = append(b, boolByte(p.Online))
		b = appendU64(b, uint64(p.Since.UnixNano()))
		e.b = appendIDs(b, p.Holds)
		return e.flush()
	})
	e.b = appendU32(e.b, uint32(s.t.leases.Len()))
	s.t.leases.Ascend(func(l *Lease) bool {
		b := appendID(e.b, l.ID)
		b = appendID(b, l.Image)
		b = appendStr(b, l.Viewer)
		b = appendID(b, l.Device)
		b = appendU32(b, uint32(l.Views))
		b = appendU64(b, uint64(l.Issued.UnixNano()))
		b = appendU64(b, uint64(l.Expires.UnixNano()))
		e.b = append(b, boolByte(l.Revoked))
		return e.flush()
	})
	e.sum = crc32.Update(e.sum, castagnoli, e.b)
	e.b = binary.BigEndian.AppendUint32(e.b, e.sum)
	e.write()
	return e.n, e.err
}

// snapWriter gathers a snapshot's bytes and writes them in pieces,
// summing them as they go.
type snapWriter struct {
	w   io.Writer
	b   []byte
	sum uint32
	n   int64
	err error
}

// flush writes the bytes gathered once they pass 64 KiB, and reports
// whether to go on.
func (e *snapWriter) flush() bool {
	if len(e.b) >= 64<<10 {
		e.sum = crc32.Update(e.sum, castagnoli, e.b)
		e.write()
	}
	return e.err == nil
}

func (e *snapWriter) write() {
	if e.err != nil {
		return
	}
	n, err := e.w.Write(e.b)
	e.n += int64(n)
	e.err = err
	e.b = e.b[:0]
}

// appendNamed appends a count and names with their counts, each of size
// bytes (4 or 8).
func appendNamed(b []byte, ns []named, size int) []byte {
	b = appendU32(b, uint32(len(ns)))
	for _, v := range ns {
		b = appendStr(b, v.name)
		if size == 4 {
			b = appendU32(b, uint32(v.n))
		} else {
			b = appendU64(b, uint64(v.n))
		}
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
	if r.err != nil {
		return nil, r.err
	}
	if v >= 4 {
		if len(b) < r.off+8+4 {
			return nil, fmt.Errorf("%w: a snapshot of %d bytes, cut short", ErrMalformed, len(b))
		}
		body, tail := b[:len(b)-4], b[len(b)-4:]
		if got, want := crc32.Checksum(body, castagnoli), binary.BigEndian.Uint32(tail); got != want {
			return nil, fmt.Errorf("%w: snapshot checksum %08x, its bytes sum to %08x: damaged", ErrMalformed, want, got)
		}
		r.b = body
	}
	s := NewState()
	s.lastApplied = r.u64()

	n := r.count(2 + 2)
	prev := ""
	// names holds the users table's copy of each name, for the records
	// that follow to share: a map, faster than the tree here. A name read
	// as a registered one is valid; another is checked.
	names := make(map[string]string, n)
	intern := func(b []byte) string {
		if c, ok := names[string(b)]; ok {
			return c
		}
		name := string(b)
		r.check(ValidName(name))
		return name
	}
	for i := 0; i < n && r.err == nil; i++ {
		u := User{Name: r.str(), PasswordHash: r.str()}
		names[u.Name] = u.Name
		r.check(ValidName(u.Name))
		if r.err == nil {
			_, err := parseHash(u.PasswordHash)
			r.check(err)
		}
		if r.err == nil && i > 0 && u.Name <= prev {
			r.fail("user %q after %q: out of order", u.Name, prev)
		}
		s.t.users.ReplaceOrInsert(&u)
		prev = u.Name
	}

	n = r.count(16 + 2 + 8 + 8 + 4)
	prev = ""
	imgs := make([]*imageRec, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		img := &imageRec{id: r.id(), owner: intern(r.bytes(int(r.u16()))), gen: s.gen}
		img.created = int64(r.u64())
		img.version = r.u64()
		img.viewers = r.named(img.id, "viewer", 4, intern)
		if v >= 2 {
			img.digest = string(r.bytes(int(r.u16())))
		}
		if v >= 3 {
			img.offline = r.named(img.id, "offline views of", 8, intern)
		}
		if r.err != nil {
			break
		}
		switch {
		case img.digest != "" && len(img.digest) != DigestLen:
			r.fail("image %s has a digest of %d bytes", img.id, len(img.digest))
		case i > 0 && img.id <= prev:
			r.fail("image %s after %s: out of order", img.id, prev)
		case img.version == 0:
			r.fail("image %s has version 0", img.id)
		case len(img.viewers) > MaxViewers:
			r.fail("image %s has %d viewers, at most %d allowed", img.id, len(img.viewers), MaxViewers)
		}
		if _, ok := names[img.owner]; r.err == nil && !ok {
			r.fail("image %s: owner %q is not registered", img.id, img.owner)
		}
		if _, ok := find(img.viewers, img.owner); r.err == nil && ok {
			r.fail("image %s lists its owner as a viewer", img.id)
		}
		if _, ok := find(img.offline, img.owner); r.err == nil && ok {
			r.fail("image %s: offline views of its owner", img.id)
		}
		r.check(validCreated(time.Unix(0, img.created)))
		for _, v := range img.viewers {
			if v.n > MaxViews {
				r.fail("image %s: viewer %q gets %d views, at most %d allowed", img.id, v.name, v.n, MaxViews)
			}
		}
		for _, v := range img.offline {
			if v.n <= 0 {
				r.fail("image %s: %q spent %d views offline", img.id, v.name, v.n)
			}
		}
		if r.err != nil {
			break
		}
		s.t.images.ReplaceOrInsert(img) // in order: the cheapest insert
		imgs = append(imgs, img)
		prev = img.id
	}
	if r.err == nil {
		s.indexImages(imgs)
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
		s.t.keys.ReplaceOrInsert(&keyEntry{ref: ref, rec: rec})
		s.t.keysByIndex.ReplaceOrInsert(keyAge{index: rec.out.Index, ref: ref})
		last = ref
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

// named reads a count and names, in increasing order, each with a count of
// size bytes (4 or 8); an empty list is nil. name makes each name's string
// of its bytes.
func (r *reader) named(image, what string, size int, name func([]byte) string) []named {
	n := r.count(2 + size)
	var out []named
	if n > 0 {
		out = make([]named, 0, n)
	}
	for i := 0; i < n && r.err == nil; i++ {
		name := name(r.bytes(int(r.u16())))
		var c uint64
		if size == 4 {
			c = uint64(r.u32())
		} else {
			c = r.u64()
		}
		if r.err != nil {
			break
		}
		if i > 0 && name <= out[i-1].name {
			r.fail("image %s: %s %q after %q: out of order", image, what, name, out[i-1].name)
		}
		if c > math.MaxInt64 {
			r.fail("image %s: %s %q: a count of %d", image, what, name, c)
		}
		out = append(out, named{name, int(c)})
	}
	return out
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
		u, ok := s.t.users.Get(&User{Name: p.User})
		if r.err == nil && !ok {
			r.fail("peer %s: user %q is not registered", p.Device, p.User)
		}
		p.Online = online == 1
		r.check(PeerUp{User: p.User, Device: p.Device, Key: p.Key, Addr: p.Addr, Holds: p.Holds, At: p.Since}.Validate())
		if r.err != nil {
			break
		}
		p.User = u.Name
		s.indexPeer(p)
		prev = p.Device
	}
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
		img, ok := s.image(l.Image)
		listed := false
		if ok {
			_, listed = find(img.viewers, l.Viewer)
		}
		switch {
		case r.err != nil:
		case i > 0 && l.ID <= prev:
			r.fail("lease %s after %s: out of order", l.ID, prev)
		case revoked > 1:
			r.fail("lease %s: revoked flag %d", l.ID, revoked)
		case !ok:
			r.fail("lease %s of image %s, which is not held", l.ID, l.Image)
		case l.Viewer == img.owner:
			r.fail("lease %s is held by the owner of %s", l.ID, l.Image)
		case revoked == 0 && !listed:
			r.fail("lease %s is not revoked, and %q is not a viewer of %s", l.ID, l.Viewer, l.Image)
		case revoked == 0 && unrevoked[held{l.Image, l.Viewer}] == MaxLeasesPerViewer:
			r.fail("%q holds more than %d leases on %s", l.Viewer, MaxLeasesPerViewer, l.Image)
		}
		if r.err != nil {
			break
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
