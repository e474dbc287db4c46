// This file holds the PNG writer. image/png spends most of its time in zlib
// at its default level and in trying all five filters on every row. This
// writer judges the four filters in one pass over an eighth of each row and
// filters it once, and deflates with klauspost/compress at a level chosen
// from a sample of the image, in bands on every core (deflate.go): several
// times faster, for files about the same size or smaller (see the README).

package stego

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math"

	"github.com/klauspost/compress/flate"
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

// pngBand is the raw bytes a band of the zlib stream holds, about: enough
// that a band's sync flush and first Huffman table cost nothing, small
// enough that a 1080p picture makes several bands to share among cores.
// The reader finds the bands by the same rule (pngread.go).
const pngBand = 1 << 20

// bandRows is the rows of a band of about the given bytes, for rows of
// rowLen bytes and their filter type.
func bandRows(rowLen, band int) int { return max(1, band/(rowLen+1)) }

// encodePNG writes the canvas as a non-interlaced PNG: truecolour at the
// canvas's depth, with alpha if the canvas has it. Bands of rows are
// filtered and deflated on up to par goroutines; the file is the same
// whatever par is.
func encodePNG(c *canvas, par int) []byte {
	return encodePNGWith(c, autoLevel, filterAuto, par, pngBand)
}

// encodePNGWith is encodePNG at a given level and filter, in bands of
// about band bytes.
func encodePNGWith(c *canvas, level, filter, par, band int) []byte {
	ch := 3
	colorType := byte(2)
	if c.f.alpha {
		ch, colorType = 4, 6
	}
	bpp := ch * c.f.depth / 8 // bytes per pixel in the file
	rowLen := c.w * bpp
	ratio := 1.0
	if level == autoLevel {
		level, ratio = levelFor(c, bpp)
	}
	rows := bandRows(rowLen, band)
	bands := (c.h + rows - 1) / rows
	// The sample tells how large the file will be, within 2% on
	// photographs (it overestimates flat pictures): a little more room than
	// that is cheaper than growing (and copying) the buffer, and leaves the
	// caller holding little unused room. Deflate adds at most about 1% to
	// what it cannot shorten, and each band a block header.
	raw := (rowLen + 1) * c.h
	out := bytes.NewBuffer(make([]byte, 0, int(float64(raw)*min(1.01, ratio*1.06))+256*bands+4096))
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
	zh := zlibHeader(level)
	out.Write(zh[:])
	filters := make([]*rowFilter, par)
	deflaters := make([]*bandDeflater, par)
	// Buffers of bands already copied out, for the next bands.
	spare := make(chan *bytes.Buffer, 2*par)
	adler := uint32(1)
	inOrder(bands, par, func(w, b int) deflatedBand {
		if filters[w] == nil {
			filters[w], deflaters[w] = newRowFilter(c, bpp, filter), newBandDeflater(level)
		}
		// The first band, and every band when they are made one after
		// the other, goes straight into the file: nothing is written
		// there before it.
		buf := out
		if b > 0 && par > 1 {
			select {
			case buf = <-spare:
				buf.Reset()
			default:
				buf = bytes.NewBuffer(make([]byte, 0, int(float64(rows*(rowLen+1))*min(1.01, ratio*1.06))+1024))
			}
		}
		d := deflaters[w]
		d.start(buf)
		for y := b * rows; y < min(c.h, (b+1)*rows); y++ {
			d.write(filters[w].row(y))
		}
		return d.finish(b == bands-1)
	}, func(band deflatedBand) {
		adler = adler32Combine(adler, band.adler, band.n)
		if band.buf == out {
			return
		}
		out.Write(band.buf.Bytes())
		select {
		case spare <- band.buf:
		default:
		}
	})
	for _, d := range deflaters {
		d.release()
	}
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], adler)
	out.Write(sum[:])
	b := out.Bytes()
	n := len(b) - start - 8
	binary.BigEndian.PutUint32(b[start:], uint32(n))
	var crc [4]byte
	binary.BigEndian.PutUint32(crc[:], crc32.ChecksumIEEE(b[start+4:]))
	out.Write(crc[:])
	writeChunk(out, "IEND", nil)
	return out.Bytes()
}

// A rowFilter filters the rows of a canvas as the PNG holds them; each
// goroutine has its own.
type rowFilter struct {
	c          *canvas
	bpp        int // bytes per pixel in the file
	filter     int
	prev, cur  []byte // rows in the file's layout, when it is not the canvas's
	filtered   []byte
	srcLen     int // bytes of a row in the canvas
	lastPacked int // the row prev holds, packed; -1 for none
}

func newRowFilter(c *canvas, bpp, filter int) *rowFilter {
	rowLen := c.w * bpp
	f := &rowFilter{c: c, bpp: bpp, filter: filter, srcLen: c.w * c.f.bpp, lastPacked: -1}
	rows := make([]byte, 3*rowLen+1)
	f.prev, f.cur, f.filtered = rows[:rowLen], rows[rowLen:2*rowLen], rows[2*rowLen:]
	return f
}

