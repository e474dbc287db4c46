package stego

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

// The files in testdata/v1-*.png were veiled by format version 1 (LSB
// replacement, commit 1ea9da8), those in testdata/v2-*.png by version 2
// (matrix embedding with LSB matching), testdata/v3-compact.png by version 3
// (the dense format of the Compact level), all with testKey(t, 77), around the
// secret testdata/v1-secret.gif. Whatever the format becomes, they must
// still open.
func TestImagesVeiledByEveryVersionStillOpen(t *testing.T) {
	key := testKey(t, 77)
	secret, err := os.ReadFile("testdata/v1-secret.gif")
	if err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 11, 22, 9, 30, 0, 123456789, time.UTC)
	for _, tc := range []struct{ file, id string }{ // the version is the file's prefix
		{"testdata/v1-generated.png", "5add9ae14a78a6b517adcbeb8ab12175"},
		{"testdata/v1-rgba16.png", "841911c9721b5333053de843522fd8c5"},
		{"testdata/v2-rgb8.png", "392461147a7cea3731ab5f5aa0e4fee5"},
		{"testdata/v2-rgba16.png", "c3b6578d1272ac2945b6ef513a21b68c"},
		{"testdata/v3-compact.png", "7c3e0d2a9b41f6e58a0c1d2e3f405162"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			veiled, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			got, meta, err := Reveal(veiled, key, Options{})
			if err != nil {
				t.Fatalf("Reveal: %v", err)
			}
			if !bytes.Equal(got, secret) {
				t.Fatalf("revealed %d bytes, not the %d-byte secret", len(got), len(secret))
			}
			if meta.ID.String() != tc.id || meta.Owner != "olivia" || meta.Viewers["alice"] != 3 ||
				meta.Viewers["bob"] != 1 || len(meta.Viewers) != 2 || !meta.Created.Equal(created) {
				t.Fatalf("meta = %+v", meta)
			}
			// Each opens by the reader of its own version, and only by it.
			c, err := decodeCanvas(veiled, DefaultMaxPixels, 2)
			if err != nil {
				t.Fatal(err)
			}
			for v, reveal := range map[string]func(*canvas, Key) ([]byte, Meta, error){"v1-": reveal1, "v2-": reveal2Test, "v3-": reveal3} {
				_, _, err := reveal(&c, key)
				if own := strings.HasPrefix(tc.file, "testdata/"+v); (err == nil) != own {
					t.Fatalf("the %s reader: %v", strings.TrimSuffix(v, "-"), err)
				}
			}
			if _, _, err := Reveal(veiled, testKey(t, 78), Options{}); err != ErrNoPayload {
				t.Fatalf("another key: err = %v, want ErrNoPayload", err)
			}
		})
	}
}
