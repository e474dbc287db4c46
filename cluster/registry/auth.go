package registry

// Passwords and bearer tokens. A password is stored only as an argon2id hash
// in the PHC string form; a login returns a token that any node holding the
// key checks with one HMAC, without a look-up or a hash.

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Password rules: at least MinPasswordLen characters, at most MaxPasswordLen
// bytes, valid UTF-8. Length is the rule that matters (NIST SP 800-63B); the
// upper bound only keeps hashing cheap to refuse.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 256
)

// CheckPasswordRules returns an error wrapping ErrWeakPassword, saying which
// rule is broken, or nil.
func CheckPasswordRules(password string) error {
	switch n := utf8.RuneCountInString(password); {
	case !utf8.ValidString(password):
		return fmt.Errorf("%w: not valid UTF-8", ErrWeakPassword)
	case n < MinPasswordLen:
		return fmt.Errorf("%w: %d characters, at least %d needed", ErrWeakPassword, n, MinPasswordLen)
	case len(password) > MaxPasswordLen:
		return fmt.Errorf("%w: %d bytes, at most %d allowed", ErrWeakPassword, len(password), MaxPasswordLen)
	}
	return nil
}

// Argon2Params are the cost of a password hash. They are written into each
// hash, so a hash made with other parameters still checks after they
// change.
type Argon2Params struct {
	Time      uint32 // passes over memory
	MemoryKiB uint32
	Threads   uint8
	SaltLen   uint32 // bytes of random salt
	KeyLen    uint32 // bytes of hash
}

// DefaultArgon2 is OWASP's recommended minimum for argon2id: 19 MiB of
// memory, 2 passes, 1 thread, with a 16-byte salt and a 32-byte hash. On one
// core of a current machine a hash takes a few tens of milliseconds, which
// bounds logins per second per core; tokens keep that cost off every other
// request.
var DefaultArgon2 = Argon2Params{Time: 2, MemoryKiB: 19 * 1024, Threads: 1, SaltLen: 16, KeyLen: 32}

// Bounds on the parameters a hash may carry. A hash arrives in a replicated
// command, so its cost must be bounded before anyone checks a password
// against it.
const (
	maxArgonTime    = 16
	maxArgonMemory  = 256 * 1024 // KiB
	maxArgonThreads = 16
	minSaltLen      = 8
	maxSaltLen      = 64
	minKeyLen       = 16
	maxKeyLen       = 64
)

// Validate checks p against the bounds: Time 1 to 16, Threads 1 to 16,
// MemoryKiB 8·Threads to 256 MiB, SaltLen 8 to 64, KeyLen 16 to 64.
func (p Argon2Params) Validate() error {
	switch {
	case p.Time < 1 || p.Time > maxArgonTime:
		return fmt.Errorf("%w: argon2 time %d, want 1 to %d", ErrBadHash, p.Time, maxArgonTime)
	case p.Threads < 1 || p.Threads > maxArgonThreads:
		return fmt.Errorf("%w: argon2 threads %d, want 1 to %d", ErrBadHash, p.Threads, maxArgonThreads)
	case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > maxArgonMemory:
		return fmt.Errorf("%w: argon2 memory %d KiB, want %d to %d", ErrBadHash, p.MemoryKiB, 8*uint32(p.Threads), maxArgonMemory)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("%w: salt of %d bytes, want %d to %d", ErrBadHash, p.SaltLen, minSaltLen, maxSaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("%w: hash of %d bytes, want %d to %d", ErrBadHash, p.KeyLen, minKeyLen, maxKeyLen)
	}
	return nil
}

// HashPassword checks the password rules, then hashes the password with
// argon2id under p and a salt read from rand (crypto/rand.Reader in a node,
// a seeded reader in a test). It returns the PHC string form:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>
//
// with salt and hash in unpadded standard base64.
func HashPassword(p Argon2Params, rand io.Reader, password string) (string, error) {
	if err := CheckPasswordRules(password); err != nil {
		return "", err
	}
	if err := p.Validate(); err != nil {
		return "", err
	}
	salt := make([]byte, p.SaltLen)
	if _, err := io.ReadFull(rand, salt); err != nil {
		return "", fmt.Errorf("registry: reading salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, p.KeyLen)
	return formatHash(hash{p, salt, key}), nil
}

// CheckPassword reports whether password matches an encoded hash from
// HashPassword: nil if it does, an error wrapping ErrBadPassword if not,
// ErrBadHash if the hash cannot be used. The hashes are compared in
// constant time.
//
// A caller that finds no such user should still spend the time of one check
// (against any stored hash) before answering, so that timing does not tell
// which names exist.
func CheckPassword(encoded, password string) error {
	h, err := parseHash(encoded)
	if err != nil {
		return err
	}
	if len(password) > MaxPasswordLen {
		return ErrBadPassword
	}
	got := argon2.IDKey([]byte(password), h.salt, h.p.Time, h.p.MemoryKiB, h.p.Threads, h.p.KeyLen)
	if subtle.ConstantTimeCompare(got, h.key) != 1 {
		return ErrBadPassword
	}
	return nil
}

type hash struct {
	p    Argon2Params
	salt []byte
	key  []byte
}

var b64 = base64.RawStdEncoding

func formatHash(h hash) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, h.p.MemoryKiB, h.p.Time, h.p.Threads, b64.EncodeToString(h.salt), b64.EncodeToString(h.key))
}

// parseHash parses the PHC form strictly: it accepts exactly what
// formatHash writes, with parameters within the bounds.
func parseHash(s string) (hash, error) {
	bad := func(why string) (hash, error) {
		return hash{}, fmt.Errorf("%w: %s", ErrBadHash, why)
	}
	if len(s) > MaxHashLen {
		return bad("too long")
	}
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return bad("not an argon2id hash in PHC form")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return bad("argon2 version " + strconv.Quote(parts[2]) + ", want v=19")
	}
	var h hash
	var threads uint32
	for i, kv := range strings.Split(parts[3], ",") {
		name, val, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(val, 10, 32)
		if !ok || err != nil || i > 2 || name != [...]string{"m", "t", "p"}[i] {
			return bad("parameters " + strconv.Quote(parts[3]) + ", want m=...,t=...,p=...")
		}
		switch i {
		case 0:
			h.p.MemoryKiB = uint32(n)
		case 1:
			h.p.Time = uint32(n)
		case 2:
			threads = uint32(n)
		}
	}
	if threads > maxArgonThreads {
		return bad("too many threads")
	}
	h.p.Threads = uint8(threads)
	var err error
	if h.salt, err = b64.Strict().DecodeString(parts[4]); err != nil {
		return bad("salt is not base64")
	}
	if h.key, err = b64.Strict().DecodeString(parts[5]); err != nil {
		return bad("hash is not base64")
	}
	h.p.SaltLen, h.p.KeyLen = uint32(len(h.salt)), uint32(len(h.key))
	if err := h.p.Validate(); err != nil {
		return hash{}, err
	}
	if formatHash(h) != s {
		return bad("not in canonical form")
	}
	return h, nil
}

