// This file holds the stealth levels: what a veiled image costs in bytes
// against how hard it is to tell from a clean picture.

package stego

import (
	"fmt"
	"math"
	"strings"
)

// A Level is how hard the veiled image is to tell from a clean picture,
// paid for in its size. The zero Level means DefaultLevel.
//
// The figures below are for a JPEG photograph of 1.9 MB hidden in a
// generated cover (docs/stego.md has the table, and how it was measured):
//
//	Compact   dense format 3: the two low bits of every sample; the veiled
//	          PNG is about 1.6 times the secret, and weighted stego flags
//	          every cover (AUC 1.0)
//	Balanced  format 2 at half the capacity of its cover; about 14 times
//	          the secret, no detector of the tests better than chance
//	Stealthy  format 2 at a quarter of the capacity; about 28 times the
//	          secret, no detector better than chance, with twice the margin
//
// With a cover of the caller's own, the level picks the format (dense for
// Compact, matrix embedding otherwise) and the cover's size sets the fill.
type Level uint8

const (
	// Compact costs the fewest bytes and hides nothing from a detector:
	// for sending an image to its viewers where nobody looks for it.
	Compact Level = iota + 1
	// Balanced fills a generated cover to half its capacity.
	Balanced
	// Stealthy fills a generated cover to a quarter of its capacity.
	Stealthy
)

// DefaultLevel is the level of a zero Options.Level: see
// docs/decisions/0008-default-stealth-level.md for why.
const DefaultLevel = Balanced

// Levels lists every level, cheapest first.
var Levels = []Level{Compact, Balanced, Stealthy}

func (l Level) String() string {
	switch l {
	case Compact:
		return "compact"
	case Balanced:
		return "balanced"
	case Stealthy:
		return "stealthy"
	case 0:
		return DefaultLevel.String()
	}
	return fmt.Sprintf("level(%d)", uint8(l))
}

// ParseLevel reads a level's name; "" is DefaultLevel.
func ParseLevel(s string) (Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return DefaultLevel, nil
	case "compact":
		return Compact, nil
	case "balanced":
		return Balanced, nil
	case "stealthy":
		return Stealthy, nil
	}
	return 0, fmt.Errorf("%w: stealth level %q; want compact, balanced or stealthy", ErrInvalidLevel, s)
}

func (l Level) resolve() (Level, error) {
	switch l {
	case 0:
		return DefaultLevel, nil
	case Compact, Balanced, Stealthy:
		return l, nil
	}
	return 0, fmt.Errorf("%w: %d", ErrInvalidLevel, uint8(l))
}

// fill is the share of a generated cover's capacity a payload may take at
// this level, in format 2.
func (l Level) fill() float64 {
	if l == Stealthy {
		return defaultFill
	}
	return maxFill
}

// generatedSize is the size of the cover Hide generates at this level for
// a secret of n bytes.
func (l Level) generatedSize(n int) (w, h int) {
	if l == Compact {
		return denseCoverSize(n)
	}
	return coverSize(n, l.fill())
}

// MaxSecret is the largest secret, in bytes, that Hide accepts at the level
// without a cover: the one whose generated cover reaches the pixel limit.
func MaxSecret(l Level, opts Options) int {
	l, err := l.resolve()
	if err != nil {
		return 0
	}
	limit := int64(opts.withDefaults().MaxPixels)
	fits := func(n int) bool {
		w, h := l.generatedSize(n)
		return int64(w)*int64(h) <= limit
	}
	// The size grows with n: search for the last n that fits.
	lo, hi := 0, 1
	for fits(hi) {
		lo, hi = hi, 2*hi
		if hi > math.MaxInt32 {
			return lo
		}
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if fits(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	if lo == 0 && !fits(0) {
		return 0
	}
	return lo
}

// MaxVeiledBytes bounds the size of any PNG Hide writes into a cover it
// generates, under the pixel limit of opts: 3 bytes a pixel, a filter byte
// a row, and what deflate and the chunks add to data it cannot shorten. A
// node sizes the bodies it accepts for a view by it.
func MaxVeiledBytes(opts Options) int64 {
	px := int64(opts.withDefaults().MaxPixels)
	raw := 3*px + px/64 + 1 // a generated cover is at least 64 pixels wide
	// Deflate's stored blocks cost 5 bytes in 65,535; a Huffman block can
	// cost a little more than raw on noise: allow 1%, and the chunks.
	return raw + raw/100 + 1<<16
}
