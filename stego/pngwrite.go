// This file holds the PNG writer. image/png spends most of its time in zlib
// at its default level and in trying all five filters on every row. This
// writer judges the filters on a quarter of each row and filters it once,
// and deflates with klauspost/compress at a level chosen from a sample of the
// image: several times faster, for files about the same size or smaller
// (see the README).

package stego

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io"
	"math"
	"sync"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zlib"
)

// The writer deflates at one of three levels. On photographs, and on
// anything veiled, filtered rows are mostly noise that LZ77 matching cannot
// shorten: Huffman coding alone is then both smaller and three times faster
// than the fastest matching level. Flat synthetic pictures need matching,
// and the flatter they are the more a thorough search pays while costing
// little, since long matches are found at once. levelFor decides from a
// sample of rows; see TestPNGWriterStaysWithinTenPercentOfImagePNG.
const (
	levelPhoto    = -2 // flate.HuffmanOnly
	levelFlat     = 4
	levelVeryFlat = 7
	autoLevel     = 0 // let levelFor choose

	// veryFlat is the compressed-to-raw ratio of the sample below which
	// the image counts as very flat.
	veryFlat = 0.03
)

const (
	filterNone = iota
	filterSub
	filterUp
	filterAverage
	filterPaeth
	filterAuto = -1 // bestFilter chooses per row
)

// zlibPools keeps compressors across calls: each holds state of a few
// hundred kilobytes that would otherwise be allocated on every image.
var zlibPools = map[int]*sync.Pool{levelPhoto: {}, levelFlat: {}, levelVeryFlat: {}}

func zlibWriter(w io.Writer, level int) *zlib.Writer {
	if p := zlibPools[level]; p != nil {
		if z, ok := p.Get().(*zlib.Writer); ok {
			z.Reset(w)
			return z
		}
	}
	z, err := zlib.NewWriterLevel(w, level)
	if err != nil {
		panic(err) // levels are constants of this file
	}
	return z
}

func putZlibWriter(z *zlib.Writer, level int) {
	if p := zlibPools[level]; p != nil {
		p.Put(z)
	}
}

// encodePNG writes the canvas as a non-interlaced PNG: truecolour at the
// canvas's depth, with alpha if the canvas has it.
func encodePNG(c *canvas) []byte {
	return encodePNGWith(c, autoLevel, filterAuto)
}

func encodePNGWith(c *canvas, level, filter int) []byte {
	ch := 3
	colorType := byte(2)
	if c.f.alpha {
		ch, colorType = 4, 6
	}
	bpp := ch * c.f.depth / 8 // bytes per pixel in the file
	rowLen := c.w * bpp
	rows := make([]byte, 2*rowLen+5*(rowLen+1))
	prev, cur := rows[:rowLen], rows[rowLen:2*rowLen]
	var filtered [5][]byte
	for i := range filtered {
		filtered[i] = rows[2*rowLen+i*(rowLen+1) : 2*rowLen+(i+1)*(rowLen+1)]
	}
	ratio := 1.0
	if level == autoLevel {
		level, ratio = levelFor(c, rows, bpp)
	}
	// The sample tells how large the file will be; a little more room
	// than that is cheaper than growing (and copying) the buffer.
	out := bytes.NewBuffer(make([]byte, 0, int(float64((rowLen+1)*c.h)*min(1, ratio*1.25))+4096))
	out.WriteString("\x89PNG\r\n\x1a\n")
	var ihdr [13]byte
	binary.BigEndian.PutUint32(ihdr[0:], uint32(c.w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(c.h))
	ihdr[8], ihdr[9] = byte(c.f.depth), colorType
	writeChunk(out, "IHDR", ihdr[:])

	// One IDAT chunk, compressed in place: its length is patched in after.
	start := out.Len()
	out.Write(make([]byte, 8))
	copy(out.Bytes()[start+4:], "IDAT")
	srcLen := c.w * c.f.bpp
	z := zlibWriter(out, level)
	for y := 0; y < c.h; y++ {
		src := c.pix[y*srcLen : (y+1)*srcLen]
		if c.f.skip {
			dropFourth(cur, src, c.f.bpp)
		} else {
			cur = src
		}
		var row []byte
		if filter == filterAuto {
			row = bestFilter(&filtered, cur, prev, bpp, y == 0)
		} else {
			row = filtered[filter]
			applyFilter(row, filter, cur, prev, bpp)
		}
		if _, err := z.Write(row); err != nil {
			panic(err) // a bytes.Buffer does not fail
		}
		if c.f.skip {
			prev, cur = cur, prev
		} else {
			prev = cur
		}
	}
	z.Close()
	putZlibWriter(z, level)
	b := out.Bytes()
	n := len(b) - start - 8
	binary.BigEndian.PutUint32(b[start:], uint32(n))
	var crc [4]byte
	binary.BigEndian.PutUint32(crc[:], crc32.ChecksumIEEE(b[start+4:]))
	out.Write(crc[:])
	writeChunk(out, "IEND", nil)
	return out.Bytes()
}

func writeChunk(out *bytes.Buffer, typ string, data []byte) {
	var hdr [8]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(data)))
	copy(hdr[4:], typ)
	out.Write(hdr[:])
	out.Write(data)
	crc := crc32.NewIEEE()
	crc.Write(hdr[4:])
	crc.Write(data)
	binary.BigEndian.PutUint32(hdr[:4], crc.Sum32())
	out.Write(hdr[:4])
}

