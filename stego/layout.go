// This file holds the layout of format version 1, which Reveal still reads
// and the tests still write, to show what the detectors see in it.

package stego

import "math/rand/v2"

// The keyed layout of version 1. The stream is cut into runs of consecutive blocks and
// the runs go to places in the picture chosen by a Fisher–Yates shuffle
// driven by ChaCha8, seeded from the master key. About maxRuns runs make up
// a picture, so that
//
//   - a payload is spread uniformly over the whole picture at a grain of a
//     few hundred pixels (what keeps a half-full image from looking full to
//     a chi-square attack on any part of it), and whoever lacks the key
//     does not know where it is or in which order;
//   - inside a run, stream and pixels are both read in address order, a
//     few kilobytes at a time, so that embedding streams through memory
//     (a shuffle of single blocks misses the cache on every block and runs
//     at a third of the speed) and the shuffle itself costs nothing.
//
// Small pictures have fewer, one-block runs.
const maxRuns = 4096

// runLen is the number of blocks in a run for an image of n blocks.
func runLen(n int) int { return max(1, n/maxRuns) }

// usableBlocks is the number of blocks the layout uses: whole runs only,
// which leaves at most maxRuns⁻¹ of a large picture unused.
func usableBlocks(n int) int { r := runLen(n); return n / r * r }

// A walk is the keyed order of the runs of one image, shuffled only as far
// as the stream needs.
type walk struct {
	perm []uint32 // run order; perm[:done] is final
	done int
	run  int // blocks per run
	rng  *rand.Rand
}

func newWalk(k Key, blocks int) *walk {
	run := runLen(blocks)
	perm := make([]uint32, blocks/run)
	for i := range perm {
		perm[i] = uint32(i)
	}
	return &walk{perm: perm, run: run, rng: rand.New(rand.NewChaCha8(k.layout))}
}

// runs returns the first n runs of the walk.
func (w *walk) runs(n int) []uint32 {
	p := w.perm
	for i := w.done; i < n; i++ {
		j := i + int(w.rng.Uint32N(uint32(len(p)-i)))
		p[i], p[j] = p[j], p[i]
	}
	w.done = max(w.done, n)
	return p[:n]
}

// block returns the picture block that holds stream block i.
func (w *walk) block(i int) int {
	r := i / w.run
	return int(w.runs(r + 1)[r])*w.run + i%w.run
}

// visit calls fn for stream blocks [from, to), with the picture block each
// goes to, run by run.
func (w *walk) visit(from, to int, fn func(i, b int)) {
	for i := from; i < to; {
		r := i / w.run
		base := int(w.runs(r + 1)[r]) * w.run
		end := min(to, (r+1)*w.run)
		for ; i < end; i++ {
			fn(i, base+i%w.run)
		}
	}
}

// embed writes stream (whole blocks) into the canvas along the walk.
func embed(c *canvas, k Key, stream []byte) {
	f, bl := c.f, c.f.blockLen()
	pix := c.pix
	newWalk(k, c.blocks()).visit(0, len(stream)/blockBytes, func(i, b int) {
		f.embedBlock(pix[b*bl:], stream[i*blockBytes:])
	})
}

// extract reads stream blocks [from, to) into dst.
func extract(c *canvas, w *walk, dst []byte, from, to int) {
	f, bl := c.f, c.f.blockLen()
	pix := c.pix
	w.visit(from, to, func(i, b int) {
		f.extractBlock(dst[(i-from)*blockBytes:], pix[b*bl:])
	})
}
