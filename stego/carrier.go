// This file holds the carrier of format version 1: where its hidden bits
// live in a pixel buffer (the low bit of every R, G and B sample, set by LSB
// replacement) and how they are moved in and out a 64-bit word at a time.
// Version 2 (order.go, matrix.go) shares only the pixel formats.

package stego

import "encoding/binary"

// blockPixels is the unit of the keyed layout. A block of 16 pixels carries
// 48 bits (the low bit of R, G and B of each pixel), so every block holds a
// whole number of bytes whatever the pixel format, and is 6 to 16 machine
// words long: large enough to move words, small enough that the payload is
// spread evenly over the picture.
const (
	blockPixels = 16
	blockBytes  = blockPixels * 3 / 8 // payload bytes per block
)

// A pixelFormat describes a packed pixel buffer (no row padding) and where
// its carrier bits are. Every supported layout repeats within 8 bytes, so one
// mask describes a whole buffer: mask has bit 0 of each byte that carries a
// hidden bit (the low byte of a 16-bit sample, never alpha).
type pixelFormat struct {
	name  string
	bpp   int    // bytes per pixel in the buffer
	depth int    // bits per sample: 8 or 16
	alpha bool   // the PNG written keeps the fourth sample as alpha
	skip  bool   // the buffer has a fourth, opaque sample the PNG drops
	mask  uint64 // carrier bits within a little-endian word
	bits  int    // carrier bits per word (ones in mask)

	spread  []uint64   // spread[v]: the low bits of v placed on mask
	compact [256]uint8 // compact[gather8(w&mask)]: the carrier bits, packed
}

var (
	fmtRGB8   = newPixelFormat("rgb8", 3, 8, false, false, 0x0101010101010101)
	fmtRGBX8  = newPixelFormat("rgbx8", 4, 8, false, true, 0x0001010100010101)
	fmtRGBA8  = newPixelFormat("rgba8", 4, 8, true, false, 0x0001010100010101)
	fmtRGB16  = newPixelFormat("rgb16", 6, 16, false, false, 0x0100010001000100)
	fmtRGBX16 = newPixelFormat("rgbx16", 8, 16, false, true, 0x0000010001000100)
	fmtRGBA16 = newPixelFormat("rgba16", 8, 16, true, false, 0x0000010001000100)
)

func newPixelFormat(name string, bpp, depth int, alpha, skip bool, mask uint64) *pixelFormat {
	f := &pixelFormat{name: name, bpp: bpp, depth: depth, alpha: alpha, skip: skip, mask: mask}
	var pos []uint // bit positions of the mask, low to high
	for i := uint(0); i < 64; i++ {
		if mask>>i&1 == 1 {
			pos = append(pos, i)
		}
	}
	f.bits = len(pos)
	f.spread = make([]uint64, 1<<f.bits)
	for v := range f.spread {
		for t, p := range pos {
			if v>>t&1 == 1 {
				f.spread[v] |= 1 << p
			}
		}
	}
	for g := range f.compact {
		var c uint8
		for t, p := range pos {
			if g>>(p/8)&1 == 1 {
				c |= 1 << t
			}
		}
		f.compact[g] = c
	}
	return f
}

// blockLen is the number of buffer bytes one block spans.
func (f *pixelFormat) blockLen() int { return blockPixels * f.bpp }

// gather8 collects bit 0 of each byte of x into one byte (byte i to bit i).
// x must have no other bits set.
func gather8(x uint64) uint8 {
	x |= x >> 7
	x |= x >> 14
	x |= x >> 28
	return uint8(x)
}

// embedBlock writes the 6 payload bytes p into the carrier bits of blk, a
// block of the buffer. Carrier bit t (pixel t/3, channel t%3) gets bit t of
// p read as a little-endian integer.
func (f *pixelFormat) embedBlock(blk []byte, p []byte) {
	v := uint64(p[0]) | uint64(p[1])<<8 | uint64(p[2])<<16 | uint64(p[3])<<24 |
		uint64(p[4])<<32 | uint64(p[5])<<40
	k, m, low := uint(f.bits), f.mask, uint64(1)<<f.bits-1
	blk = blk[:f.blockLen()]
	for i := 0; i+8 <= len(blk); i += 8 {
		w := binary.LittleEndian.Uint64(blk[i:])
		binary.LittleEndian.PutUint64(blk[i:], w&^m|f.spread[v&low])
		v >>= k
	}
}

// extractBlock reads the 6 payload bytes of blk into p.
func (f *pixelFormat) extractBlock(p []byte, blk []byte) {
	var v uint64
	k, m := uint(f.bits), f.mask
	blk = blk[:f.blockLen()]
	shift := uint(0)
	for i := 0; i+8 <= len(blk); i += 8 {
		w := binary.LittleEndian.Uint64(blk[i:])
		v |= uint64(f.compact[gather8(w&m)]) << shift
		shift += k
	}
	p = p[:blockBytes]
	p[0], p[1], p[2], p[3], p[4], p[5] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24), byte(v>>32), byte(v>>40)
}
