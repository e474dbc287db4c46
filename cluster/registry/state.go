package registry

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/google/btree"
)

// User is a registered user.
type User struct {
	Name         string
	PasswordHash string // argon2id, PHC form; see CheckPassword
}

// Image is the registry's record of one veiled image.
type Image struct {
	ID      string         // 32 hex digits, the id sealed in the PNG
	Owner   string         // always sees the image, spending nothing
	Viewers map[string]int // each listed viewer's views left; 0 means listed but spent
	Created time.Time      // stamped by the coordinator, in the PutImage
	Version uint64         // 1 at put, one more at each view spent, share applied, lease taken or returned
	Digest  []byte         // SHA-256 of the veiled PNG; nil for images put by version 1 commands
	Offline map[string]int // views each viewer spent offline, as its devices reported; nil when none
}

// Peer is the registry's record of a user's device: where it was last
// reached and what it offers. Records stay when a device goes offline, so
// that the directory can say since when.
type Peer struct {
	User   string
	Device string
	Key    []byte
	Addr   string
	Holds  []string // image ids, in increasing order; none while offline
	Online bool
	Since  time.Time // online since, or offline since
}

// Shared is one image as a viewer sees it listed.
type Shared struct {
	ID        string
	Owner     string
	ViewsLeft int
	Created   time.Time
}

// Outcome is what applying a command did. Err is nil when the command took
// effect, or wraps one of the package's errors when it was refused; a
// refused command changed nothing but LastApplied.
type Outcome struct {
	Index    uint64 // the log index the command took effect at (for a replay, the first one)
	Err      error
	Replayed bool // the idempotency key was known: this is the first outcome, and nothing was applied now

	ID        string // the image a put, view, share or lease was about
	Version   uint64 // the image's version after the put, view, share or lease
	ViewsLeft int    // a view or lease: the viewer's views left online after it (0 for the owner)
	ByOwner   bool   // a view: the viewer is the owner, and nothing was spent
	Leased    int    // take_lease: the views actually leased
	Returned  int    // return_lease: the views given back to the online count
}

// State is the registry: users, images with their views left, offline
// leases, peers, and the idempotency table. It changes only through Apply,
// which is deterministic: the same commands at the same indexes give
// byte-identical Snapshots on every node. It holds no clock, no randomness
// and no I/O.
//
// Every read a node makes is answered from an index in time that grows
// with its answer, not with the registry (see index.go), and Freeze takes a
// point-in-time copy in constant time, for a snapshot written while Apply
// goes on.
//
// A State is not safe for concurrent use. Its owner serialises Apply in log
// order (the Store does, holding a lock; in Raft mode the FSM does) and
// guards reads against Apply. A frozen copy may be read concurrently with
// changes to the State it was taken from.
type State struct {
	lastApplied uint64
	gen         uint64 // this State's generation: see imageFor
	t           tables
}

// keyRef names an idempotency key. Keys are scoped by the user who sent the
// command (the owner of a put, the viewer of a view, the caller of a share,
// the new user of a registration), so that two users who pick the same key
// never see each other's outcomes.
type keyRef struct {
	actor, key string
}

// keyRecord is a key's first outcome and the fingerprint of the command
// that produced it.
type keyRecord struct {
	fp  [sha256.Size]byte
	out Outcome
}

// NewState returns an empty registry.
func NewState() *State {
	return &State{gen: nextGen(), t: newTables()}
}

// Freeze returns a copy of s as it is now, in time independent of its size.
// The copy and s share their trees copy-on-write: each may be read, and s
// changed, while the other is in use, from different goroutines. Freeze
// itself must not run concurrently with a change to s.
func (s *State) Freeze() *State {
	c := &State{lastApplied: s.lastApplied, gen: nextGen(), t: s.t.clone()}
	s.gen = nextGen()
	return c
}

// Clone returns a copy of s that may be changed apart from it. It is
// Freeze: the copy is copy-on-write.
func (s *State) Clone() *State { return s.Freeze() }

// LastApplied returns the index of the last command applied, refused or not.
func (s *State) LastApplied() uint64 { return s.lastApplied }

