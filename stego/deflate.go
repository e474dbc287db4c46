// This file holds the zlib stream of the PNG writer, deflated in bands on
// several cores, as pigz does: each band is a run of deflate blocks of its
// own, the bands but the last end with a sync flush (an empty stored block,
// which leaves the stream at a byte boundary), and the concatenation is one
// valid deflate stream. The Adler-32 of the whole follows from those of
// the bands.

package stego

import (
	"bytes"
	"encoding/binary"
	"io"
	"sync"

	"github.com/klauspost/compress/flate"
)

// deflaters keeps compressors across calls: each holds state of a few
// hundred kilobytes that would otherwise be allocated on every band.
var deflaters = map[int]*sync.Pool{levelPhoto: {}, levelFlat: {}, levelVeryFlat: {}}

func getDeflater(w io.Writer, level int) *flate.Writer {
	if p := deflaters[level]; p != nil {
		if z, ok := p.Get().(*flate.Writer); ok {
			z.Reset(w)
			return z
		}
	}
	z, err := flate.NewWriter(w, level)
	if err != nil {
		panic(err) // levels are constants of pngwrite.go
	}
	return z
}

func putDeflater(z *flate.Writer, level int) {
	if p := deflaters[level]; p != nil {
		p.Put(z)
	}
}

// zlibHeader is the two bytes that open a zlib stream deflated at level.
func zlibHeader(level int) [2]byte {
	h := [2]byte{0x78, 0} // deflate, 32 kB window
	switch {
	case level >= 7:
		h[1] = 3 << 6
	case level >= 2:
		h[1] = 1 << 6
	}
	h[1] += byte(31 - (uint16(h[0])<<8|uint16(h[1]))%31)
	return h
}

// A deflatedBand is one band of the stream: its deflate blocks, and the
// Adler-32 and length of what they hold.
type deflatedBand struct {
	buf   *bytes.Buffer
	adler uint32
	n     int
}

// A bandDeflater deflates bands; each goroutine has its own.
type bandDeflater struct {
	level int
	z     *flate.Writer
	adler uint32
	n     int
	out   *bytes.Buffer
}

func newBandDeflater(level int) *bandDeflater {
	return &bandDeflater{level: level}
}

// start begins a band that goes into out.
func (d *bandDeflater) start(out *bytes.Buffer) {
	if d.z == nil {
		d.z = getDeflater(out, d.level)
	} else {
		d.z.Reset(out)
	}
	d.adler, d.n = 1, 0
	d.out = out
}

func (d *bandDeflater) write(p []byte) {
	if _, err := d.z.Write(p); err != nil {
		panic(err) // a bytes.Buffer does not fail
	}
	d.adler = adler32Update(d.adler, p)
	d.n += len(p)
}

// finish ends the band: with a sync flush, or with the final block when it
// is the last.
func (d *bandDeflater) finish(last bool) deflatedBand {
	var err error
	if last {
		err = d.z.Close()
	} else {
		err = d.z.Flush()
	}
	if err != nil {
		panic(err) // a bytes.Buffer does not fail
	}
	return deflatedBand{buf: d.out, adler: d.adler, n: d.n}
}

// release gives the compressor back for other images.
func (d *bandDeflater) release() {
	if d != nil && d.z != nil {
		putDeflater(d.z, d.level)
		d.z = nil
	}
}

// adler32Update extends the Adler-32 adler over p (1 for none yet). It is
// hash/adler32's sum, some three times faster: eight bytes at a time, their
// sum and their sum weighted 8 down to 1 each taken with two multiplies
// over 16-bit lanes, and the modulus taken once every few megabytes in
// 64-bit sums instead of every 5,552 bytes.
func adler32Update(adler uint32, p []byte) uint32 {
	const (
		mod   = 65521
		chunk = 1 << 22 // s2 stays far under 2^64 over a chunk
		lanes = 0x00ff00ff00ff00ff
		ones  = 0x0001000100010001
		wEven = 2 | 4<<16 | 6<<32 | 8<<48 // bytes 0, 2, 4, 6 weigh 8, 6, 4, 2
		wOdd  = 1 | 3<<16 | 5<<32 | 7<<48 // bytes 1, 3, 5, 7 weigh 7, 5, 3, 1
	)
	s1, s2 := uint64(adler&0xffff), uint64(adler>>16)
	for len(p) > 0 {
		n := min(len(p), chunk)
		q := p[:n]
		p = p[n:]
		// Four words at a time, whose sums depend on each other only
		// at the end.
		for ; len(q) >= 32; q = q[32:] {
			v0, v1 := binary.LittleEndian.Uint64(q), binary.LittleEndian.Uint64(q[8:])
			v2, v3 := binary.LittleEndian.Uint64(q[16:]), binary.LittleEndian.Uint64(q[24:])
			e0, o0, e1, o1 := v0&lanes, v0>>8&lanes, v1&lanes, v1>>8&lanes
			e2, o2, e3, o3 := v2&lanes, v2>>8&lanes, v3&lanes, v3>>8&lanes
			t0, t1 := ((e0+o0)*ones)>>48, ((e1+o1)*ones)>>48
			t2, t3 := ((e2+o2)*ones)>>48, ((e3+o3)*ones)>>48
			w := (e0*wEven)>>48 + (o0*wOdd)>>48 + (e1*wEven)>>48 + (o1*wOdd)>>48 +
				(e2*wEven)>>48 + (o2*wOdd)>>48 + (e3*wEven)>>48 + (o3*wOdd)>>48
			s2 += 32*s1 + w + 8*(3*t0+2*t1+t2)
			s1 += t0 + t1 + t2 + t3
		}
		for ; len(q) >= 8; q = q[8:] {
			v := binary.LittleEndian.Uint64(q)
			even, odd := v&lanes, v>>8&lanes
			s2 += 8*s1 + (even*wEven)>>48 + (odd*wOdd)>>48
			s1 += ((even + odd) * ones) >> 48
		}
		for _, b := range q {
			s1 += uint64(b)
			s2 += s1
		}
		s1 %= mod
		s2 %= mod
	}
	return uint32(s2<<16 | s1)
}

// adler32Combine is the Adler-32 of a‖b from that of a, that of b and the
// length of b (zlib's adler32_combine).
func adler32Combine(a, b uint32, lenB int) uint32 {
	const mod = 65521
	rem := uint64(lenB % mod)
	s1 := uint64(a & 0xffff)
	s2 := rem * s1 % mod
	s1 += uint64(b&0xffff) + mod - 1
	s2 += uint64(a>>16) + uint64(b>>16) + mod - rem
	return uint32(s1%mod) | uint32(s2%mod)<<16
}
