package stego

import (
	"encoding/hex"
	"fmt"
	"slices"
	"time"
)

// Limits on the metadata. They bound the space metadata can take, which
// Capacity reserves so that a cover's capacity does not depend on who may
// view the secret.
const (
	MaxNameLen = 32        // bytes in an owner or viewer name
	MaxViewers = 64        // viewers per image
	MaxViews   = 1_000_000 // views one viewer can be given
)

// The creation time is stored as Unix nanoseconds, which span these years.
var (
	minCreated = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxCreated = time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)
)

// An ImageID names one veiled image: 128 random bits.
type ImageID [16]byte

// String returns the id as 32 hex digits.
func (id ImageID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether the id is unset.
func (id ImageID) IsZero() bool { return id == ImageID{} }

// MarshalText encodes the id as hex, so it prints as hex in JSON.
func (id ImageID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText parses 32 hex digits.
func (id *ImageID) UnmarshalText(b []byte) error {
	if len(b) != 2*len(id) {
		return fmt.Errorf("stego: image id: want %d hex digits, got %d", 2*len(id), len(b))
	}
	_, err := hex.Decode(id[:], b)
	return err
}

// Meta is what travels sealed with the secret.
type Meta struct {
	ID      ImageID        `json:"id"`
	Owner   string         `json:"owner"`
	Viewers map[string]int `json:"viewers"` // name → views granted
	Created time.Time      `json:"created"`
}

// Validate checks the rules for names and views: owner and viewer names are
// 1 to MaxNameLen bytes of letters, digits and . _ - @ +; there are at most
// MaxViewers viewers, each given 1 to MaxViews views.
func (m Meta) Validate() error {
	if err := validName("owner", m.Owner); err != nil {
		return err
	}
	if !m.Created.IsZero() && (m.Created.Before(minCreated) || m.Created.After(maxCreated)) {
		return fmt.Errorf("%w: creation time %v is outside %d to %d", ErrInvalidMeta, m.Created, minCreated.Year(), maxCreated.Year())
	}
	if len(m.Viewers) > MaxViewers {
		return fmt.Errorf("%w: %d viewers, at most %d allowed", ErrInvalidMeta, len(m.Viewers), MaxViewers)
	}
	for name, n := range m.Viewers {
		if err := validName("viewer", name); err != nil {
			return err
		}
		if n < 1 || n > MaxViews {
			return fmt.Errorf("%w: viewer %q gets %d views, want 1 to %d", ErrInvalidMeta, name, n, MaxViews)
		}
	}
	return nil
}

func validName(role, s string) error {
	if s == "" {
		return fmt.Errorf("%w: %s name is empty", ErrInvalidMeta, role)
	}
	if len(s) > MaxNameLen {
		return fmt.Errorf("%w: %s name %.40q... is %d bytes, at most %d allowed", ErrInvalidMeta, role, s, len(s), MaxNameLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '.' || c == '_' || c == '-' || c == '@' || c == '+' {
			continue
		}
		return fmt.Errorf("%w: %s name %q has %q; use letters, digits and . _ - @ +", ErrInvalidMeta, role, s, c)
	}
	return nil
}

// The metadata's binary form, sealed before the secret:
//
//	id       16 bytes
//	created  8 bytes, Unix nanoseconds, big-endian
//	owner    1 byte length, then the name
//	viewers  1 byte count, then per viewer in name order:
//	         1 byte length, the name, 3 bytes of views (big-endian)
//
// Fixed widths keep the decoder small and the worst case, maxMetaSize, known.
const maxMetaSize = 16 + 8 + 1 + MaxNameLen + 1 + MaxViewers*(1+MaxNameLen+3)

// appendMeta appends the binary form of a validated m to b.
func appendMeta(b []byte, m Meta) []byte {
	b = append(b, m.ID[:]...)
	ns := uint64(m.Created.UnixNano())
	b = append(b, byte(ns>>56), byte(ns>>48), byte(ns>>40), byte(ns>>32), byte(ns>>24), byte(ns>>16), byte(ns>>8), byte(ns))
	b = append(b, byte(len(m.Owner)))
	b = append(b, m.Owner...)
	names := make([]string, 0, len(m.Viewers))
	for n := range m.Viewers {
		names = append(names, n)
	}
	slices.Sort(names)
	b = append(b, byte(len(names)))
	for _, n := range names {
		v := m.Viewers[n]
		b = append(b, byte(len(n)))
		b = append(b, n...)
		b = append(b, byte(v>>16), byte(v>>8), byte(v))
	}
	return b
}

// decodeMeta parses the metadata at the start of b and returns the bytes
// after it. It enforces the rules of Validate, so that whatever it accepts
// could have been written by appendMeta.
func decodeMeta(b []byte) (Meta, []byte, error) {
	var m Meta
	bad := func(what string) (Meta, []byte, error) {
		return Meta{}, nil, fmt.Errorf("%w: bad metadata: %s", ErrTampered, what)
	}
	if len(b) < 16+8+1 {
		return bad("short")
	}
	copy(m.ID[:], b)
	var ns uint64
	for _, c := range b[16:24] {
		ns = ns<<8 | uint64(c)
	}
	m.Created = time.Unix(0, int64(ns)).UTC()
	b = b[24:]
	name := func() (string, bool) {
		if len(b) < 1 || len(b) < 1+int(b[0]) {
			return "", false
		}
		s := string(b[1 : 1+int(b[0])])
		b = b[1+int(b[0]):]
		return s, true
	}
	var ok bool
	if m.Owner, ok = name(); !ok {
		return bad("owner")
	}
	if len(b) < 1 {
		return bad("viewer count")
	}
	n := int(b[0])
	b = b[1:]
	if n > MaxViewers {
		return bad("viewer count")
	}
	m.Viewers = make(map[string]int, n)
	prev := ""
	for i := 0; i < n; i++ {
		v, ok := name()
		if !ok || len(b) < 3 || (i > 0 && v <= prev) {
			return bad("viewer list")
		}
		m.Viewers[v] = int(b[0])<<16 | int(b[1])<<8 | int(b[2])
		b = b[3:]
		prev = v
	}
	if err := m.Validate(); err != nil {
		return Meta{}, nil, fmt.Errorf("%w: %v", ErrTampered, err)
	}
	return m, b, nil
}
