package registry

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/secure/precis"
)

// Limits on what a command may carry. The name rules and the viewer limits
// are stego's (stego.MaxNameLen, MaxViewers, MaxViews), so that every image
// record can be sealed in a PNG and every sealed record can be registered.
const (
	MaxNameLen     = 32        // bytes in a user name
	MaxViewers     = 64        // viewers per image
	MaxViews       = 1_000_000 // views one viewer can hold
	MaxKeyLen      = 128       // bytes in an idempotency key
	MaxHashLen     = 256       // bytes in an encoded password hash
	MaxCommandSize = 16 << 10  // bytes in an encoded command; larger input is refused unread
	MaxHolds       = 512       // images one peer offers in one registration
	MaxAddrLen     = 255       // bytes in a peer's address
	DigestLen      = 32        // bytes in an image digest (SHA-256)
	PeerKeyLen     = 32        // bytes in a peer's public key (Ed25519)
)

// Creation times must fall in the years that Unix nanoseconds span, the form
// they are encoded in.
var (
	minCreated = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxCreated = time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Kind is the type of a Command. The numbers are part of the encoding.
type Kind uint8

// The command kinds.
const (
	KindRegisterUser Kind = 1
	KindPutImage     Kind = 2
	KindView         Kind = 3
	KindShare        Kind = 4
	KindExpireKeys   Kind = 5
	KindBarrier      Kind = 6
	KindPeerUp       Kind = 7
	KindPeerDown     Kind = 8
	KindTakeLease    Kind = 9
	KindReturnLease  Kind = 10
)

// String returns the kind's name as in logs: "register_user", ...
func (k Kind) String() string {
	switch k {
	case KindRegisterUser:
		return "register_user"
	case KindPutImage:
		return "put_image"
	case KindView:
		return "view"
	case KindShare:
		return "share"
	case KindExpireKeys:
		return "expire_keys"
	case KindBarrier:
		return "barrier"
	case KindPeerUp:
		return "peer_up"
	case KindPeerDown:
		return "peer_down"
	case KindTakeLease:
		return "take_lease"
	case KindReturnLease:
		return "return_lease"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// A Command is the only way the registry changes. The implementations are
// the types of this package: RegisterUser, PutImage, View, Share,
// ExpireKeys, Barrier, PeerUp, PeerDown, TakeLease and ReturnLease. A
// command carries every input its effect depends on (names, times, keys),
// so applying the same commands in the same order gives the same state on
// every node.
type Command interface {
	// Kind returns the command's type.
	Kind() Kind
	// Validate checks the command's fields against the rules, without
	// looking at any state. Errors wrap ErrInvalid (or ErrBadHash).
	Validate() error

	appendBody(b []byte) []byte
	// idem returns whose key it is and the key; key is "" if the command
	// carries none.
	idem() (actor, key string)
}

// RegisterUser adds a user. PasswordHash is the output of HashPassword,
// never the password. A taken name fails with ErrUserExists.
type RegisterUser struct {
	Name         string
	PasswordHash string
	IdemKey      string // optional
}

// PutImage records a new image: ID is the id sealed in the PNG (32 lowercase
// hex digits, stego.ImageID.String()), Owner a registered user, Viewers the
// views each viewer is given (1 to MaxViews; the owner is not listed),
// Created the time the coordinator stamped, Digest the SHA-256 of the
// veiled PNG's bytes (empty in commands of version 1), with which a peer
// checks a copy it fetched from another. A known ID fails with
// ErrImageExists, an unregistered owner with ErrUnknownUser.
type PutImage struct {
	ID      string
	Owner   string
	Viewers map[string]int
	Created time.Time
	Digest  []byte // DigestLen bytes, or none
	IdemKey string // optional
}

// View spends one view of image ID by Viewer. The owner views without
// spending; a listed viewer with views left spends one; anyone else is
// denied with ErrNotAllowed, a listed viewer with none left with
// ErrNoViewsLeft, and an unknown image with ErrUnknownImage.
type View struct {
	ID      string
	Viewer  string
	IdemKey string // optional
}

// Share changes who may view image ID. Only the owner (Caller) may: Set
// lists viewers and the views each has left from now on (0 to MaxViews;
// viewers not yet listed are added), Remove drops viewers (removing one not
// listed is no change). A name may not be in both, nor be the owner's, and
// the image may end with at most MaxViewers viewers.
//
// Views a viewer leased to a device (TakeLease) are part of its allowance,
// and the owner takes back only views left online. Setting N views for a
// viewer whose unrevoked leases on the image hold L views keeps the leases
// if N >= L, leaving N-L views online; if N < L it revokes every one of
// them (their unspent views are forfeited when they come back) and leaves N
// online. Removing a viewer revokes its leases on the image.
type Share struct {
	ID      string
	Caller  string
	Set     map[string]int
	Remove  []string
	IdemKey string // optional
}

// ExpireKeys forgets the idempotency keys recorded at log indexes below
// Before; a retry with such a key runs again. The coordinator proposes it
// now and then (for example every few thousand entries, with Before a
// window behind the log's end), so that every node evicts the same keys at
// the same point of the log. Before may not exceed the index the command is
// applied at.
type ExpireKeys struct {
	Before uint64
}

// PeerUp records that User's device is online (or still is) at Addr,
// offering copies of the images Holds (ids in increasing order). Key is the
// device's public key, and Device its id (the key's hash, as the vouch
// package makes it; the registry does not check that). At is the time the
// coordinator stamped. A peer that was offline becomes online since At; one
// that was online keeps its time. The node sends one only when something
// changed: heartbeats that change nothing stay on the coordinator. An
// unregistered user fails with ErrUnknownUser.
type PeerUp struct {
	User   string
	Device string // 32 lowercase hex digits
	Key    []byte // PeerKeyLen bytes
	Addr   string
	Holds  []string
	At     time.Time
}

// PeerDown records that a device went offline at At: it left, or its
// heartbeats stopped. An unknown or already offline device is no change.
type PeerDown struct {
	Device string
	At     time.Time
}

// Barrier changes nothing. A new coordinator proposes one as the first entry
// of its epoch: entries it inherited from older epochs are committed only by
// committing an entry of its own (the rule of Raft's section 5.4.2), and
// its outcome tells the coordinator that its state is current.
type Barrier struct{}

func (RegisterUser) Kind() Kind { return KindRegisterUser }
func (PutImage) Kind() Kind     { return KindPutImage }
func (View) Kind() Kind         { return KindView }
func (Share) Kind() Kind        { return KindShare }
func (ExpireKeys) Kind() Kind   { return KindExpireKeys }
func (Barrier) Kind() Kind      { return KindBarrier }
func (PeerUp) Kind() Kind       { return KindPeerUp }
func (PeerDown) Kind() Kind     { return KindPeerDown }

func (c RegisterUser) idem() (string, string) { return c.Name, c.IdemKey }
func (c PutImage) idem() (string, string)     { return c.Owner, c.IdemKey }
func (c View) idem() (string, string)         { return c.Viewer, c.IdemKey }
func (c Share) idem() (string, string)        { return c.Caller, c.IdemKey }
func (c ExpireKeys) idem() (string, string)   { return "", "" }
func (c Barrier) idem() (string, string)      { return "", "" }
func (c PeerUp) idem() (string, string)       { return "", "" }
func (c PeerDown) idem() (string, string)     { return "", "" }

// ValidName checks the rule every name in a command meets: 1 to
// MaxNameLen bytes of letters, digits and . _ - @ +. It is the rule of
// every log ever written, and Decode holds replayed commands to it alone:
// a log written before names were canonical may hold "Ann" and "ann" as
// two users, and replays as it was written. A name a new command
// introduces must also be canonical (CanonicalName, ValidateNew).
func ValidName(s string) error {
	if s == "" {
		return fmt.Errorf("%w: name is empty", ErrInvalid)
	}
	if len(s) > MaxNameLen {
		return fmt.Errorf("%w: name %.40q is %d bytes, at most %d allowed", ErrInvalid, s, len(s), MaxNameLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '.' || c == '_' || c == '-' || c == '@' || c == '+' {
			continue
		}
		return fmt.Errorf("%w: name %q has %q; use letters, digits and . _ - @ +", ErrInvalid, s, c)
	}
	return nil
}

// MaxNameInput bounds a name as a client types it, before CanonicalName
// maps it: a full-width letter is 3 bytes of UTF-8 and maps to one, so a
// name of MaxNameLen bytes may arrive longer. Longer input is refused
// before it is mapped.
const MaxNameInput = 8 * MaxNameLen

// CanonicalName returns the one form under which the registry knows a
// user name as a client typed it, or an error wrapping ErrInvalid. The
// name is enforced by RFC 8265's UsernameCaseMapped profile (full-width
// and half-width forms mapped to their ordinary ones, lower case, Unicode
// NFC; golang.org/x/text/secure/precis), and the result must then meet
// ValidName. So "Alice", "ALICE" and "ａｌｉｃｅ" (full width) are all
// "alice": one user.
//
// What it does not catch: names of different letters that look alike.
// "aIice" (a capital i) is not "alice" (a small L), nor "rn" "m"; since a
// name is ASCII, no Cyrillic or Greek look-alike gets through, but
// confusable ASCII does. A name that is not ASCII once mapped (an accented
// letter, say) is refused, as ValidName always did.
func CanonicalName(s string) (string, error) {
	if len(s) > MaxNameInput {
		return "", fmt.Errorf("%w: name of %d bytes, at most %d allowed", ErrInvalid, len(s), MaxNameInput)
	}
	c, err := precis.UsernameCaseMapped.String(s)
	if err != nil {
		return "", fmt.Errorf("%w: name %.40q is not a user name (%v); use letters, digits and . _ - @ +", ErrInvalid, s, err)
	}
	if err := ValidName(c); err != nil {
		return "", err
	}
	return c, nil
}

// ValidateNew checks what a command must meet when it is made, beyond
// Validate: every name it introduces is canonical (CanonicalName): the
// name a registration takes, the viewers a put lists and those a share
// sets. The names of its actor (owner, caller, viewer) are not checked:
// they come from the registry, which may hold names registered before
// names were canonical. Decode and Apply never call it, so that a log
// written before keeps replaying as it was written; a coordinator calls
// it before it proposes a command.
func ValidateNew(c Command) error {
	if err := checkType(c); err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return err
	}
	var names []string
	switch c := c.(type) {
	case RegisterUser:
		names = []string{c.Name}
	case PutImage:
		names = slices.Collect(maps.Keys(c.Viewers))
	case Share:
		names = slices.Collect(maps.Keys(c.Set))
	}
	for _, name := range names {
		if canon, err := CanonicalName(name); err != nil || canon != name {
			return fmt.Errorf("%w: name %q is not in canonical form; send %q", ErrInvalid, name, canon)
		}
	}
	return nil
}

// ValidImageID checks that id is 32 lowercase hex digits, the form of
// stego.ImageID.String().
func ValidImageID(id string) error {
	if len(id) != 32 {
		return fmt.Errorf("%w: image id %.40q is %d characters, want 32 hex digits", ErrInvalid, id, len(id))
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return fmt.Errorf("%w: image id %q has %q; want lowercase hex digits", ErrInvalid, id, c)
		}
	}
	return nil
}

// validKey checks an idempotency key: empty (none), or 1 to MaxKeyLen bytes
// of printable ASCII other than space.
func validKey(k string) error {
	if len(k) > MaxKeyLen {
		return fmt.Errorf("%w: idempotency key is %d bytes, at most %d allowed", ErrInvalid, len(k), MaxKeyLen)
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c < 0x21 || c > 0x7e {
			return fmt.Errorf("%w: idempotency key has byte %#x; use printable ASCII without spaces", ErrInvalid, c)
		}
	}
	return nil
}

func validViews(role, name string, n, min int) error {
	if n < min || n > MaxViews {
		return fmt.Errorf("%w: %s %q gets %d views, want %d to %d", ErrInvalid, role, name, n, min, MaxViews)
	}
	return nil
}

func validCreated(t time.Time) error { return validTime("creation time", t) }

// validTime checks that t can be encoded in Unix nanoseconds.
func validTime(what string, t time.Time) error {
	if t.Before(minCreated) || !t.Before(maxCreated) {
		return fmt.Errorf("%w: %s %v is outside %d to %d", ErrInvalid, what, t, minCreated.Year(), maxCreated.Year()-1)
	}
	return nil
}

// Validate checks the name, the hash and the key.
func (c RegisterUser) Validate() error {
	if err := ValidName(c.Name); err != nil {
		return err
	}
	if len(c.PasswordHash) > MaxHashLen {
		return fmt.Errorf("%w: %d bytes, at most %d allowed", ErrBadHash, len(c.PasswordHash), MaxHashLen)
	}
	if _, err := parseHash(c.PasswordHash); err != nil {
		return err
	}
	return validKey(c.IdemKey)
}

// Validate checks the id, the names, the views, the time and the key.
func (c PutImage) Validate() error {
	if err := ValidImageID(c.ID); err != nil {
		return err
	}
	if err := ValidName(c.Owner); err != nil {
		return fmt.Errorf("owner: %w", err)
	}
	if len(c.Viewers) > MaxViewers {
		return fmt.Errorf("%w: %d viewers, at most %d allowed", ErrInvalid, len(c.Viewers), MaxViewers)
	}
	for name, n := range c.Viewers {
		if err := ValidName(name); err != nil {
			return fmt.Errorf("viewer: %w", err)
		}
		if name == c.Owner {
			return fmt.Errorf("%w: the owner %q is listed as a viewer; the owner always sees the image", ErrInvalid, name)
		}
		if err := validViews("viewer", name, n, 1); err != nil {
			return err
		}
	}
	if err := validCreated(c.Created); err != nil {
		return err
	}
	if len(c.Digest) != 0 && len(c.Digest) != DigestLen {
		return fmt.Errorf("%w: digest is %d bytes, want %d or none", ErrInvalid, len(c.Digest), DigestLen)
	}
	return validKey(c.IdemKey)
}

// Validate checks the id, the name and the key.
func (c View) Validate() error {
	if err := ValidImageID(c.ID); err != nil {
		return err
	}
	if err := ValidName(c.Viewer); err != nil {
		return fmt.Errorf("viewer: %w", err)
	}
	return validKey(c.IdemKey)
}

// Validate checks the id, the names, the views and the key. Whether the
// caller owns the image, and how many viewers the image ends with, depend
// on the state and are checked by Apply.
func (c Share) Validate() error {
	if err := ValidImageID(c.ID); err != nil {
		return err
	}
	if err := ValidName(c.Caller); err != nil {
		return fmt.Errorf("caller: %w", err)
	}
	if len(c.Set) > MaxViewers || len(c.Remove) > MaxViewers {
		return fmt.Errorf("%w: %d viewers set and %d removed, at most %d each", ErrInvalid, len(c.Set), len(c.Remove), MaxViewers)
	}
	for name, n := range c.Set {
		if err := ValidName(name); err != nil {
			return fmt.Errorf("viewer: %w", err)
		}
		if name == c.Caller {
			return fmt.Errorf("%w: the owner %q cannot be a viewer; the owner always sees the image", ErrInvalid, name)
		}
		if err := validViews("viewer", name, n, 0); err != nil {
			return err
		}
	}
	seen := make(map[string]bool, len(c.Remove))
	for _, name := range c.Remove {
		if err := ValidName(name); err != nil {
			return fmt.Errorf("viewer: %w", err)
		}
		if _, ok := c.Set[name]; ok {
			return fmt.Errorf("%w: viewer %q is both set and removed", ErrInvalid, name)
		}
		if seen[name] {
			return fmt.Errorf("%w: viewer %q is removed twice", ErrInvalid, name)
		}
		seen[name] = true
	}
	return validKey(c.IdemKey)
}

// ValidDevice checks a device id: 32 lowercase hex digits.
func ValidDevice(id string) error {
	if err := ValidImageID(id); err != nil {
		return fmt.Errorf("%w: device id %.40q is not 32 lowercase hex digits", ErrInvalid, id)
	}
	return nil
}

// ValidAddr checks a peer's address: host:port, 3 to MaxAddrLen bytes of
// printable ASCII without spaces, with a port from 1 to 65535.
func ValidAddr(addr string) error {
	if len(addr) < 3 || len(addr) > MaxAddrLen {
		return fmt.Errorf("%w: address %.60q is %d bytes, want 3 to %d", ErrInvalid, addr, len(addr), MaxAddrLen)
	}
	for i := 0; i < len(addr); i++ {
		if c := addr[i]; c < 0x21 || c > 0x7e {
			return fmt.Errorf("%w: address %q has byte %#x", ErrInvalid, addr, c)
		}
	}
	i := strings.LastIndexByte(addr, ':')
	port, err := strconv.Atoi(addr[i+1:])
	if i <= 0 || err != nil || port < 1 || port > 65535 || addr[i+1] == '+' || addr[i+1] == '0' {
		return fmt.Errorf("%w: address %q is not host:port with a port from 1 to 65535", ErrInvalid, addr)
	}
	return nil
}

// Validate checks the names, the key, the address, the images and the time.
func (c PeerUp) Validate() error {
	if err := ValidName(c.User); err != nil {
		return fmt.Errorf("user: %w", err)
	}
	if err := ValidDevice(c.Device); err != nil {
		return err
	}
	if len(c.Key) != PeerKeyLen {
		return fmt.Errorf("%w: peer key is %d bytes, want %d", ErrInvalid, len(c.Key), PeerKeyLen)
	}
	if err := ValidAddr(c.Addr); err != nil {
		return err
	}
	if len(c.Holds) > MaxHolds {
		return fmt.Errorf("%w: a peer offers %d images, at most %d in one registration", ErrInvalid, len(c.Holds), MaxHolds)
	}
	for i, id := range c.Holds {
		if err := ValidImageID(id); err != nil {
			return err
		}
		if i > 0 && id <= c.Holds[i-1] {
			return fmt.Errorf("%w: offered image %s after %s: want increasing order, no repeats", ErrInvalid, id, c.Holds[i-1])
		}
	}
	return validCreated(c.At)
}

// Validate checks the device and the time.
func (c PeerDown) Validate() error {
	if err := ValidDevice(c.Device); err != nil {
		return err
	}
	return validCreated(c.At)
}

// Validate accepts every ExpireKeys; whether Before is in range depends on
// the index it is applied at.
func (c ExpireKeys) Validate() error { return nil }

// Validate accepts every Barrier.
func (c Barrier) Validate() error { return nil }

// checkType refuses nil and pointers to commands: a command is a value, and
// its methods are never called through a nil pointer.
func checkType(c Command) error {
	switch c.(type) {
	case RegisterUser, PutImage, View, Share, ExpireKeys, Barrier, PeerUp, PeerDown, TakeLease, ReturnLease:
		return nil
	case nil:
		return fmt.Errorf("%w: nil command", ErrInvalid)
	}
	return fmt.Errorf("%w: command of type %T; pass the value, not a pointer", ErrInvalid, c)
}

// Version is the encoding version, the first byte of every encoded command.
// Decode reads every version from 1: version 1 has no peer commands and no
// digest in a put; version 2 has no lease commands.
const Version = 3

// Encode returns the binary form of a valid command:
//
//	version  1 byte (Version)
//	kind     1 byte
//	body, by kind (strings are a 2-byte length and the bytes; integers
//	are big-endian; an id is its 16 bytes; a viewer map is a 4-byte count
//	and, in name order, each name and its views as 4 bytes):
//	  register_user  name, password hash, key
//	  put_image      id, owner, created (8 bytes, Unix ns), viewers,
//	                 digest (a string of 0 or 32 bytes; not in version 1), key
//	  view           id, viewer, key
//	  share          id, caller, set (a viewer map), remove (a 4-byte
//	                 count and the names in order), key
//	  expire_keys    before (8 bytes)
//	  barrier        nothing
//	  peer_up        user, device (16 bytes), key (32 bytes), address,
//	                 at (8 bytes, Unix ns), holds (a 4-byte count and the
//	                 ids, 16 bytes each, in order)
//	  peer_down      device (16 bytes), at (8 bytes, Unix ns)
//	  take_lease     lease id (16 bytes), image id (16 bytes), viewer,
//	                 device (16 bytes), views (4 bytes), issued (8 bytes,
//	                 Unix ns), expires (8 bytes, Unix ns), key (from
//	                 version 3)
//	  return_lease   lease id (16 bytes), viewer, spent (4 bytes), key
//	                 (from version 3)
//
// The form is canonical: in each version a command has exactly one
// encoding, and Decode refuses any other. Encode refuses a command that Validate refuses.
func Encode(c Command) ([]byte, error) {
	if err := checkType(c); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	b := c.appendBody([]byte{Version, byte(c.Kind())})
	if len(b) > MaxCommandSize {
		return nil, fmt.Errorf("%w: encodes to %d bytes, at most %d allowed", ErrInvalid, len(b), MaxCommandSize)
	}
	return b, nil
}

// Decode parses the output of Encode. Anything else (an unknown version or
// kind, truncated or trailing bytes, names out of order, a field Validate
// refuses, more than MaxCommandSize bytes) yields an error wrapping
// ErrMalformed.
func Decode(b []byte) (Command, error) {
	if len(b) > MaxCommandSize {
		return nil, fmt.Errorf("%w: command is %d bytes, at most %d allowed", ErrMalformed, len(b), MaxCommandSize)
	}
	r := &reader{b: b}
	v := r.u8()
	if r.err == nil && (v < 1 || v > Version) {
		return nil, fmt.Errorf("%w: command version %d, this node reads 1 to %d", ErrMalformed, v, Version)
	}
	var c Command
	switch k := Kind(r.u8()); k {
	case KindRegisterUser:
		c = RegisterUser{Name: r.str(), PasswordHash: r.str(), IdemKey: r.str()}
	case KindPutImage:
		p := PutImage{ID: r.id(), Owner: r.str()}
		p.Created = time.Unix(0, int64(r.u64())).UTC()
		p.Viewers = r.viewers()
		if v >= 2 {
			if d := r.bytes(int(r.u16())); len(d) > 0 {
				p.Digest = bytes.Clone(d)
			}
		}
		p.IdemKey = r.str()
		c = p
	case KindView:
		c = View{ID: r.id(), Viewer: r.str(), IdemKey: r.str()}
	case KindShare:
		s := Share{ID: r.id(), Caller: r.str(), Set: r.viewers()}
		s.Remove = r.names()
		s.IdemKey = r.str()
		c = s
	case KindExpireKeys:
		c = ExpireKeys{Before: r.u64()}
	case KindBarrier:
		c = Barrier{}
	case KindPeerUp:
		if v < 2 {
			r.fail("peer_up in a command of version %d", v)
			break
		}
		p := PeerUp{User: r.str(), Device: r.id(), Key: bytes.Clone(r.bytes(PeerKeyLen)), Addr: r.str()}
		p.At = time.Unix(0, int64(r.u64())).UTC()
		p.Holds = r.ids()
		c = p
	case KindPeerDown:
		if v < 2 {
			r.fail("peer_down in a command of version %d", v)
			break
		}
		c = PeerDown{Device: r.id(), At: time.Unix(0, int64(r.u64())).UTC()}
	case KindTakeLease:
		if v < 3 {
			r.fail("take_lease in a command of version %d", v)
			break
		}
		t := TakeLease{ID: r.id(), Image: r.id(), Viewer: r.str(), Device: r.id(), Views: int(r.u32())}
		t.Issued = time.Unix(0, int64(r.u64())).UTC()
		t.Expires = time.Unix(0, int64(r.u64())).UTC()
		t.IdemKey = r.str()
		c = t
	case KindReturnLease:
		if v < 3 {
			r.fail("return_lease in a command of version %d", v)
			break
		}
		c = ReturnLease{ID: r.id(), Viewer: r.str(), Spent: int(r.u32()), IdemKey: r.str()}
	default:
		if r.err == nil {
			r.fail("unknown command kind %d", k)
		}
	}
	r.done()
	if r.err != nil {
		return nil, r.err
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return c, nil
}

func (c RegisterUser) appendBody(b []byte) []byte {
	b = appendStr(b, c.Name)
	b = appendStr(b, c.PasswordHash)
	return appendStr(b, c.IdemKey)
}

func (c PutImage) appendBody(b []byte) []byte {
	b = appendID(b, c.ID)
	b = appendStr(b, c.Owner)
	b = appendU64(b, uint64(c.Created.UnixNano()))
	b = appendViewers(b, c.Viewers)
	b = appendStr(b, string(c.Digest))
	return appendStr(b, c.IdemKey)
}

func (c View) appendBody(b []byte) []byte {
	b = appendID(b, c.ID)
	b = appendStr(b, c.Viewer)
	return appendStr(b, c.IdemKey)
}

func (c Share) appendBody(b []byte) []byte {
	b = appendID(b, c.ID)
	b = appendStr(b, c.Caller)
	b = appendViewers(b, c.Set)
	names := slices.Sorted(slices.Values(c.Remove))
	b = appendU32(b, uint32(len(names)))
	for _, n := range names {
		b = appendStr(b, n)
	}
	return appendStr(b, c.IdemKey)
}

func (c ExpireKeys) appendBody(b []byte) []byte { return appendU64(b, c.Before) }

func (c PeerUp) appendBody(b []byte) []byte {
	b = appendStr(b, c.User)
	b = appendID(b, c.Device)
	b = append(b, c.Key...)
	b = appendStr(b, c.Addr)
	b = appendU64(b, uint64(c.At.UnixNano()))
	return appendIDs(b, c.Holds)
}

func (c PeerDown) appendBody(b []byte) []byte {
	b = appendID(b, c.Device)
	return appendU64(b, uint64(c.At.UnixNano()))
}

// appendIDs appends a count and validated ids, in the order given.
func appendIDs(b []byte, ids []string) []byte {
	b = appendU32(b, uint32(len(ids)))
	for _, id := range ids {
		b = appendID(b, id)
	}
	return b
}

// ids reads a list of ids; an empty list is nil. Order is checked by
// Validate.
func (r *reader) ids() []string {
	n := r.count(16)
	var out []string
	for i := 0; i < n && r.err == nil; i++ {
		out = append(out, r.id())
	}
	return out
}
func (c Barrier) appendBody(b []byte) []byte { return b }

// appendID appends the 16 bytes of a validated id.
func appendID(b []byte, id string) []byte {
	var raw [16]byte
	hex.Decode(raw[:], []byte(id))
	return append(b, raw[:]...)
}

func (r *reader) id() string {
	return hex.EncodeToString(r.bytes(16))
}

func appendViewers(b []byte, m map[string]int) []byte {
	b = appendU32(b, uint32(len(m)))
	for _, name := range slices.Sorted(maps.Keys(m)) {
		b = appendStr(b, name)
		b = appendU32(b, uint32(m[name]))
	}
	return b
}

// viewers reads a viewer map, refusing names out of order or repeated.
func (r *reader) viewers() map[string]int {
	n := r.count(2 + 4)
	m := make(map[string]int, n)
	prev := ""
	for i := 0; i < n && r.err == nil; i++ {
		name, views := r.str(), r.u32()
		if r.err == nil && i > 0 && name <= prev {
			r.fail("viewer %q after %q: names must be in increasing order", name, prev)
		}
		if views > MaxViews {
			r.fail("viewer %q gets %d views, at most %d allowed", name, views, MaxViews)
		}
		m[name], prev = int(views), name
	}
	return m
}

// names reads a list of names in increasing order; an empty list is nil.
func (r *reader) names() []string {
	n := r.count(2)
	var out []string
	for i := 0; i < n && r.err == nil; i++ {
		name := r.str()
		if r.err == nil && i > 0 && name <= out[i-1] {
			r.fail("name %q after %q: names must be in increasing order", name, out[i-1])
		}
		out = append(out, name)
	}
	return out
}
