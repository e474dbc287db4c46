// This file writes and reads format version 3, the dense format of the
// Compact level: the envelope's stream in the two low bits of every R, G and
// B sample of every pixel, by replacement, over the keyed runs of blocks of
// version 1 (layout.go).

package stego

import "fmt"

// A block of 16 pixels holds 96 bits in version 3: 12 stream bytes. Two bits
// a sample is what keeps the veiled PNG near the size of the secret (6 bits
// of payload a pixel, against 0.4 to 0.75 for format 2 at its fills) while
// the change stays below what the eye sees on a photograph (at most 3 steps
// of 255). It is no secret from steganalysis: replacement of the low bits is
// what the attacks on LSB replacement are built for.
const (
	denseBits       = 2
	denseBlockBytes = blockPixels * 3 * denseBits / 8
	denseHeader     = (headerSize + denseBlockBytes - 1) / denseBlockBytes
)

// denseStreamLen is the stream length for a body of n bytes, in whole
// blocks.
func denseStreamLen(body int) int {
	n := overhead + body
	return (n + denseBlockBytes - 1) / denseBlockBytes * denseBlockBytes
}

// denseCapacity is the secret bytes a w×h image holds in version 3.
func denseCapacity(w, h int) int {
	return max(0, usableBlocks(w*h/blockPixels)*denseBlockBytes-overhead-maxMetaSize)
}

// denseCoverSize picks a 4:3 size whose blocks hold a secret of n bytes with
// the largest metadata, and a little more for the runs usableBlocks leaves.
func denseCoverSize(n int) (w, h int) {
	blocks := (overhead + maxMetaSize + n + denseBlockBytes - 1) / denseBlockBytes
	blocks += blocks/maxRuns + 1
	pixels := blocks * blockPixels
	w, h = aspect43(pixels)
	for denseCapacity(w, h) < n {
		h++
	}
	return w, h
}

// lowBytes returns the offsets, within a pixel, of the low bytes of its R,
// G and B samples.
func (f *pixelFormat) lowBytes() [3]int {
	sb := f.depth / 8
	return [3]int{sb - 1, 2*sb - 1, 3*sb - 1}
}

// embed3 writes a sealed version 3 stream (whole blocks) into c.
func embed3(c *canvas, k Key, stream []byte) error {
	blocks := usableBlocks(c.blocks())
	if len(stream)/denseBlockBytes > blocks {
		return fmt.Errorf("%w: a %dx%d cover holds %s bytes of dense stream; this one is %s",
			ErrPayloadTooLarge, c.w, c.h, commas(blocks*denseBlockBytes), commas(len(stream)))
	}
	bpp, bl, low := c.f.bpp, c.f.blockLen(), c.f.lowBytes()
	pix := c.pix
	newWalk(k, c.blocks()).visit(0, len(stream)/denseBlockBytes, func(i, b int) {
		blk := pix[b*bl : (b+1)*bl]
		src := stream[i*denseBlockBytes : (i+1)*denseBlockBytes]
		for j := 0; j < blockPixels*3; j++ {
			v := src[j/4] >> (2 * (j % 4)) & 3
			o := (j/3)*bpp + low[j%3]
			blk[o] = blk[o]&^3 | v
		}
	})
	return nil
}

// extract3 reads stream blocks [from, to) of version 3 into dst.
func extract3(c *canvas, w *walk, dst []byte, from, to int) {
	bpp, bl, low := c.f.bpp, c.f.blockLen(), c.f.lowBytes()
	pix := c.pix
	w.visit(from, to, func(i, b int) {
		blk := pix[b*bl : (b+1)*bl]
		out := dst[(i-from)*denseBlockBytes : (i-from+1)*denseBlockBytes]
		clear(out)
		for j := 0; j < blockPixels*3; j++ {
			o := (j/3)*bpp + low[j%3]
			out[j/4] |= (blk[o] & 3) << (2 * (j % 4))
		}
	})
}

// reveal3 finds and opens a version 3 stream.
func reveal3(c *canvas, key Key) ([]byte, Meta, error) {
	return revealBlocks(c, key, version3, denseBlockBytes, extract3)
}