// Apply applies cmd as the command at log index, which must be above
// LastApplied (indexes may skip, as Raft's do for its own entries). It never
// panics. The rules, in order:
//
//   - An index at or below LastApplied: ErrAlreadyApplied, nothing changes.
//   - Otherwise LastApplied becomes index, whatever follows.
//   - A nil command, a pointer to one, or one Validate refuses: its error
//     (ErrInvalid, ErrBadHash), and nothing else changes.
//   - A command whose idempotency key its sender has used before: the
//     first outcome, with Replayed set, if the command is the same one; if
//     it differs, ErrKeyReused. Either way nothing else changes. What the
//     node chose is left out of the comparison: a put is the same one when
//     owner and viewers are (a retry that reached another coordinator may
//     carry a new id and time; the outcome says which id stands), and a
//     registration when the name is (a retry hashes with a new salt; the
//     first hash stands).
//   - Otherwise the command's own rules (see each type). A command refused
//     by them changes nothing else, and does not record its key, so that a
//     retry is judged afresh.
//   - A command that took effect records its key, if it has one, with its
//     outcome, until an ExpireKeys passes its index.
func (s *State) Apply(index uint64, cmd Command) Outcome {
	if index <= s.lastApplied {
		return Outcome{Index: index, Err: fmt.Errorf("%w: index %d, last applied %d", ErrAlreadyApplied, index, s.lastApplied)}
	}
	s.lastApplied = index
	if err := checkType(cmd); err != nil {
		return Outcome{Index: index, Err: err}
	}
	if err := cmd.Validate(); err != nil {
		return Outcome{Index: index, Err: err}
	}
	actor, key := cmd.idem()
	ref := keyRef{actor, key}
	var fp [sha256.Size]byte
	if key != "" {
		fp = fingerprint(cmd)
		if rec, ok := s.key(ref); ok {
			if rec.fp != fp {
				return Outcome{Index: index, Err: fmt.Errorf("%w: %q by %q took effect at index %d", ErrKeyReused, key, actor, rec.out.Index)}
			}
			out := rec.out
			out.Replayed = true
			return out
		}
	}
	var out Outcome
	switch c := cmd.(type) {
	case RegisterUser:
		out = s.registerUser(c)
	case PutImage:
		out = s.putImage(c)
	case View:
		out = s.view(c)
	case Share:
		out = s.share(c)
	case ExpireKeys:
		out = s.expireKeys(index, c)
	case PeerUp:
		out = s.peerUp(c)
	case PeerDown:
		s.peerDown(c)
	case TakeLease:
		out = s.takeLease(c)
	case ReturnLease:
		out = s.returnLease(c)
	case Barrier:
	}
	out.Index = index
	if out.Err == nil && key != "" {
		s.t.keys.ReplaceOrInsert(&keyEntry{ref: ref, rec: keyRecord{fp: fp, out: out}})
		s.t.keysByIndex.ReplaceOrInsert(keyAge{index: index, ref: ref})
	}
	return out
}

// skip advances LastApplied to index, as a refused command would, for an
// entry that holds no command this package can decode.
func (s *State) skip(index uint64) {
	s.lastApplied = max(s.lastApplied, index)
}

// fingerprint identifies what the sender asked for, leaving out what the
// node chose: for a put the id and the creation time, for a registration
// the hash (its salt is random), for a lease its times (the id stays in:
// the outcome does not name the lease, so a retry must name it). A retry
// that a node handled afresh, with a new id or a new salt, is still the
// same request. Fingerprints are part of
// the replicated state (snapshots hold them), so changing what one covers
// changes the snapshot version.
func fingerprint(cmd Command) [sha256.Size]byte {
	b := []byte{byte(cmd.Kind())}
	switch c := cmd.(type) {
	case PutImage:
		b = appendStr(b, c.Owner)
		b = appendViewers(b, c.Viewers)
	case RegisterUser:
		b = appendStr(b, c.Name)
	case TakeLease:
		b = appendID(b, c.ID)
		b = appendID(b, c.Image)
		b = appendStr(b, c.Viewer)
		b = appendID(b, c.Device)
		b = appendU32(b, uint32(c.Views))
	default:
		b = cmd.appendBody(b)
	}
	return sha256.Sum256(b)
}

func (s *State) key(ref keyRef) (keyRecord, bool) {
	e, ok := s.t.keys.Get(&keyEntry{ref: ref})
	if !ok {
		return keyRecord{}, false
	}
	return e.rec, true
}

func (s *State) registerUser(c RegisterUser) Outcome {
	if _, ok := s.t.users.Get(&User{Name: c.Name}); ok {
		return Outcome{Err: fmt.Errorf("%w: %q", ErrUserExists, c.Name)}
	}
	s.t.users.ReplaceOrInsert(&User{Name: c.Name, PasswordHash: c.PasswordHash})
	return Outcome{}
}

// name returns the users table's copy of name when it is registered, so
// that records share it, and name otherwise.
func (s *State) name(name string) string {
	if u, ok := s.t.users.Get(&User{Name: name}); ok {
		return u.Name
	}
	return name
}

