package stego

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"testing"
)

// revealErrors are the only ways Reveal may fail on outside bytes.
var revealErrors = []error{ErrUnsupportedImage, ErrImageTooLarge, ErrNoPayload, ErrTampered}

func knownRevealError(err error) bool {
	for _, e := range revealErrors {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// FuzzReveal feeds Reveal arbitrary files, under the key of a version 2
// seed and the key of the version 1 golden images. Whatever they are, it
// must fail with one of its documented errors, or (for the seeds,
// unchanged) return the secret that was hidden.
func FuzzReveal(f *testing.F) {
	key, key1 := testKey(f, 1), testKey(f, 77)
	secret := secretOfFormat("gif", 1)
	secret1, err := os.ReadFile("testdata/v1-secret.gif")
	if err != nil {
		f.Fatal(err)
	}
	// A small cover keeps the seeds small, so that the fuzzer runs fast and
	// under its pixel limit.
	veiled, _, err := Hide(secret, testMeta(), encodeStd(rgbImage(160, 130, 1)), key, seeded(1))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(veiled)
	for _, g := range []string{"testdata/v1-generated.png", "testdata/v1-rgba16.png", "testdata/v3-compact.png"} {
		b, err := os.ReadFile(g)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(encodeStd(rgbImage(20, 20, 1)))
	f.Add(coverKinds()[14].make(33, 17, 1)) // interlaced
	f.Add(coverKinds()[18].make(16, 16, 1)) // JPEG
	f.Add(coverKinds()[20].make(16, 16, 1)) // GIF
	f.Add(rawPNGHeader(100_000, 100_000))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, k := range []Key{key, key1} {
			got, _, err := Reveal(data, k, Options{MaxPixels: 1 << 16})
			if err != nil {
				if !knownRevealError(err) {
					t.Fatalf("undocumented error: %v", err)
				}
				continue
			}
			if !bytes.Equal(got, secret) && !bytes.Equal(got, secret1) {
				t.Fatalf("revealed %d bytes that were never hidden", len(got))
			}
		}
	})
}

// FuzzRevealPixels skips the image decoders (which reject most changes to a
// PNG by its checksums) and feeds arbitrary pixels, in any of the pixel
// formats, to every format version's carriers and to the envelope: every
// outcome is "no payload", "tampered", or the one secret hidden in the
// seed.
func FuzzRevealPixels(f *testing.F) {
	key := testKey(f, 2)
	secret := secretOfFormat("gif", 2)
	veiled, _, err := Hide(secret, testMeta(), encodeStd(rgbImage(160, 130, 2)), key, seeded(2))
	if err != nil {
		f.Fatal(err)
	}
	c, err := decodeCanvas(veiled, DefaultMaxPixels, 2)
	if err != nil {
		f.Fatal(err)
	}
	// The seeds go in as they decode, in the format readPNG gives them.
	format := func(c canvas) uint8 { return uint8(slices.Index(allFormats, c.f)) }
	f.Add(uint16(c.w), format(c), c.pix)
	dense, _, err := Hide(secret, testMeta(), encodeStd(rgbImage(96, 80, 2)), key, compact(2))
	if err != nil {
		f.Fatal(err)
	}
	if c, err = decodeCanvas(dense, DefaultMaxPixels, 2); err != nil {
		f.Fatal(err)
	}
	f.Add(uint16(c.w), format(c), c.pix)
	f.Add(uint16(7), uint8(0), make([]byte, 7*4*5))
	f.Add(uint16(40), uint8(5), make([]byte, 40*8*30))
	f.Fuzz(func(t *testing.T, w uint16, format uint8, pix []byte) {
		pf := allFormats[int(format)%len(allFormats)]
		if w == 0 || len(pix) < int(w)*pf.bpp {
			return
		}
		h := len(pix) / pf.bpp / int(w)
		c := canvas{pix: pix[:int(w)*h*pf.bpp], w: int(w), h: h, f: pf}
		got, _, err := revealCanvas(&c, key, 1)
		if err != nil {
			if !errors.Is(err, ErrNoPayload) && !errors.Is(err, ErrTampered) {
				t.Fatalf("undocumented error: %v", err)
			}
			return
		}
		if !bytes.Equal(got, secret) {
			t.Fatalf("revealed %d bytes that were never hidden", len(got))
		}
	})
}

// FuzzEnvelope feeds the envelope decoder arbitrary streams. Only the
// sealed stream of the seed, changed at most in its padding, may open.
func FuzzEnvelope(f *testing.F) {
	key := testKey(f, 3)
	meta := testMeta()
	meta.Created = fixedNow()
	secret := []byte("envelope")
	stream := sealedStream(f, key, meta, secret)
	f.Add(stream)
	f.Add(stream[:headerSize])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, s []byte) {
		got, m, err := openStream(key, version2, s)
		if err != nil {
			if !errors.Is(err, ErrNoPayload) && !errors.Is(err, ErrTampered) {
				t.Fatalf("undocumented error: %v", err)
			}
			return
		}
		if !bytes.Equal(got, secret) || m.Owner != meta.Owner {
			t.Fatalf("opened %q for %q: forged", got, m.Owner)
		}
	})
}

// FuzzDecodeMeta checks that the metadata decoder accepts exactly what the
// encoder writes: anything it accepts is valid and encodes back to the same
// bytes.
func FuzzDecodeMeta(f *testing.F) {
	m := testMeta()
	m.Created = fixedNow()
	f.Add(appendMeta(nil, m))
	f.Add(appendMeta(nil, Meta{Owner: "x", Created: fixedNow()}))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, rest, err := decodeMeta(b)
		if err != nil {
			if !errors.Is(err, ErrTampered) {
				t.Fatalf("undocumented error: %v", err)
			}
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("accepted invalid metadata: %v", err)
		}
		if enc := appendMeta(nil, m); !bytes.Equal(enc, b[:len(b)-len(rest)]) {
			t.Fatalf("decoded %x, which encodes as %x", b[:len(b)-len(rest)], enc)
		}
	})
}