// Bearer tokens.
//
// A token is the unpadded base64url form of
//
//	version  1 byte (tokenVersion)
//	expires  8 bytes, Unix seconds, big-endian
//	user     1 to MaxNameLen bytes
//	mac      32 bytes, HMAC-SHA256 under the key of everything before it
//
// It is not encrypted: the user name and expiry are readable, and need not
// be secret.
const (
	tokenVersion   = 1
	MinTokenKeyLen = 32 // bytes of token key
	maxTokenLen    = (1 + 8 + MaxNameLen + sha256.Size + 2) / 3 * 4
)

// IssueToken returns a token for user that VerifyToken accepts until
// now+ttl, to the second. It panics if key is shorter than MinTokenKeyLen or
// user is not a valid name: both are the caller's bug (keys come from the
// node's configuration, names from the registry).
func IssueToken(key []byte, user string, now time.Time, ttl time.Duration) string {
	if len(key) < MinTokenKeyLen {
		panic("registry: token key shorter than MinTokenKeyLen")
	}
	if err := ValidName(user); err != nil {
		panic("registry: IssueToken: " + err.Error())
	}
	b := make([]byte, 0, 1+8+len(user)+sha256.Size)
	b = append(b, tokenVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(now.Add(ttl).Unix()))
	b = append(b, user...)
	mac := hmac.New(sha256.New, key)
	mac.Write(b)
	return base64.RawURLEncoding.EncodeToString(mac.Sum(b))
}

// VerifyToken returns the user a token was issued to. A token that is not
// this package's form fails with ErrTokenMalformed, one whose signature does
// not match key (or any token, if key is shorter than MinTokenKeyLen) with
// ErrTokenForged, and a genuine one at or past its expiry with
// ErrTokenExpired. The signature is checked, in constant time, before
// anything inside is trusted.
func VerifyToken(key []byte, token string, now time.Time) (string, error) {
	if len(token) > maxTokenLen {
		return "", fmt.Errorf("%w: %d characters, at most %d", ErrTokenMalformed, len(token), maxTokenLen)
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil {
		return "", fmt.Errorf("%w: not unpadded base64url", ErrTokenMalformed)
	}
	if len(b) < 1+8+1+sha256.Size {
		return "", fmt.Errorf("%w: %d bytes, too short", ErrTokenMalformed, len(b))
	}
	body, sum := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
	if len(key) < MinTokenKeyLen {
		return "", fmt.Errorf("%w: key too short to verify with", ErrTokenForged)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write(body)
	if !hmac.Equal(mac.Sum(nil), sum) {
		return "", ErrTokenForged
	}
	if body[0] != tokenVersion {
		return "", fmt.Errorf("%w: version %d, want %d", ErrTokenMalformed, body[0], tokenVersion)
	}
	user := string(body[9:])
	if err := ValidName(user); err != nil {
		return "", fmt.Errorf("%w: %w", ErrTokenMalformed, err)
	}
	exp := int64(binary.BigEndian.Uint64(body[1:9]))
	if now.Unix() >= exp {
		return "", fmt.Errorf("%w: at %v", ErrTokenExpired, time.Unix(exp, 0).UTC())
	}
	return user, nil
}