// image returns the record of image id, to read only.
func (s *State) image(id string) (*imageRec, bool) {
	return s.t.images.Get(&imageRec{id: id})
}

// imageFor returns the record of img to change: img itself if this State's
// generation made it, or else a copy of it put in its place (img may be
// held by a frozen copy).
func (s *State) imageFor(img *imageRec) *imageRec {
	if img.gen == s.gen {
		return img
	}
	c := img.copyAt(s.gen)
	s.t.images.ReplaceOrInsert(c)
	return c
}

func (s *State) putImage(c PutImage) Outcome {
	if _, ok := s.image(c.ID); ok {
		return Outcome{ID: c.ID, Err: fmt.Errorf("%w: %s", ErrImageExists, c.ID)}
	}
	owner, ok := s.t.users.Get(&User{Name: c.Owner})
	if !ok {
		return Outcome{ID: c.ID, Err: fmt.Errorf("%w: owner %q", ErrUnknownUser, c.Owner)}
	}
	img := &imageRec{
		id:      c.ID,
		owner:   owner.Name,
		created: c.Created.UnixNano(),
		version: 1,
		digest:  string(c.Digest),
		viewers: make([]named, 0, len(c.Viewers)),
		gen:     s.gen,
	}
	for _, name := range slices.Sorted(maps.Keys(c.Viewers)) {
		img.viewers = append(img.viewers, named{s.name(name), c.Viewers[name]})
	}
	s.insertImage(img)
	return Outcome{ID: c.ID, Version: 1}
}

// insertImage adds img, new, with its index entries.
func (s *State) insertImage(img *imageRec) {
	s.t.images.ReplaceOrInsert(img)
	s.t.byOwner.ReplaceOrInsert(userImage{img.owner, img.created, img.id})
	for _, v := range img.viewers {
		s.t.byViewer.ReplaceOrInsert(userImage{v.name, img.created, img.id})
	}
}

// indexImages builds the owner and viewer indexes of imgs, all new, the
// owner index on another goroutine. Each is built in its own order: the
// keys grouped by user, users in order, each group sorted, so that every
// insert lands at the right edge of the tree, where the path is in cache.
// Images come in id order, and ids are random: inserted as they come, a
// million images' keys went to random places of three million and took
// four times as long.
func (s *State) indexImages(imgs []*imageRec) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		groups := map[string][]userImage{}
		for _, img := range imgs {
			groups[img.owner] = append(groups[img.owner], userImage{img.owner, img.created, img.id})
		}
		insertGrouped(s.t.byOwner, groups)
	}()
	groups := map[string][]userImage{}
	for _, img := range imgs {
		for _, v := range img.viewers {
			groups[v.name] = append(groups[v.name], userImage{v.name, img.created, img.id})
		}
	}
	insertGrouped(s.t.byViewer, groups)
	<-done
}

// insertGrouped inserts the keys of groups, by user, into t in its order.
func insertGrouped(t *btree.BTreeG[userImage], groups map[string][]userImage) {
	for _, user := range slices.Sorted(maps.Keys(groups)) {
		g := groups[user]
		slices.SortFunc(g, compareUserImage)
		for _, k := range g {
			t.ReplaceOrInsert(k)
		}
	}
}

func (s *State) view(c View) Outcome {
	img, ok := s.image(c.ID)
	if !ok {
		return Outcome{ID: c.ID, Err: fmt.Errorf("%w: %s", ErrUnknownImage, c.ID)}
	}
	if c.Viewer == img.owner {
		return Outcome{ID: c.ID, Version: img.version, ByOwner: true}
	}
	i, ok := find(img.viewers, c.Viewer)
	switch {
	case !ok:
		return Outcome{ID: c.ID, Err: fmt.Errorf("%w: %q is not a viewer of %s", ErrNotAllowed, c.Viewer, c.ID)}
	case img.viewers[i].n <= 0:
		return Outcome{ID: c.ID, Err: fmt.Errorf("%w: %q has spent every view of %s", ErrNoViewsLeft, c.Viewer, c.ID)}
	}
	img = s.imageFor(img)
	img.viewers[i].n--
	img.version++
	return Outcome{ID: c.ID, Version: img.version, ViewsLeft: img.viewers[i].n}
}

