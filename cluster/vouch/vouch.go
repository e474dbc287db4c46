package vouch

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Errors a verifier can act on.
var (
	// ErrMalformed: the text is not a statement of a version this package
	// reads.
	ErrMalformed = errors.New("vouch: malformed statement")
	// ErrForged: the signature does not check with the cloud's key, or the
	// statement is of another kind than the one asked for.
	ErrForged = errors.New("vouch: statement not signed by this cloud")
	// ErrExpired: the statement was valid, and is no longer (or is not yet).
	ErrExpired = errors.New("vouch: statement expired")
)

// Version is the format this package writes. Verify reads 1 to Version.
const Version = 1

// Limits on the fields, so that a statement fits in a header.
const (
	MaxNameLen = 64 // bytes in a user name or device id
	// MaxEncodedLen bounds the text of a statement; longer input is
	// refused unread.
	MaxEncodedLen = 512
	// Skew is how far a statement's issue time may lie in the verifier's
	// future: clocks of peers and nodes differ a little.
	Skew = 5 * time.Minute
)

// kind tells statements apart; a signature over one kind never passes for
// another.
type kind uint8

const (
	kindDevice kind = 1
	kindTicket kind = 2
	kindLease  kind = 3
)

const magic = "VV"

// Device is the cloud's word that a device key belongs to a user.
type Device struct {
	User    string
	Device  string // DeviceID(Key)
	Key     ed25519.PublicKey
	Issued  time.Time
	Expires time.Time
}

// Ticket is the cloud's word that a user may fetch one veiled image.
type Ticket struct {
	User    string
	Image   string   // 32 lowercase hex digits
	Digest  [32]byte // SHA-256 of the veiled PNG's bytes
	Issued  time.Time
	Expires time.Time
}

// Lease is the cloud's word that a user's device holds Views views of one
// image for offline use until Expires. The registry moved them there from
// the user's online count; the device spends them without the cloud and
// reports what it spent (ReportProof).
type Lease struct {
	ID      string   // the lease's id, 32 lowercase hex digits
	User    string   // the viewer
	Device  string   // the device's id (DeviceID), 32 hex digits
	Image   string   // 32 lowercase hex digits
	Digest  [32]byte // SHA-256 of the veiled PNG's bytes
	Views   int      // 1 to 1<<31-1
	Issued  time.Time
	Expires time.Time
}

// ReportProof is what a device signs with its key to report the views it
// spent of a lease: the report is the device's, and good for that lease
// and that count only.
func ReportProof(lease string, spent int) []byte {
	return fmt.Appendf(nil, "veil/lease-report/v1\x00%s\x00%d", lease, spent)
}

// DeviceID is the id of the device that holds key: the first 16 bytes of
// its SHA-256, in hex. Whoever shows a key shows its id.
func DeviceID(key ed25519.PublicKey) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:16])
}

// PossessionProof is what a device signs with its private key to show the
// cloud, when it asks to be vouched for, that it holds the key: the user it
// speaks for and the time, so that a proof is good for one user and
// for a short while.
func PossessionProof(user string, at time.Time) []byte {
	return fmt.Appendf(nil, "veil/vouch-proof/v1\x00%s\x00%d", user, at.UnixNano())
}

// SignDevice returns d signed with the cloud's key. d.Device must be
// DeviceID(d.Key).
func SignDevice(priv ed25519.PrivateKey, d Device) (string, error) {
	if err := d.validate(); err != nil {
		return "", err
	}
	b := header(kindDevice)
	b = appendStr(b, d.User)
	b = append(b, d.Key...)
	b = appendTimes(b, d.Issued, d.Expires)
	return seal(priv, b), nil
}