// levelFor judges a sample of the image, 8 runs of 4 rows spread over it,
// and returns the level to use and the ratio of compressed to raw size the
// sample promises. rows is scratch space.
//
// Neither estimate needs a compressor of its own: what Huffman coding alone
// would make of the sample follows from its byte histogram (entropy, but at
// least one bit a byte, as deflate has no shorter code), and matching is
// tried with klauspost's stateless deflate, row by row with the row before
// as dictionary. A writer holds 600 to 700 kB of tables; the one that writes
// the image is the only one a hide takes from the pool.
func levelFor(c *canvas, rows []byte, bpp int) (int, float64) {
	rowLen := c.w * bpp
	srcLen := c.w * c.f.bpp
	prev, cur := rows[:rowLen], rows[rowLen:2*rowLen]
	var filtered [5][]byte
	for i := range filtered {
		filtered[i] = rows[2*rowLen+i*(rowLen+1) : 2*rowLen+(i+1)*(rowLen+1)]
	}
	dict := filtered[filterNone][:0] // bestFilter never uses this one
	var hist [256]int
	var flat countWriter
	raw := 0
	const runs, run = 8, 4
	for k := 0; k < runs; k++ {
		y0 := 1 + k*(c.h-1)/runs
		dict = dict[:0]
		for y := y0; y < min(y0+run, c.h); y++ {
			for i, dst := range [2][]byte{prev, cur} {
				src := c.pix[(y-1+i)*srcLen : (y+i)*srcLen]
				if c.f.skip {
					dropFourth(dst, src, c.f.bpp)
				} else {
					copy(dst, src)
				}
			}
			row := bestFilter(&filtered, cur, prev, bpp, false)
			for _, v := range row {
				hist[v]++
			}
			flate.StatelessDeflate(&flat, row, false, dict)
			dict = append(dict[:0], row...)
			raw += len(row)
		}
	}
	clear(rows)
	if raw == 0 {
		return levelPhoto, 1
	}
	bits := 0.0
	for _, n := range hist {
		if n > 0 {
			bits += float64(n) * max(1, math.Log2(float64(raw)/float64(n)))
		}
	}
	photo := int(bits/8) + 300 // and a code table per block
	ratio := float64(min(photo, flat.n)) / float64(raw)
	switch {
	case photo <= flat.n:
		return levelPhoto, ratio
	case ratio < veryFlat:
		return levelVeryFlat, ratio
	}
	return levelFlat, ratio
}

type countWriter struct{ n int }

func (w *countWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

// dropFourth packs a row of 4- or 8-byte pixels into 3- or 6-byte ones.
func dropFourth(dst, src []byte, bpp int) {
	k := bpp / 4 // bytes per sample
	n := 3 * k
	for i, j := 0, 0; i < len(src); i, j = i+bpp, j+n {
		copy(dst[j:j+n], src[i:i+n])
	}
}

// bestFilter picks the filter of one row by the heuristic of libpng and
// image/png, the smallest sum of absolute residuals, but judges each of Sub,
// Up, Average and Paeth on every fourth pixel only and then filters the row
// once: choosing costs about one filter pass instead of five.
func bestFilter(out *[5][]byte, cur, prev []byte, bpp int, first bool) []byte {
	if first {
		applyFilter(out[filterSub], filterSub, cur, prev, bpp)
		return out[filterSub]
	}
	best, bestSum := filterSub, int(^uint(0)>>1)
	for f := filterSub; f <= filterPaeth; f++ {
		s := 0
		for i := 4 * bpp; i+bpp <= len(cur); i += 4 * bpp {
			for j := i; j < i+bpp; j++ {
				v := int8(cur[j] - predict(f, cur[j-bpp], prev[j], prev[j-bpp]))
				s += int(v) * (int(v>>7) | 1)
			}
		}
		if s < bestSum {
			best, bestSum = f, s
		}
	}
	applyFilter(out[best], best, cur, prev, bpp)
	return out[best]
}

// predict is the predictor of a filter from the left, up and up-left bytes.
func predict(filter int, a, b, c byte) byte {
	switch filter {
	case filterSub:
		return a
	case filterUp:
		return b
	case filterAverage:
		return byte((int(a) + int(b)) / 2)
	case filterPaeth:
		return paeth(int(a), int(b), int(c))
	}
	return 0
}

func paeth(a, b, c int) byte {
	pa, pb, pc := b-c, a-c, a+b-2*c
	pa = (pa ^ pa>>63) - pa>>63
	pb = (pb ^ pb>>63) - pb>>63
	pc = (pc ^ pc>>63) - pc>>63
	p := a
	if pb < pa {
		p, pa = b, pb
	}
	if pc < pa {
		p = c
	}
	return byte(p)
}

// applyFilter writes the filter type and the filtered row into out.
func applyFilter(out []byte, filter int, cur, prev []byte, bpp int) {
	out[0] = byte(filter)
	d := out[1 : len(cur)+1]
	switch filter {
	case filterNone:
		copy(d, cur)
	case filterSub:
		copy(d[:bpp], cur[:bpp])
		for i := bpp; i < len(cur); i++ {
			d[i] = cur[i] - cur[i-bpp]
		}
	case filterUp:
		for i := range cur {
			d[i] = cur[i] - prev[i]
		}
	case filterAverage:
		for i := 0; i < bpp; i++ {
			d[i] = cur[i] - prev[i]/2
		}
		for i := bpp; i < len(cur); i++ {
			d[i] = cur[i] - byte((int(cur[i-bpp])+int(prev[i]))/2)
		}
	case filterPaeth:
		for i := 0; i < bpp; i++ {
			d[i] = cur[i] - prev[i]
		}
		for i := bpp; i < len(cur); i++ {
			d[i] = cur[i] - paeth(int(cur[i-bpp]), int(prev[i]), int(prev[i-bpp]))
		}
	}
}
