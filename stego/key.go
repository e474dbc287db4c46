package stego

import (
	"bytes"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
)

// KeySize is the length of a master key in bytes.
const KeySize = 32

// A Key is a 32-byte master key together with what is derived from it once:
// its public id and the seed of the pixel layout. The zero Key is not valid.
//
// Its String method prints the id only, so a Key can be logged safely.
type Key struct {
	master [KeySize]byte
	id     [8]byte
	layout [32]byte // the seed of the version 1 walk
	order  [32]byte // the seed of the version 2 order
	ok     bool
}

// NewKey draws a new master key from r (crypto/rand.Reader when r is nil).
func NewKey(r io.Reader) (Key, error) {
	if r == nil {
		r = rand.Reader
	}
	var m [KeySize]byte
	if _, err := io.ReadFull(r, m[:]); err != nil {
		return Key{}, fmt.Errorf("stego: drawing a key: %w", err)
	}
	return keyFrom(m), nil
}

// ParseKey reads a master key written by MarshalText: 64 hexadecimal digits,
// surrounding white space ignored. Exactly 32 raw bytes are accepted too.
func ParseKey(b []byte) (Key, error) {
	if len(b) == KeySize {
		return keyFrom([KeySize]byte(b)), nil
	}
	t := bytes.TrimSpace(b)
	if len(t) != 2*KeySize {
		return Key{}, fmt.Errorf("%w: want %d hex digits, got %d bytes", ErrInvalidKey, 2*KeySize, len(t))
	}
	var m [KeySize]byte
	if _, err := hex.Decode(m[:], t); err != nil {
		return Key{}, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	return keyFrom(m), nil
}

// LoadKey reads a key file written by `veil keygen`.
func LoadKey(path string) (Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Key{}, fmt.Errorf("stego: reading key: %w", err)
	}
	k, err := ParseKey(b)
	if err != nil {
		return Key{}, fmt.Errorf("%w (in %s)", err, path)
	}
	return k, nil
}

func keyFrom(m [KeySize]byte) Key {
	k := Key{master: m, ok: true}
	// Separate HKDF labels keep the id, the layout and the per-image keys
	// independent: publishing the id reveals nothing about the others.
	copy(k.id[:], derive(m[:], nil, "veil/stego key id", len(k.id)))
	copy(k.layout[:], derive(m[:], nil, "veil/stego v1 layout", len(k.layout)))
	copy(k.order[:], derive(m[:], nil, "veil/stego v2 order", len(k.order)))
	return k
}

func derive(secret, salt []byte, info string, n int) []byte {
	b, err := hkdf.Key(sha256.New, secret, salt, info, n)
	if err != nil {
		panic("stego: hkdf: " + err.Error()) // only for n > 255*32
	}
	return b
}

// ID is a short public name of the key: 16 hex digits derived from it.
func (k Key) ID() string { return hex.EncodeToString(k.id[:]) }

// Valid reports whether k was made by NewKey, ParseKey or LoadKey.
func (k Key) Valid() bool { return k.ok }

// String prints the key id, never the key.
func (k Key) String() string { return "stego.Key(" + k.ID() + ")" }

// MarshalText returns the key as 64 hex digits, the key file format.
func (k Key) MarshalText() ([]byte, error) {
	if !k.ok {
		return nil, fmt.Errorf("%w: zero key", ErrInvalidKey)
	}
	return []byte(hex.EncodeToString(k.master[:])), nil
}
