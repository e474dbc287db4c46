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
// The rank of a carrier is its texture level: the bit length of the sum,
// over R, G and B, of the differences between its left and right
// neighbours and between the ones above and below; levels run from 0 (flat)
// to 11. Carriers are used from the highest level down. Within
// a level they come in a keyed order: the picture is cut into about
// orderRuns runs of consecutive pixels, the runs are shuffled by ChaCha8
// seeded from the key, and a level's carriers are taken run by run in that
// order, by address within a run (so that embedding reads memory a run at a
// time).
const (
	orderRuns = 4096
	levels    = 12
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
// the four neighbours, which are never carriers. A neighbour beyond the
// edge is taken to equal the one opposite it.
func (c *canvas) texture(x, y int) uint8 {
	f := c.f
	sb := f.depth / 8 // the high byte of a 16-bit sample comes first
	at := func(x, y int) []byte { return c.pix[(y*c.w+x)*f.bpp:] }
	var l, r, u, d []byte
	switch {
	case c.w == 1:
	case x == 0:
		l, r = at(1, y), at(1, y)
	case x == c.w-1:
		l, r = at(x-1, y), at(x-1, y)
	default:
		l, r = at(x-1, y), at(x+1, y)
	}
	switch {
	case c.h == 1:
	case y == 0:
		u, d = at(x, 1), at(x, 1)
	case y == c.h-1:
		u, d = at(x, y-1), at(x, y-1)
	default:
		u, d = at(x, y-1), at(x, y+1)
	}
	t := 0
	for ch := 0; ch < 3; ch++ {
		if l != nil {
			t += absDiff(l[ch*sb], r[ch*sb])
		}
		if u != nil {
			t += absDiff(u[ch*sb], d[ch*sb])
		}
	}
	return uint8(bits.Len(uint(t)))
}

// absDiff is |a - b|, without a branch: on a noisy picture a branch here
// is mispredicted half the time, which made ranking three times slower.
func absDiff(a, b uint8) int {
	v := int(a) - int(b)
	m := v >> 63
	return (v ^ m) - m
}

// textureRow sets the levels of the carriers of row y from x0 on, to the
// last pixel but one, in level[y*hw + x/2] (hw = (w+1)/2: carriers of a row
// are two apart, so half a row holds their levels): the same measure as texture, written for speed, as it
// runs over every carrier of every picture hidden in or read.
func (c *canvas) textureRow(level []uint8, y, x0 int) {
	bpp, sb, w := c.f.bpp, c.f.depth/8, c.w
	rb := w * bpp
	up, row, down := c.pix[(y-1)*rb:y*rb], c.pix[y*rb:(y+1)*rb], c.pix[(y+1)*rb:(y+2)*rb]
	hw := (w + 1) / 2
	lv := level[y*hw : (y+1)*hw]
	for x := x0; x < w-1; x += 2 {
		o := x * bpp
		l, r := row[o-bpp:o-bpp+3*sb], row[o+bpp:o+bpp+3*sb]
		u, d := up[o:o+3*sb], down[o:o+3*sb]
		t := absDiff(l[0], r[0]) + absDiff(u[0], d[0]) +
			absDiff(l[sb], r[sb]) + absDiff(u[sb], d[sb]) +
			absDiff(l[2*sb], r[2*sb]) + absDiff(u[2*sb], d[2*sb])
		lv[x>>1] = uint8(bits.Len(uint(t)))
	}
}

// flatLevel is the highest level of a flat carrier: its neighbours differ
// by at most one step in all. A change there would be noise appearing on a
// flat or clipped area, the easiest kind to see, and in clipped areas it
// could only go one way.
const flatLevel = 1

// orderBand is the height of the bands of rows that are ranked on
// different cores.
const orderBand = 64

// newCarrierOrder ranks the carriers of c under the key, on up to par
// goroutines; the order is the same whatever par is. It also returns how
// many carriers are not flat (above flatLevel): those come first.
func newCarrierOrder(c *canvas, k Key, par int) (carrierOrder, int) {
	w, h := c.w, c.h
	n := w * h
	parity := int(k.order[0] & 1)
	// level[y*hw+x/2] is the level of the carrier at x, y.
	hw := (w + 1) / 2
	level := make([]uint8, hw*h)
	bands := (h + orderBand - 1) / orderBand
	counts := make([][levels]int, bands)
	forEach(bands, par, func(_, b int) {
		for y := b * orderBand; y < min(h, (b+1)*orderBand); y++ {
			c.rankRow(level, y, (y+parity)&1, &counts[b])
		}
	})
	var count [levels]int
	for _, bc := range counts {
		for l, n := range bc {
			count[l] += n
		}
	}
	// Offsets of each level in the order, the highest level first.
	var next [levels]int
	total := 0
	for l := levels - 1; l >= 0; l-- {
		next[l] = total
		total += count[l]
	}
	textured := 0
	for l := flatLevel + 1; l < levels; l++ {
		textured += count[l]
	}
	run := max(1, (n+orderRuns-1)/orderRuns)
	perm := make([]uint32, (n+run-1)/run)
	for i := range perm {
		perm[i] = uint32(i)
	}
	rng := rand.New(rand.NewChaCha8(k.order))
	for i := len(perm) - 1; i > 0; i-- {
		j := int(rng.Uint32N(uint32(i + 1)))
		perm[i], perm[j] = perm[j], perm[i]
	}
	runs := runLayout{w: w, h: h, n: n, run: run, hw: hw, parity: parity, level: level}
	order := make(carrierOrder, total)
	// The runs are dealt in par shares, one after the other in perm's
	// order; each share learns where its carriers of each level go from
	// what the shares before it hold.
	shares := min(par, len(perm))
	if shares <= 1 {
		runs.place(perm, order, &next)
		return order, textured
	}
	at := make([][levels]int, shares)
	share := func(i int) []uint32 { return perm[i*len(perm)/shares : (i+1)*len(perm)/shares] }
	forEach(shares, par, func(_, i int) { runs.place(share(i), nil, &at[i]) })
	for l := range next {
		for i := range at {
			at[i][l], next[l] = next[l], next[l]+at[i][l]
		}
	}
	forEach(shares, par, func(_, i int) { runs.place(share(i), order, &at[i]) })
	return order, textured
}

// rankRow sets the levels of the carriers of row y, from x0 on, and counts
// them.
func (c *canvas) rankRow(level []uint8, y, x0 int, count *[levels]int) {
	w, h := c.w, c.h
	hw := (w + 1) / 2
	lv := level[y*hw : (y+1)*hw]
	if y > 0 && y < h-1 && w > 2 {
		// The interior fast; the first and last pixels of the row (when
		// they are carriers) the careful way.
		first := x0
		if first == 0 {
			first = 2
		}
		c.textureRow(level, y, first)
		for x := first; x < w-1; x += 2 {
			count[lv[x>>1]]++
		}
		if x0 == 0 {
			lv[0] = c.texture(0, y)
			count[lv[0]]++
		}
		if (w-1-x0)%2 == 0 {
			l := c.texture(w-1, y)
			lv[(w-1)>>1] = l
			count[l]++
		}
		return
	}
	for x := x0; x < w; x += 2 {
		l := c.texture(x, y)
		lv[x>>1] = l
		count[l]++
	}
}

// runLayout is where the runs of newCarrierOrder lie in the picture.
type runLayout struct {
	w, h, n, run, hw, parity int
	level                    []uint8
}

// place puts the carriers of the given runs, in that order, into the order
// from next[l] on for level l, and advances next. With a nil order it only
// counts them.
func (r *runLayout) place(runs []uint32, order carrierOrder, next *[levels]int) {
	w, h, hw := r.w, r.h, r.hw
	for _, ri := range runs {
		from, to := int(ri)*r.run, min(r.n, int(ri+1)*r.run)
		x, y := from%w, from/w
		if (x+y+r.parity)&1 != 0 {
			x++
		}
		for {
			// Carriers in row y are at x = y+parity mod 2, two apart.
			for x >= w && y < h {
				y++
				x = (y + r.parity) & 1
			}
			i := y*w + x
			if y >= h || i >= to {
				break
			}
			l := r.level[y*hw+x>>1]
			if order != nil {
				order[next[l]] = uint32(i)
			}
			next[l]++
			x += 2
		}
	}
}
