package registry

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"fmt"
	"maps"
	"slices"
	"time"
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
// A State is not safe for concurrent use. Its owner serialises Apply in log
// order (the Store does, holding a lock; in Raft mode the FSM does) and
// guards reads against Apply.
type State struct {
	lastApplied uint64
	users       map[string]User
	images      map[string]*Image
	keys        map[keyRef]keyRecord
	peers       map[string]*Peer // by device id
	leases      map[string]*Lease
	byImage     map[string]map[string]*Lease // the same leases, by image then id
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
	return &State{
		users:   map[string]User{},
		images:  map[string]*Image{},
		keys:    map[keyRef]keyRecord{},
		peers:   map[string]*Peer{},
		leases:  map[string]*Lease{},
		byImage: map[string]map[string]*Lease{},
	}
}

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
		if rec, ok := s.keys[ref]; ok {
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
		s.keys[ref] = keyRecord{fp: fp, out: out}
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

func (s *State) registerUser(c RegisterUser) Outcome {
	if _, ok := s.users[c.Name]; ok {
		return Outcome{Err: fmt.Errorf("%w: %q", ErrUserExists, c.Name)}
	}
	s.users[c.Name] = User{Name: c.Name, PasswordHash: c.PasswordHash}
	return Outcome{}
}

func (s *State) putImage(c PutImage) Outcome {
	if _, ok := s.images[c.ID]; ok {
		return Outcome{ID: c.ID, Err: fmt.Errorf("%w: %s", ErrImageExists, c.ID)}
	}
	if _, ok := s.users[c.Owner]; !ok {
		return Outcome{ID: c.ID, Err: fmt.Errorf("%w: owner %q", ErrUnknownUser, c.Owner)}
	}
	s.images[c.ID] = &Image{
		ID:      c.ID,
		Owner:   c.Owner,
		Viewers: maps.Clone(c.Viewers),
		Created: c.Created.UTC(),
		Version: 1,
		Digest:  bytes.Clone(c.Digest),
	}
	if s.images[c.ID].Viewers == nil {
		s.images[c.ID].Viewers = map[string]int{}
	}
	return Outcome{ID: c.ID, Version: 1}
}

func (s *State) view(c View) Outcome {
	img, ok := s.images[c.ID]
	if !ok {
		return Outcome{ID: c.ID, Err: fmt.Errorf("%w: %s", ErrUnknownImage, c.ID)}
	}
	if c.Viewer == img.Owner {
		return Outcome{ID: c.ID, Version: img.Version, ByOwner: true}
	}
	left, ok := img.Viewers[c.Viewer]
	switch {
	case !ok:
		return Outcome{ID: c.ID, Err: fmt.Errorf("%w: %q is not a viewer of %s", ErrNotAllowed, c.Viewer, c.ID)}
	case left <= 0:
		return Outcome{ID: c.ID, Err: fmt.Errorf("%w: %q has spent every view of %s", ErrNoViewsLeft, c.Viewer, c.ID)}
	}
	img.Viewers[c.Viewer] = left - 1
	img.Version++
	return Outcome{ID: c.ID, Version: img.Version, ViewsLeft: left - 1}
}

func (s *State) share(c Share) Outcome {
	img, ok := s.images[c.ID]
	if !ok {
		return Outcome{ID: c.ID, Err: fmt.Errorf("%w: %s", ErrUnknownImage, c.ID)}
	}
	if c.Caller != img.Owner {
		return Outcome{ID: c.ID, Err: fmt.Errorf("%w: %q does not own %s", ErrNotOwner, c.Caller, c.ID)}
	}
	n := len(img.Viewers)
	for name := range c.Set {
		if _, ok := img.Viewers[name]; !ok {
			n++
		}
	}
	for _, name := range c.Remove {
		if _, ok := img.Viewers[name]; ok {
			n--
		}
	}
	if n > MaxViewers {
		return Outcome{ID: c.ID, Err: fmt.Errorf("%w: %s would have %d viewers, at most %d allowed", ErrInvalid, c.ID, n, MaxViewers)}
	}
	for name, views := range c.Set {
		img.Viewers[name] = s.shareLeases(img, name, views, true)
	}
	for _, name := range c.Remove {
		s.shareLeases(img, name, 0, false)
		delete(img.Viewers, name)
	}
	img.Version++
	return Outcome{ID: c.ID, Version: img.Version}
}

func (s *State) expireKeys(index uint64, c ExpireKeys) Outcome {
	if c.Before > index {
		return Outcome{Err: fmt.Errorf("%w: expire keys before %d at index %d", ErrInvalid, c.Before, index)}
	}
	maps.DeleteFunc(s.keys, func(_ keyRef, r keyRecord) bool { return r.out.Index < c.Before })
	return Outcome{}
}

func (s *State) peerUp(c PeerUp) Outcome {
	if _, ok := s.users[c.User]; !ok {
		return Outcome{Err: fmt.Errorf("%w: peer of %q", ErrUnknownUser, c.User)}
	}
	p, ok := s.peers[c.Device]
	if !ok || !p.Online || p.User != c.User {
		p = &Peer{Device: c.Device, Online: true, Since: c.At.UTC()}
		s.peers[c.Device] = p
	}
	p.User, p.Key, p.Addr, p.Holds = c.User, bytes.Clone(c.Key), c.Addr, slices.Clone(c.Holds)
	return Outcome{}
}

func (s *State) peerDown(c PeerDown) {
	if p, ok := s.peers[c.Device]; ok && p.Online {
		p.Online, p.Since, p.Holds = false, c.At.UTC(), nil
	}
}

// User returns the user registered under name.
func (s *State) User(name string) (User, bool) {
	u, ok := s.users[name]
	return u, ok
}

// Image returns a copy of the record of image id.
func (s *State) Image(id string) (Image, bool) {
	img, ok := s.images[id]
	if !ok {
		return Image{}, false
	}
	return img.clone(), true
}

func (img *Image) clone() Image {
	c := *img
	c.Viewers = maps.Clone(img.Viewers)
	c.Digest = bytes.Clone(img.Digest)
	c.Offline = maps.Clone(img.Offline)
	return c
}

// MaySee reports whether user owns image id or is listed as its viewer
// (with or without views left).
func (s *State) MaySee(user, id string) bool {
	img, ok := s.images[id]
	if !ok {
		return false
	}
	_, viewer := img.Viewers[user]
	return img.Owner == user || viewer
}

// Peer returns a copy of the record of a device.
func (s *State) Peer(device string) (Peer, bool) {
	p, ok := s.peers[device]
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
func (s *State) Peers() []Peer {
	out := make([]Peer, 0, len(s.peers))
	for _, p := range s.peers {
		out = append(out, p.clone())
	}
	slices.SortFunc(out, func(a, b Peer) int { return cmp.Or(cmp.Compare(a.User, b.User), cmp.Compare(a.Device, b.Device)) })
	return out
}

// ImagesOwnedBy returns copies of the images owner owns, oldest first (ties
// by id). It scans every image.
func (s *State) ImagesOwnedBy(owner string) []Image {
	var out []Image
	for _, img := range s.images {
		if img.Owner == owner {
			out = append(out, img.clone())
		}
	}
	slices.SortFunc(out, func(a, b Image) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// SharedWith returns the images that list viewer, with the views left to
// it (0 when spent), oldest first (ties by id). It scans every image.
func (s *State) SharedWith(viewer string) []Shared {
	var out []Shared
	for _, img := range s.images {
		if left, ok := img.Viewers[viewer]; ok {
			out = append(out, Shared{ID: img.ID, Owner: img.Owner, ViewsLeft: left, Created: img.Created})
		}
	}
	slices.SortFunc(out, func(a, b Shared) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// Lookup returns the first outcome of the command user sent with an
// idempotency key, if it took effect and the key has not expired. A
// coordinator asks before doing the work of a retried request (hiding an
// image, say), and answers from the outcome.
func (s *State) Lookup(user, key string) (Outcome, bool) {
	rec, ok := s.keys[keyRef{user, key}]
	if !ok || key == "" {
		return Outcome{}, false
	}
	out := rec.out
	out.Replayed = true
	return out, true
}

// Counts returns the number of users, images and idempotency keys held.
func (s *State) Counts() (users, images, keys int) {
	return len(s.users), len(s.images), len(s.keys)
}

// Clone returns a deep copy of s.
func (s *State) Clone() *State {
	c := &State{
		lastApplied: s.lastApplied,
		users:       maps.Clone(s.users),
		images:      make(map[string]*Image, len(s.images)),
		keys:        maps.Clone(s.keys),
		peers:       make(map[string]*Peer, len(s.peers)),
		leases:      make(map[string]*Lease, len(s.leases)),
		byImage:     make(map[string]map[string]*Lease, len(s.byImage)),
	}
	for _, l := range s.leases {
		cp := *l
		c.addLease(&cp)
	}
	for id, img := range s.images {
		cp := img.clone()
		c.images[id] = &cp
	}
	for id, p := range s.peers {
		cp := p.clone()
		c.peers[id] = &cp
	}
	return c
}