func (s *State) share(c Share) Outcome {
	img, ok := s.image(c.ID)
	if !ok {
		return Outcome{ID: c.ID, Err: fmt.Errorf("%w: %s", ErrUnknownImage, c.ID)}
	}
	if c.Caller != img.owner {
		return Outcome{ID: c.ID, Err: fmt.Errorf("%w: %q does not own %s", ErrNotOwner, c.Caller, c.ID)}
	}
	n := len(img.viewers)
	for name := range c.Set {
		if _, ok := find(img.viewers, name); !ok {
			n++
		}
	}
	for _, name := range c.Remove {
		if _, ok := find(img.viewers, name); ok {
			n--
		}
	}
	if n > MaxViewers {
		return Outcome{ID: c.ID, Err: fmt.Errorf("%w: %s would have %d viewers, at most %d allowed", ErrInvalid, c.ID, n, MaxViewers)}
	}
	img = s.imageFor(img)
	for _, name := range slices.Sorted(maps.Keys(c.Set)) {
		if _, listed := find(img.viewers, name); !listed {
			name = s.name(name)
			s.t.byViewer.ReplaceOrInsert(userImage{name, img.created, img.id})
		}
		img.viewers = set(img.viewers, name, s.shareLeases(img, name, c.Set[name], true))
	}
	for _, name := range c.Remove {
		if _, listed := find(img.viewers, name); !listed {
			continue
		}
		s.shareLeases(img, name, 0, false)
		img.viewers = remove(img.viewers, name)
		s.t.byViewer.Delete(userImage{name, img.created, img.id})
	}
	img.version++
	return Outcome{ID: c.ID, Version: img.version}
}

func (s *State) expireKeys(index uint64, c ExpireKeys) Outcome {
	if c.Before > index {
		return Outcome{Err: fmt.Errorf("%w: expire keys before %d at index %d", ErrInvalid, c.Before, index)}
	}
	for {
		a, ok := s.t.keysByIndex.Min()
		if !ok || a.index >= c.Before {
			break
		}
		s.t.keysByIndex.DeleteMin()
		s.t.keys.Delete(&keyEntry{ref: a.ref})
	}
	return Outcome{}
}

func (s *State) peerUp(c PeerUp) Outcome {
	u, ok := s.t.users.Get(&User{Name: c.User})
	if !ok {
		return Outcome{Err: fmt.Errorf("%w: peer of %q", ErrUnknownUser, c.User)}
	}
	p := &Peer{Device: c.Device, User: u.Name, Key: bytes.Clone(c.Key), Addr: c.Addr, Holds: slices.Clone(c.Holds), Online: true, Since: c.At.UTC()}
	if old, ok := s.t.peers.Get(&Peer{Device: c.Device}); ok {
		if old.Online && old.User == c.User {
			p.Since = old.Since
		}
		s.unindexPeer(old)
	}
	s.indexPeer(p)
	return Outcome{}
}

func (s *State) peerDown(c PeerDown) {
	p, ok := s.t.peers.Get(&Peer{Device: c.Device})
	if !ok || !p.Online {
		return
	}
	s.unindexPeer(p)
	d := *p
	d.Online, d.Since, d.Holds = false, c.At.UTC(), nil
	s.indexPeer(&d)
}

// indexPeer puts p, new, in the peers table and its indexes.
func (s *State) indexPeer(p *Peer) {
	s.t.peers.ReplaceOrInsert(p)
	s.t.peersByUser.ReplaceOrInsert(pair{p.User, p.Device})
	if p.Online {
		s.t.online.ReplaceOrInsert(pair{p.User, p.Device})
		for _, id := range p.Holds {
			s.t.holders.ReplaceOrInsert(pair{id, p.Device})
		}
	}
}

// unindexPeer takes p's index entries out; its record stays until
// indexPeer replaces it.
func (s *State) unindexPeer(p *Peer) {
	s.t.peersByUser.Delete(pair{p.User, p.Device})
	s.t.online.Delete(pair{p.User, p.Device})
	for _, id := range p.Holds {
		s.t.holders.Delete(pair{id, p.Device})
	}
}

// User returns the user registered under name.
func (s *State) User(name string) (User, bool) {
	u, ok := s.t.users.Get(&User{Name: name})
	if !ok {
		return User{}, false
	}
	return *u, true
}

// Image returns a copy of the record of image id.
func (s *State) Image(id string) (Image, bool) {
	img, ok := s.image(id)
	if !ok {
		return Image{}, false
	}
	return img.export(), true
}

func (img *imageRec) export() Image {
	out := Image{
		ID:      img.id,
		Owner:   img.owner,
		Viewers: make(map[string]int, len(img.viewers)),
		Created: time.Unix(0, img.created).UTC(),
		Version: img.version,
	}
	if img.digest != "" {
		out.Digest = []byte(img.digest)
	}
	for _, v := range img.viewers {
		out.Viewers[v.name] = v.n
	}
	if len(img.offline) > 0 {
		out.Offline = make(map[string]int, len(img.offline))
		for _, v := range img.offline {
			out.Offline[v.name] = v.n
		}
	}
	return out
}

