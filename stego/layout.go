package stego

import "math/rand/v2"

// A walk is the keyed order in which the stream visits the blocks of an
// image: a Fisher–Yates shuffle of the block indices driven by ChaCha8 seeded
// from the master key, run only as far as the stream needs. Consecutive
// stream bytes therefore land in blocks scattered uniformly over the picture
// (which is what keeps a half-full image from looking full to a chi-square
// attack on any part of it), while inside a block the bits stay in order so
// that embedding moves whole words.
type walk struct {
	perm []uint32
	done int // perm[:done] is final
	rng  *rand.Rand
}

func newWalk(k Key, blocks int) *walk {
	perm := make([]uint32, blocks)
	for i := range perm {
		perm[i] = uint32(i)
	}
	return &walk{perm: perm, rng: rand.New(rand.NewChaCha8(k.layout))}
}

// first returns the first n blocks of the walk; n must not exceed the
// number of blocks.
func (w *walk) first(n int) []uint32 {
	p := w.perm
	for i := w.done; i < n; i++ {
		j := i + int(w.rng.Uint32N(uint32(len(p)-i)))
		p[i], p[j] = p[j], p[i]
	}
	w.done = max(w.done, n)
	return p[:n]
}

// embed writes stream (whole blocks) into the canvas along the walk.
func embed(c *canvas, k Key, stream []byte) {
	f, bl := c.f, c.f.blockLen()
	for i, b := range newWalk(k, c.blocks()).first(len(stream) / blockBytes) {
		f.embedBlock(c.pix[int(b)*bl:], stream[i*blockBytes:])
	}
}

// extract reads blocks [from, to) of the walk into dst.
func extract(c *canvas, w *walk, dst []byte, from, to int) {
	f, bl := c.f, c.f.blockLen()
	for i, b := range w.first(to)[from:] {
		f.extractBlock(dst[i*blockBytes:], c.pix[int(b)*bl:])
	}
}