// packed returns row y in the file's layout: the canvas's own row when
// they agree, else the row without its fourth sample, in dst.
func (f *rowFilter) packed(y int, dst []byte) []byte {
	src := f.c.pix[y*f.srcLen : (y+1)*f.srcLen]
	if !f.c.f.skip {
		return src
	}
	dropFourth(dst, src, f.c.f.bpp)
	return dst
}

// row returns row y filtered, its filter type first.
func (f *rowFilter) row(y int) []byte {
	prev := f.prev
	switch {
	case y == 0:
		clear(prev)
	case !f.c.f.skip:
		prev = f.c.pix[(y-1)*f.srcLen : y*f.srcLen]
	case f.lastPacked != y-1:
		dropFourth(prev, f.c.pix[(y-1)*f.srcLen:y*f.srcLen], f.c.f.bpp)
	}
	cur := f.packed(y, f.cur)
	filter := f.filter
	if filter == filterAuto {
		filter = bestFilter(cur, prev, f.bpp, y == 0)
	}
	out := f.filtered
	applyFilter(out, filter, cur, prev, f.bpp)
	if f.c.f.skip {
		// The packed row is the next one's prev.
		f.prev, f.cur = f.cur, f.prev
		f.lastPacked = y
	}
	return out
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
// sample promises.
//
// Neither estimate needs a compressor of its own: what Huffman coding alone
// would make of the sample follows from its byte histogram (entropy, but at
// least one bit a byte, as deflate has no shorter code), and matching is
// tried with klauspost's stateless deflate, row by row with the row before
// as dictionary. A writer holds 600 to 700 kB of tables; those that write
// the image, one a goroutine, are the only ones a hide takes from the pool.
func levelFor(c *canvas, bpp int) (int, float64) {
	rowLen := c.w * bpp
	srcLen := c.w * c.f.bpp
	rows := make([]byte, 4*rowLen+2)
	prev, cur, row := rows[:rowLen], rows[rowLen:2*rowLen], rows[2*rowLen:3*rowLen+1]
	dict := rows[3*rowLen+1 : 3*rowLen+1]
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
			applyFilter(row, bestFilter(cur, prev, bpp, false), cur, prev, bpp)
			for _, v := range row {
				hist[v]++
			}
			flate.StatelessDeflate(&flat, row, false, dict)
			dict = append(dict[:0], row...)
			raw += len(row)
		}
	}
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

// sampleEvery is how far apart the pixels are on which bestFilter judges
// the filters.
const sampleEvery = 8

// bestFilter picks the filter of one row by the heuristic of libpng and
// image/png, the smallest sum of absolute residuals, but judges each of Sub,
// Up, Average and Paeth on every sampleEvery-th pixel only, all four in one
// pass, so that the row is filtered once: choosing costs less than one
// filter pass instead of five.
func bestFilter(cur, prev []byte, bpp int, first bool) int {
	if first {
		return filterSub
	}
	var sub, up, avg, pth int
	prev = prev[:len(cur)]
	for i := sampleEvery * bpp; i+bpp <= len(cur); i += sampleEvery * bpp {
		for j := i; j < i+bpp; j++ {
			x, a, b, c := cur[j], int(cur[j-bpp]), int(prev[j]), int(prev[j-bpp])
			sub += absByte(x - byte(a))
			up += absByte(x - byte(b))
			avg += absByte(x - byte((a+b)>>1))
			pth += absByte(x - paeth(a, b, c))
		}
	}
	sum := [5]int{filterSub: sub, filterUp: up, filterAverage: avg, filterPaeth: pth}
	best := filterSub
	for f := filterUp; f <= filterPaeth; f++ {
		if sum[f] < sum[best] {
			best = f
		}
	}
	return best
}

// absByte is the absolute value of a residual read as a signed byte.
func absByte(v byte) int {
	s := int(int8(v))
	return (s ^ s>>63) - s>>63
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
	n := len(cur)
	d, prev := out[1:n+1], prev[:n]
	// x, a, b and c: the byte, and the ones left, up and up-left of it,
	// from the second pixel on.
	x, a, b, c, dx := cur[bpp:], cur[:n-bpp], prev[bpp:], prev[:n-bpp], d[bpp:]
	switch filter {
	case filterNone:
		copy(d, cur)
	case filterSub:
		copy(d[:bpp], cur[:bpp])
		for i := range dx {
			dx[i] = x[i] - a[i]
		}
	case filterUp:
		for i := range d {
			d[i] = cur[i] - prev[i]
		}
	case filterAverage:
		for i := 0; i < bpp; i++ {
			d[i] = cur[i] - prev[i]/2
		}
		for i := range dx {
			dx[i] = x[i] - byte((int(a[i])+int(b[i]))>>1)
		}
	case filterPaeth:
		for i := 0; i < bpp; i++ {
			d[i] = cur[i] - prev[i]
		}
		for i := range dx {
			dx[i] = x[i] - paeth(int(a[i]), int(b[i]), int(c[i]))
		}
	}
}