// MaySee reports whether user owns image id or is listed as its viewer
// (with or without views left).
func (s *State) MaySee(user, id string) bool {
	img, ok := s.image(id)
	if !ok {
		return false
	}
	_, viewer := find(img.viewers, user)
	return img.owner == user || viewer
}

// ViewsLeft returns the views left to viewer of image id, and whether the
// viewer is listed.
func (s *State) ViewsLeft(id, viewer string) (int, bool) {
	img, ok := s.image(id)
	if !ok {
		return 0, false
	}
	return get(img.viewers, viewer)
}

// Peer returns a copy of the record of a device.
func (s *State) Peer(device string) (Peer, bool) {
	p, ok := s.t.peers.Get(&Peer{Device: device})
	if !ok {
		return Peer{}, false
	}
	return p.clone(), true
}

func (p *Peer) clone() Peer {
	c := *p
	c.Key = bytes.Clone(p.Key)
	c.Holds = slices.Clone(p.Holds)
	return c
}

// Peers returns copies of every device's record, by user then device id.
// It reads every peer; OnlinePeers, PeersOf and HoldersOf read what they
// return.
func (s *State) Peers() []Peer {
	out := make([]Peer, 0, s.t.peers.Len())
	s.t.peersByUser.Ascend(func(k pair) bool {
		p, _ := s.t.peers.Get(&Peer{Device: k.b})
		out = append(out, p.clone())
		return true
	})
	return out
}

// OnlinePeers returns copies of the records of the devices online, by
// user then device id.
func (s *State) OnlinePeers() []Peer {
	out := make([]Peer, 0, s.t.online.Len())
	s.t.online.Ascend(func(k pair) bool {
		p, _ := s.t.peers.Get(&Peer{Device: k.b})
		out = append(out, p.clone())
		return true
	})
	return out
}

// OnlineCount returns how many devices are online.
func (s *State) OnlineCount() int { return s.t.online.Len() }

// PeersOf returns copies of user's devices' records, by device id.
func (s *State) PeersOf(user string) []Peer { return s.peersIn(seconds(s.t.peersByUser, user)) }

// HoldersOf returns copies of the records of the online devices that offer
// image id, by device id.
func (s *State) HoldersOf(id string) []Peer { return s.peersIn(seconds(s.t.holders, id)) }

// peersIn returns copies of the records of devices, in their order.
func (s *State) peersIn(devices []string) []Peer {
	var out []Peer
	for _, d := range devices {
		p, _ := s.t.peers.Get(&Peer{Device: d})
		out = append(out, p.clone())
	}
	return out
}

// ImagesOwnedBy returns copies of the images owner owns, oldest first (ties
// by id).
func (s *State) ImagesOwnedBy(owner string) []Image {
	var out []Image
	rangeFrom(s.t.byOwner, userImage{user: owner, created: math.MinInt64}, func(k userImage) bool { return k.user == owner }, func(k userImage) bool {
		img, _ := s.image(k.id)
		out = append(out, img.export())
		return true
	})
	return out
}

// SharedWith returns the images that list viewer, with the views left to
// it (0 when spent), oldest first (ties by id).
func (s *State) SharedWith(viewer string) []Shared {
	var out []Shared
	rangeFrom(s.t.byViewer, userImage{user: viewer, created: math.MinInt64}, func(k userImage) bool { return k.user == viewer }, func(k userImage) bool {
		img, _ := s.image(k.id)
		left, _ := get(img.viewers, viewer)
		out = append(out, Shared{ID: img.id, Owner: img.owner, ViewsLeft: left, Created: time.Unix(0, img.created).UTC()})
		return true
	})
	return out
}

// Lookup returns the first outcome of the command user sent with an
// idempotency key, if it took effect and the key has not expired. A
// coordinator asks before doing the work of a retried request (hiding an
// image, say), and answers from the outcome.
func (s *State) Lookup(user, key string) (Outcome, bool) {
	rec, ok := s.key(keyRef{user, key})
	if !ok || key == "" {
		return Outcome{}, false
	}
	out := rec.out
	out.Replayed = true
	return out, true
}

// Counts returns the number of users, images and idempotency keys held.
func (s *State) Counts() (users, images, keys int) {
	return s.t.users.Len(), s.t.images.Len(), s.t.keys.Len()
}
