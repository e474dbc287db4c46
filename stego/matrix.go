// This file holds matrix embedding by binary Hamming codes with LSB
// matching: how format version 2 writes bits into the ranked carrier
// elements and reads them back.

package stego

import "math/rand/v2"

// Bits go into elements (R, G or B samples of carriers, in carrierOrder)
// in groups. A group of n = 2^k - 1 elements carries k bits: its syndrome,
// the XOR of j+1 over the elements j whose low bit is 1. To write k bits
// the writer changes at most one element of the group (the one whose index
// is the XOR of the syndrome and the bits, less one), and none at all one
// time in 2^k. So k bits cost on average 1 - 2^-k changes: 0.5 per bit for
// plain LSB embedding (k = 1), 0.23 for k = 4, 0.11 for k = 8. The
// larger k, the fewer changes and the more elements a bit needs; the writer
// takes the largest k the picture has room for.
//
// An element that must change is moved by +1 or -1 at random (LSB matching,
// also called ±1 embedding), never set (LSB replacement). Replacement only
// ever moves 2i+1 down and 2i up, which leaves the pairs-of-values
// structure that sample pair analysis, RS analysis and weighted stego
// measure; matching adds noise with no such structure.
//
// Reading needs only the low bits and the order: it is exact whatever the
// writer's random choices were.
const (
	headerK = 3  // the header's code: 3 bits in 7 elements
	maxK    = 10 // the longest code: 10 bits in 1023 elements
)

// groupLen is the number of elements of a group of the code with k bits.
func groupLen(k int) int { return 1<<k - 1 }

// elementsFor is the number of elements that nbits take at code k.
func elementsFor(nbits, k int) int { return (nbits + k - 1) / k * groupLen(k) }

// headerElements is the number of elements the stream header takes.
const headerElements = (headerSize*8 + headerK - 1) / headerK * (1<<headerK - 1)

// bodyCode picks the code for a body of nbits in room elements: the largest
// k that fits, 0 if even k = 1 does not.
func bodyCode(nbits, room int) int {
	for k := maxK; k >= 1; k-- {
		if elementsFor(nbits, k) <= room {
			return k
		}
	}
	return 0
}

// elements gives access to the elements of a canvas in carrier order.
type elements struct {
	pix   []byte
	order carrierOrder
	bpp   int
	wide  bool   // 16-bit samples
	off   [3]int // byte offset of the low byte of R, G and B in a pixel
}

func newElements(c *canvas, order carrierOrder) *elements {
	sb := c.f.depth / 8
	return &elements{
		pix: c.pix, order: order, bpp: c.f.bpp, wide: sb == 2,
		off: [3]int{sb - 1, 2*sb - 1, 3*sb - 1},
	}
}

// at returns the byte offset of the low byte of element e.
func (s *elements) at(e int) int {
	return int(s.order[e/3])*s.bpp + s.off[e%3]
}

// syndrome reads the k-bit syndrome of the group of n elements at first.
// Low bits are noise, so a branch on each would be mispredicted half the
// time: each adds its index to the syndrome through a mask instead.
func (s *elements) syndrome(first, n int) uint {
	var syn uint
	p, ch := first/3, first%3
	j := uint(1)
	end := uint(n)
	// The rest of a pixel the group starts within, then whole pixels.
	for ; ch != 0 && ch < 3 && j <= end; ch, j = ch+1, j+1 {
		syn ^= j & -uint(s.pix[int(s.order[p])*s.bpp+s.off[ch]]&1)
	}
	if ch == 3 {
		p++
	}
	o0, o1, o2 := s.off[0], s.off[1], s.off[2]
	for ; j+2 <= end; j += 3 {
		px := s.pix[int(s.order[p])*s.bpp:]
		syn ^= j&-uint(px[o0]&1) ^ (j+1)&-uint(px[o1]&1) ^ (j+2)&-uint(px[o2]&1)
		p++
	}
	for ch = 0; j <= end; ch, j = ch+1, j+1 {
		syn ^= j & -uint(s.pix[int(s.order[p])*s.bpp+s.off[ch]]&1)
	}
	return syn
}

// nudge moves the sample of element e by one, up or down as coin says, or
// the only way it can go at either end of its range.
func (s *elements) nudge(e int, coin bool) {
	i := s.at(e)
	if !s.wide {
		v := s.pix[i]
		switch {
		case v == 0 || v != 255 && coin:
			s.pix[i] = v + 1
		default:
			s.pix[i] = v - 1
		}
		return
	}
	v := uint16(s.pix[i-1])<<8 | uint16(s.pix[i])
	switch {
	case v == 0 || v != 0xffff && coin:
		v++
	default:
		v--
	}
	s.pix[i-1], s.pix[i] = byte(v>>8), byte(v)
}

// A bitReader hands out the bits of a byte stream, least significant bit of
// each byte first.
type bitReader struct {
	b   []byte
	pos int // in bits
}

// take returns the next k bits (fewer at the end; k <= maxK) as an
// integer, the first bit lowest, and how many there were.
func (r *bitReader) take(k int) (uint, int) {
	n := min(k, 8*len(r.b)-r.pos)
	if n <= 0 {
		return 0, 0
	}
	// k <= 10 bits from any bit of a byte span at most three bytes.
	i := r.pos >> 3
	var w uint
	for j, b := range r.b[i:min(i+3, len(r.b))] {
		w |= uint(b) << (8 * j)
	}
	r.pos += n
	return w >> (r.pos - n - 8*i) & (1<<n - 1), n
}

// embedBits writes the bits of msg into the elements from first on with the
// code k, and returns the element after the last group and the number of
// samples it changed. coins decides the direction of each change.
func (s *elements) embedBits(msg []byte, first, k int, coins *rand.Rand) (next, changed int) {
	n := groupLen(k)
	r := bitReader{b: msg}
	var pool uint64
	left := 0
	e := first
	for r.pos < 8*len(msg) {
		m, got := r.take(k)
		syn := s.syndrome(e, n)
		// The last group may carry fewer than k bits: its other bits are
		// whatever the syndrome already says, which costs nothing.
		mask := uint(1)<<got - 1
		d := (syn ^ m) & mask
		if d != 0 {
			if left == 0 {
				pool, left = coins.Uint64(), 64
			}
			s.nudge(e+int(d)-1, pool&1 != 0)
			pool >>= 1
			left--
			changed++
		}
		e += n
	}
	return e, changed
}

// extractBits reads len(dst) bytes from the elements from first on with
// the code k, and returns the element after the last group.
func (s *elements) extractBits(dst []byte, first, k int) int {
	n := groupLen(k)
	clear(dst)
	e := first
	for pos := 0; pos < 8*len(dst); {
		syn := s.syndrome(e, n)
		for b := 0; b < k && pos < 8*len(dst); b++ {
			dst[pos/8] |= byte(syn>>b&1) << (pos % 8)
			pos++
		}
		e += n
	}
	return e
}