// VerifyDevice checks a device statement against the cloud's public key at
// time now.
func VerifyDevice(pub ed25519.PublicKey, text string, now time.Time) (Device, error) {
	r, err := open(pub, text, kindDevice)
	if err != nil {
		return Device{}, err
	}
	d := Device{User: r.str(), Key: ed25519.PublicKey(r.bytes(ed25519.PublicKeySize))}
	d.Issued, d.Expires = r.times()
	if err := r.done(); err != nil {
		return Device{}, err
	}
	d.Device = DeviceID(d.Key)
	if err := d.validate(); err != nil {
		return Device{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return d, current(d.Issued, d.Expires, now)
}

// SignTicket returns t signed with the cloud's key.
func SignTicket(priv ed25519.PrivateKey, t Ticket) (string, error) {
	if err := t.validate(); err != nil {
		return "", err
	}
	id, _ := hex.DecodeString(t.Image)
	b := header(kindTicket)
	b = appendStr(b, t.User)
	b = append(b, id...)
	b = append(b, t.Digest[:]...)
	b = appendTimes(b, t.Issued, t.Expires)
	return seal(priv, b), nil
}

// VerifyTicket checks a ticket against the cloud's public key at time now.
func VerifyTicket(pub ed25519.PublicKey, text string, now time.Time) (Ticket, error) {
	r, err := open(pub, text, kindTicket)
	if err != nil {
		return Ticket{}, err
	}
	t := Ticket{User: r.str(), Image: hex.EncodeToString(r.bytes(16))}
	copy(t.Digest[:], r.bytes(32))
	t.Issued, t.Expires = r.times()
	if err := r.done(); err != nil {
		return Ticket{}, err
	}
	if err := t.validate(); err != nil {
		return Ticket{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return t, current(t.Issued, t.Expires, now)
}

// SignLease returns l signed with the cloud's key.
func SignLease(priv ed25519.PrivateKey, l Lease) (string, error) {
	if err := l.validate(); err != nil {
		return "", err
	}
	id, _ := hex.DecodeString(l.ID)
	dev, _ := hex.DecodeString(l.Device)
	img, _ := hex.DecodeString(l.Image)
	b := header(kindLease)
	b = append(b, id...)
	b = appendStr(b, l.User)
	b = append(b, dev...)
	b = append(b, img...)
	b = append(b, l.Digest[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(l.Views))
	b = appendTimes(b, l.Issued, l.Expires)
	return seal(priv, b), nil
}

// VerifyLease checks a lease against the cloud's public key at time now.
// An expired lease is returned with ErrExpired: its holder must stop
// spending it, and still reports it.
func VerifyLease(pub ed25519.PublicKey, text string, now time.Time) (Lease, error) {
	r, err := open(pub, text, kindLease)
	if err != nil {
		return Lease{}, err
	}
	l := Lease{ID: hex.EncodeToString(r.bytes(16)), User: r.str()}
	l.Device = hex.EncodeToString(r.bytes(16))
	l.Image = hex.EncodeToString(r.bytes(16))
	copy(l.Digest[:], r.bytes(32))
	l.Views = int(binary.BigEndian.Uint32(r.bytes(4)))
	l.Issued, l.Expires = r.times()
	if err := r.done(); err != nil {
		return Lease{}, err
	}
	if err := l.validate(); err != nil {
		return Lease{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return l, current(l.Issued, l.Expires, now)
}

func (l Lease) validate() error {
	if err := validName("user", l.User); err != nil {
		return err
	}
	for what, id := range map[string]string{"lease id": l.ID, "device id": l.Device, "image id": l.Image} {
		if err := validHexID(what, id); err != nil {
			return err
		}
	}
	if l.Views < 1 || l.Views > 1<<31-1 {
		return fmt.Errorf("vouch: a lease of %d views", l.Views)
	}
	return validTimes(l.Issued, l.Expires)
}

func validHexID(what, id string) error {
	if len(id) != 32 {
		return fmt.Errorf("vouch: %s %.40q is not 32 hex digits", what, id)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return fmt.Errorf("vouch: %s %q is not lowercase hex", what, id)
		}
	}
	return nil
}

func (d Device) validate() error {
	if err := validName("user", d.User); err != nil {
		return err
	}
	if len(d.Key) != ed25519.PublicKeySize {
		return fmt.Errorf("vouch: device key is %d bytes, want %d", len(d.Key), ed25519.PublicKeySize)
	}
	if want := DeviceID(d.Key); d.Device != want {
		return fmt.Errorf("vouch: device id %.40q is not the id of its key (%s)", d.Device, want)
	}
	return validTimes(d.Issued, d.Expires)
}

func (t Ticket) validate() error {
	if err := validName("user", t.User); err != nil {
		return err
	}
	if err := validHexID("image id", t.Image); err != nil {
		return err
	}
	return validTimes(t.Issued, t.Expires)
}

func validName(what, s string) error {
	if s == "" || len(s) > MaxNameLen {
		return fmt.Errorf("vouch: %s name is %d bytes, want 1 to %d", what, len(s), MaxNameLen)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e {
			return fmt.Errorf("vouch: %s name %q has byte %#x", what, s, c)
		}
	}
	return nil
}

func validTimes(issued, expires time.Time) error {
	if issued.Unix() <= 0 || !expires.After(issued) {
		return fmt.Errorf("vouch: issued %v and expires %v: want 0 < issued < expires", issued, expires)
	}
	return nil
}

// current checks a validity window against now, allowing Skew on the
// issue time.
func current(issued, expires, now time.Time) error {
	if now.Add(Skew).Before(issued) {
		return fmt.Errorf("%w: issued %s, in the future by this clock (%s)", ErrExpired, issued.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if !now.Before(expires) {
		return fmt.Errorf("%w: expired %s", ErrExpired, expires.UTC().Format(time.RFC3339))
	}
	return nil
}

// The form of a statement, before base64url:
//
//	magic    2 bytes "VV"
//	version  1 byte
//	kind     1 byte (1 device, 2 ticket, 3 lease)
//	body     device: user, key (32 bytes), issued, expires
//	         ticket: user, image id (16 bytes), digest (32 bytes), issued, expires
//	         lease:  lease id (16 bytes), user, device id (16 bytes), image id
//	                 (16 bytes), digest (32 bytes), views (4 bytes), issued, expires
//	sig      64 bytes, Ed25519 over everything before it
//
// Strings are a 1-byte length and the bytes; times are 8-byte big-endian
// Unix seconds.
func header(k kind) []byte { return append([]byte(magic), Version, byte(k)) }

func appendStr(b []byte, s string) []byte { return append(append(b, byte(len(s))), s...) }

func appendTimes(b []byte, issued, expires time.Time) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(issued.Unix()))
	return binary.BigEndian.AppendUint64(b, uint64(expires.Unix()))
}

func seal(priv ed25519.PrivateKey, body []byte) string {
	return base64.RawURLEncoding.EncodeToString(append(body, ed25519.Sign(priv, body)...))
}

// open decodes text, checks its version, kind and signature, and returns a
// reader over its body.
func open(pub ed25519.PublicKey, text string, want kind) (*reader, error) {
	if len(text) > MaxEncodedLen {
		return nil, fmt.Errorf("%w: %d characters, at most %d", ErrMalformed, len(text), MaxEncodedLen)
	}
	raw, err := base64.RawURLEncoding.DecodeString(text)
	if err != nil {
		return nil, fmt.Errorf("%w: not base64url: %v", ErrMalformed, err)
	}
	if len(raw) < len(magic)+2+ed25519.SignatureSize || string(raw[:len(magic)]) != magic {
		return nil, fmt.Errorf("%w: not a statement", ErrMalformed)
	}
	if v := raw[len(magic)]; v < 1 || v > Version {
		return nil, fmt.Errorf("%w: version %d, this peer reads 1 to %d", ErrMalformed, v, Version)
	}
	if k := kind(raw[len(magic)+1]); k != want {
		return nil, fmt.Errorf("%w: a statement of kind %d where kind %d was asked for", ErrForged, k, want)
	}
	body, sig := raw[:len(raw)-ed25519.SignatureSize], raw[len(raw)-ed25519.SignatureSize:]
	if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, body, sig) {
		return nil, ErrForged
	}
	return &reader{b: body[len(magic)+2:]}, nil
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil || len(r.b) < n {
		r.err = fmt.Errorf("%w: truncated", ErrMalformed)
		return make([]byte, n)
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) str() string {
	n := r.bytes(1)[0]
	return string(r.bytes(int(n)))
}

func (r *reader) times() (time.Time, time.Time) {
	b := r.bytes(16)
	return time.Unix(int64(binary.BigEndian.Uint64(b)), 0).UTC(), time.Unix(int64(binary.BigEndian.Uint64(b[8:])), 0).UTC()
}

func (r *reader) done() error {
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%w: %d bytes after the end", ErrMalformed, len(r.b))
	}
	return r.err
}
