package stego

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeyTextRoundTrips(t *testing.T) {
	k, err := NewKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	text, err := k.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	if len(text) != 64 {
		t.Fatalf("key text is %d bytes, want 64 hex digits", len(text))
	}
	back, err := ParseKey(append(append([]byte("  "), text...), '\n'))
	if err != nil {
		t.Fatal(err)
	}
	if back.ID() != k.ID() || back.master != k.master {
		t.Fatal("parsed key differs")
	}
	path := filepath.Join(t.TempDir(), "k")
	if err := os.WriteFile(path, text, 0o600); err != nil {
		t.Fatal(err)
	}
	if loaded, err := LoadKey(path); err != nil || loaded.master != k.master {
		t.Fatalf("LoadKey = %v, %v", loaded, err)
	}
}

func TestMalformedKeysAreRefused(t *testing.T) {
	for name, text := range map[string]string{
		"empty":          "",
		"short":          strings.Repeat("ab", 31),
		"long":           strings.Repeat("ab", 33),
		"not hex":        strings.Repeat("zz", 32),
		"31 raw bytes":   strings.Repeat("\x01", 31),
		"hex with a gap": strings.Repeat("ab", 16) + " " + strings.Repeat("ab", 16),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseKey([]byte(text)); !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("err = %v, want ErrInvalidKey", err)
			}
		})
	}
	if _, err := LoadKey(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("LoadKey of a missing file succeeded")
	}
}

func TestKeyPrintsItsIDNeverItsBytes(t *testing.T) {
	k := testKey(t, 7)
	text, _ := k.MarshalText()
	if s := k.String(); strings.Contains(s, string(text[:8])) || !strings.Contains(s, k.ID()) {
		t.Fatalf("String() = %q", s)
	}
	if len(k.ID()) != 16 || k.ID() == testKey(t, 8).ID() {
		t.Fatalf("ID() = %q: want 16 hex digits, different per key", k.ID())
	}
	if (Key{}).Valid() || !k.Valid() {
		t.Fatal("Valid is wrong")
	}
}
