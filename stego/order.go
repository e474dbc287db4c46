// This file holds the order in which format version 2 uses the samples of a
// picture: textured places first, flat places last, and keyed within that.

package stego

import (
	"math/bits"
	"math/rand/v2"
)

// Version 2 hides bits only in the samples of half the pixels, one colour of
// a checkerboard (which colour is a bit of the key): the carriers. The other
// half never changes, so a carrier's texture, measured on its four
// neighbours, is the same before and after embedding, and the reader ranks
// the carriers exactly as the writer did without being told anything. That
// is what lets the payload prefer textured places (the idea of HUGO, WOW and
// S-UNIWARD: a change is hardest to see where the picture is busy) and still
// be read back exactly and quickly.
//
// The rank of a carrier is its texture level, the bit length of the sum over
// R, G and B of the range (max - min) of its neighbours' values; levels run
// from 0 (flat) to 10. Carriers are used from the highest level down. Within
// a level they come in a keyed order: the picture is cut into about
// orderRuns runs of consecutive pixels, the runs are shuffled by ChaCha8
// seeded from the key, and a level's carriers are taken run by run in that
// order, by address within a run (so that embedding reads memory a run at a
// time).
const (
	orderRuns = 4096
	levels    = 11
)

// A carrierOrder lists the carrier pixels (their index y*w+x) in the order
// their samples are used. Each carrier holds three elements, its R, G and B
// samples, taken in that order.
type carrierOrder []uint32

// isCarrier reports whether the pixel at x, y is a carrier under the key.
func isCarrier(x, y int, k Key) bool { return (x+y+int(k.order[0]&1))&1 == 0 }

// carriersOf is the number of carriers of a w×h picture, for every key: the
// smaller colour of the checkerboard.
func carriersOf(w, h int) int { return w * h / 2 }

// texture returns the texture level of the carrier at x, y: it reads only
// the four neighbours, which are never carriers.
func (c *canvas) texture(x, y int) uint8 {
	f := c.f
	sb := f.depth / 8 // the high byte of a 16-bit sample comes first
	var lo, hi [3]uint8
	lo, hi = [3]uint8{255, 255, 255}, [3]uint8{0, 0, 0}
	n := 0
	take := func(i int) {
		p := c.pix[i*f.bpp:]
		for ch := 0; ch < 3; ch++ {
			v := p[ch*sb]
			lo[ch], hi[ch] = min(lo[ch], v), max(hi[ch], v)
		}
		n++
	}
	i := y*c.w + x
	if x > 0 {
		take(i - 1)
	}
	if x+1 < c.w {
		take(i + 1)
	}
	if y > 0 {
		take(i - c.w)
	}
	if y+1 < c.h {
		take(i + c.w)
	}
	if n == 0 {
		return 0
	}
	t := uint(hi[0]-lo[0]) + uint(hi[1]-lo[1]) + uint(hi[2]-lo[2])
	return uint8(bits.Len(t))
}

// newCarrierOrder ranks the carriers of c under the key.
func newCarrierOrder(c *canvas, k Key) carrierOrder {
	w, h := c.w, c.h
	n := w * h
	// level[i] is the level of pixel i when it is a carrier.
	level := make([]uint8, n)
	var count [levels]int
	for y := 0; y < h; y++ {
		for x := (y + int(k.order[0]&1)) & 1; x < w; x += 2 {
			l := c.texture(x, y)
			level[y*w+x] = l
			count[l]++
		}
	}
	// Offsets of each level in the order, the highest level first.
	var next [levels]int
	total := 0
	for l := levels - 1; l >= 0; l-- {
		next[l] = total
		total += count[l]
	}
	order := make(carrierOrder, total)
	run := max(1, (n+orderRuns-1)/orderRuns)
	runs := (n + run - 1) / run
	perm := make([]uint32, runs)
	for i := range perm {
		perm[i] = uint32(i)
	}
	rng := rand.New(rand.NewChaCha8(k.order))
	for i := len(perm) - 1; i > 0; i-- {
		j := int(rng.Uint32N(uint32(i + 1)))
		perm[i], perm[j] = perm[j], perm[i]
	}
	parity := int(k.order[0] & 1)
	for _, r := range perm {
		from, to := int(r)*run, min(n, int(r+1)*run)
		x, y := from%w, from/w
		if (x+y+parity)&1 != 0 {
			x++
		}
		for {
			// Carriers in row y are at x = y+parity mod 2, two apart.
			for x >= w && y < h {
				y++
				x = (y + parity) & 1
			}
			i := y*w + x
			if y >= h || i >= to {
				break
			}
			l := level[i]
			order[next[l]] = uint32(i)
			next[l]++
			x += 2
		}
	}
	return order
}
