package registry

// The State's tables and indexes. Every table is a B-tree (google/btree)
// whose Clone is lazy copy-on-write: Freeze takes a point-in-time copy of
// the whole registry in time independent of its size, and the copy reads on
// while the original goes on applying. Each index is a tree of small keys
// ordered so that a read is a range of it: a user's images are the range of
// byOwner that starts with their name, so its cost grows with the user's
// images, not with the registry.
//
// Records in the trees are shared with every frozen copy, so they are never
// changed in place once a copy may hold them: an image record carries the
// generation of the State that made it, and a change to one of an older
// generation replaces it with a copy (imageFor). Users, keys, peers and
// leases are small and replaced whole on every change.

import (
	"cmp"
	"sync/atomic"

	"github.com/google/btree"
)

// degree is the B-trees' degree: nodes of 63 to 127 items (hashicorp and
// etcd use 32 for theirs; wider nodes cost a little more to copy on write
// and save pointers per item).
const degree = 64

// generations numbers States and their frozen copies: each gets its own, so
// that a record made by one is never changed in place by another.
var generations atomic.Uint64

func nextGen() uint64 { return generations.Add(1) }

// imageRec is the registry's record of an image. Names are the strings the
// users table holds where the name is registered, so that a million images
// of a hundred thousand users hold a hundred thousand copies of the names.
type imageRec struct {
	id      string
	owner   string
	created int64 // Unix ns
	version uint64
	digest  string  // DigestLen bytes, or "" for images put by version 1 commands
	viewers []named // by name: views left (0: listed, spent)
	offline []named // by name: views spent offline, none zero; nil when none
	gen     uint64  // the State generation that made this record
}

// named is a count of a user's.
type named struct {
	name string
	n    int
}

// find returns the index of name in ns, sorted by name, and whether it is
// there.
func find(ns []named, name string) (int, bool) {
	lo, hi := 0, len(ns)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if ns[m].name < name {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(ns) && ns[lo].name == name
}

// get returns the count of name in ns.
func get(ns []named, name string) (int, bool) {
	i, ok := find(ns, name)
	if !ok {
		return 0, false
	}
	return ns[i].n, true
}

// set sets name's count in ns, adding it in order if it is not there.
func set(ns []named, name string, n int) []named {
	i, ok := find(ns, name)
	if ok {
		ns[i].n = n
		return ns
	}
	ns = append(ns, named{})
	copy(ns[i+1:], ns[i:])
	ns[i] = named{name, n}
	return ns
}

// remove removes name from ns.
func remove(ns []named, name string) []named {
	if i, ok := find(ns, name); ok {
		return append(ns[:i], ns[i+1:]...)
	}
	return ns
}

func (img *imageRec) copyAt(gen uint64) *imageRec {
	c := *img
	c.viewers = append([]named(nil), img.viewers...)
	if img.offline != nil {
		c.offline = append([]named(nil), img.offline...)
	}
	c.gen = gen
	return &c
}

// userImage is an entry of the byOwner and byViewer indexes: a user, and
// one of the images they own or are listed on, in the order lists show
// them (oldest first, ties by id).
type userImage struct {
	user    string
	created int64
	id      string
}

func compareUserImage(a, b userImage) int {
	return cmp.Or(cmp.Compare(a.user, b.user), cmp.Compare(a.created, b.created), cmp.Compare(a.id, b.id))
}

func lessUserImage(a, b userImage) bool { return compareUserImage(a, b) < 0 }

// pair is an entry of an index from one id to another: leases by image and
// by device, peers by user, the online peers that hold an image.
type pair struct{ a, b string }

func lessPair(a, b pair) bool { return cmp.Or(cmp.Compare(a.a, b.a), cmp.Compare(a.b, b.b)) < 0 }

// keyEntry is an idempotency key with its record.
type keyEntry struct {
	ref keyRef
	rec keyRecord
}

func lessKey(a, b *keyEntry) bool {
	return cmp.Or(cmp.Compare(a.ref.actor, b.ref.actor), cmp.Compare(a.ref.key, b.ref.key)) < 0
}

// keyAge orders keys by the index they took effect at, for ExpireKeys.
type keyAge struct {
	index uint64
	ref   keyRef
}

func lessKeyAge(a, b keyAge) bool {
	return cmp.Or(cmp.Compare(a.index, b.index), cmp.Compare(a.ref.actor, b.ref.actor), cmp.Compare(a.ref.key, b.ref.key)) < 0
}

// tables is every tree of a State.
type tables struct {
	users  *btree.BTreeG[*User]
	images *btree.BTreeG[*imageRec]
	keys   *btree.BTreeG[*keyEntry]
	peers  *btree.BTreeG[*Peer]
	leases *btree.BTreeG[*Lease]

	byOwner        *btree.BTreeG[userImage]
	byViewer       *btree.BTreeG[userImage]
	keysByIndex    *btree.BTreeG[keyAge]
	peersByUser    *btree.BTreeG[pair] // user, device
	online         *btree.BTreeG[pair] // user, device: the peers online
	holders        *btree.BTreeG[pair] // image, device: images offered by online peers
	leasesByImage  *btree.BTreeG[pair] // image, lease
	leasesByDevice *btree.BTreeG[pair] // device, lease
}

func newTables() tables {
	return tables{
		users:          btree.NewG(degree, func(a, b *User) bool { return a.Name < b.Name }),
		images:         btree.NewG(degree, func(a, b *imageRec) bool { return a.id < b.id }),
		keys:           btree.NewG(degree, lessKey),
		peers:          btree.NewG(degree, func(a, b *Peer) bool { return a.Device < b.Device }),
		leases:         btree.NewG(degree, func(a, b *Lease) bool { return a.ID < b.ID }),
		byOwner:        btree.NewG(degree, lessUserImage),
		byViewer:       btree.NewG(degree, lessUserImage),
		keysByIndex:    btree.NewG(degree, lessKeyAge),
		peersByUser:    btree.NewG(degree, lessPair),
		online:         btree.NewG(degree, lessPair),
		holders:        btree.NewG(degree, lessPair),
		leasesByImage:  btree.NewG(degree, lessPair),
		leasesByDevice: btree.NewG(degree, lessPair),
	}
}

// clone returns a lazy copy-on-write copy of every tree. It must not run
// concurrently with a change to t.
func (t *tables) clone() tables {
	return tables{
		users:          t.users.Clone(),
		images:         t.images.Clone(),
		keys:           t.keys.Clone(),
		peers:          t.peers.Clone(),
		leases:         t.leases.Clone(),
		byOwner:        t.byOwner.Clone(),
		byViewer:       t.byViewer.Clone(),
		keysByIndex:    t.keysByIndex.Clone(),
		peersByUser:    t.peersByUser.Clone(),
		online:         t.online.Clone(),
		holders:        t.holders.Clone(),
		leasesByImage:  t.leasesByImage.Clone(),
		leasesByDevice: t.leasesByDevice.Clone(),
	}
}

// rangeFrom calls f with the entries of t from the first at or after from
// while prefix holds for them, until f returns false.
func rangeFrom[T any](t *btree.BTreeG[T], from T, prefix func(T) bool, f func(T) bool) {
	t.AscendGreaterOrEqual(from, func(x T) bool {
		return prefix(x) && f(x)
	})
}

// seconds returns the b side of the pairs of t whose a side is a.
func seconds(t *btree.BTreeG[pair], a string) []string {
	var out []string
	rangeFrom(t, pair{a: a}, func(p pair) bool { return p.a == a }, func(p pair) bool {
		out = append(out, p.b)
		return true
	})
	return out
}
