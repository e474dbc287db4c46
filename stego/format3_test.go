package stego

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"strings"
	"testing"
)

func compact(seed uint64) Options {
	o := seeded(seed)
	o.Level = Compact
	return o
}

// The dense format round-trips over every kind of cover, at its capacity
// and at its smallest, changes nothing but the two low bits of R, G and B,
// and keeps the cover's depth and alpha.
func TestDenseFormatRoundTripsOverEveryCoverKind(t *testing.T) {
	key := testKey(t, 1)
	const w, h = 157, 101 // odd on purpose
	for i, kind := range coverKinds() {
		for _, size := range []int{denseCapacity(w, h), minSecret} {
			t.Run(fmt.Sprintf("%s, %d bytes", kind.name, size), func(t *testing.T) {
				cover := kind.make(w, h, uint64(i))
				secret := secretPNG(t, size, uint64(i))
				veiled, meta, err := Hide(secret, testMeta(), cover, key, compact(uint64(i)))
				if err != nil {
					t.Fatalf("Hide: %v", err)
				}
				got, gotMeta, err := Reveal(veiled, key, Options{})
				if err != nil || !bytes.Equal(got, secret) {
					t.Fatalf("Reveal = %d bytes, %v", len(got), err)
				}
				if fmt.Sprint(gotMeta) != fmt.Sprint(meta) {
					t.Fatalf("meta = %+v, want %+v", gotMeta, meta)
				}
				checkOnlyLowTwoBits(t, decode(t, cover), decode(t, veiled), kind.depth)
				c, err := decodeCanvas(veiled, DefaultMaxPixels, 2)
				if err != nil {
					t.Fatal(err)
				}
				if c.f.alpha != kind.alpha || c.f.depth != kind.depth && kind.depth == 16 {
					t.Errorf("veiled canvas is %s for a %d-bit cover with alpha %v", c.f.name, kind.depth, kind.alpha)
				}
				if _, _, err := reveal2(&c, key, 2); !errors.Is(err, ErrNoPayload) {
					t.Errorf("the version 2 reader: %v, want ErrNoPayload", err)
				}
				if _, _, err := reveal1(&c, key); !errors.Is(err, ErrNoPayload) {
					t.Errorf("the version 1 reader: %v, want ErrNoPayload", err)
				}
			})
		}
	}
}

// checkOnlyLowTwoBits fails unless the veiled image differs from the cover
// only in the two low bits of R, G and B (of the low byte at 16 bits).
func checkOnlyLowTwoBits(t *testing.T, cover, veiled image.Image, depth int) {
	t.Helper()
	a, b := samples(cover), samples(veiled)
	if len(a) != len(b) {
		t.Fatalf("veiled image has %d pixels, cover %d", len(b), len(a))
	}
	shift := 16 - depth
	changed := 0
	for i := range a {
		ca := [4]uint16{a[i].R, a[i].G, a[i].B, a[i].A}
		cb := [4]uint16{b[i].R, b[i].G, b[i].B, b[i].A}
		if ca[3] != cb[3] {
			t.Fatalf("pixel %d: alpha changed from %#04x to %#04x", i, ca[3], cb[3])
		}
		for ch := 0; ch < 3; ch++ {
			va, vb := ca[ch]>>shift, cb[ch]>>shift
			if va>>2 != vb>>2 {
				t.Fatalf("pixel %d channel %d: %#04x became %#04x, beyond the two low bits", i, ch, va, vb)
			}
			if va != vb {
				changed++
			}
		}
	}
	if changed == 0 {
		t.Fatal("no sample changed: nothing was hidden")
	}
}

func TestDenseCapacityIsExact(t *testing.T) {
	key := testKey(t, 3)
	cover := encodeStd(rgbImage(200, 150, 9))
	room, err := Capacity(cover, Options{Level: Compact})
	if err != nil || room != denseCapacity(200, 150) {
		t.Fatalf("Capacity = %d, %v; want %d", room, err, denseCapacity(200, 150))
	}
	if room < 5*CapacityOf(200, 150)/2 {
		t.Fatalf("dense capacity %d is not well above format 2's %d", room, CapacityOf(200, 150))
	}
	big := Meta{Owner: strings.Repeat("o", MaxNameLen), Viewers: map[string]int{}}
	for i := 0; i < MaxViewers; i++ {
		big.Viewers[fmt.Sprintf("%0*d", MaxNameLen, i)] = MaxViews
	}
	for _, meta := range []Meta{testMeta(), big} {
		secret := secretPNG(t, room, 1)
		veiled, _, err := Hide(secret, meta, cover, key, compact(4))
		if err != nil {
			t.Fatalf("%d viewers: %v", len(meta.Viewers), err)
		}
		if got, _, err := Reveal(veiled, key, Options{}); err != nil || !bytes.Equal(got, secret) {
			t.Fatalf("%d viewers: got %d bytes, %v", len(meta.Viewers), len(got), err)
		}
	}
	_, _, err = Hide(secretPNG(t, room+1, 1), testMeta(), cover, key, compact(5))
	if !errors.Is(err, ErrPayloadTooLarge) || !strings.Contains(err.Error(), commas(room)+" bytes at the compact level") {
		t.Fatalf("a byte over: err = %v", err)
	}
}

// A flipped bit anywhere in the dense stream is "no payload" (the header)
// or "tampered" (the body), never a wrong secret.
func TestFlippedBitInTheDenseStreamIsNeverAWrongSecret(t *testing.T) {
	key := testKey(t, 5)
	secret := secretOfFormat("gif", 1)
	veiled, meta, err := Hide(secret, testMeta(), encodeStd(rgbImage(200, 150, 3)), key, compact(1))
	if err != nil {
		t.Fatal(err)
	}
	c, err := decodeCanvas(veiled, DefaultMaxPixels, 2)
	if err != nil {
		t.Fatal(err)
	}
	blocks := denseStreamLen(len(appendMeta(nil, meta))+len(secret)) / denseBlockBytes
	w := newWalk(key, c.blocks())
	low := c.f.lowBytes()
	tally := map[error]int{}
	for i := 0; i < blocks; i++ {
		b := w.block(i)
		for _, j := range []int{0, 17, 47} { // a bit of the first, a middle and the last sample
			p := b*c.f.blockLen() + (j/3)*c.f.bpp + low[j%3]
			c.pix[p] ^= 2
			_, _, err := revealCanvas(&c, key, 2)
			c.pix[p] ^= 2
			switch {
			case errors.Is(err, ErrNoPayload) && i < denseHeader:
				tally[ErrNoPayload]++
			case errors.Is(err, ErrTampered) && i >= denseHeader:
				tally[ErrTampered]++
			case i == blocks-1 && err == nil && j == 47:
				// The last block's end may be padding, which nothing reads.
			default:
				t.Fatalf("stream block %d, sample %d flipped: err = %v", i, j, err)
			}
		}
	}
	if tally[ErrNoPayload] == 0 || tally[ErrTampered] == 0 {
		t.Fatalf("outcomes %v", tally)
	}
}

// A compact image is about the size of its secret: six bits of payload a
// pixel in a cover whose own bits cost little.
func TestCompactImageIsAFewTimesTheSecret(t *testing.T) {
	secret := secretPNG(t, 300_000, 1)
	veiled, _, err := Hide(secret, testMeta(), nil, testKey(t, 1), compact(1))
	if err != nil {
		t.Fatal(err)
	}
	if r := float64(len(veiled)) / float64(len(secret)); r > 2 {
		t.Fatalf("compact image is %.2f times its secret, want at most 2", r)
	}
}
