// This file holds the PNG reader. image/png spends most of a reveal in
// compress/flate and in turning each RGB row into 4-byte RGBA; this reader
// inflates with klauspost/compress, takes the Adler-32 eight bytes at a time,
// and unfilters each row straight into the canvas's packed format. It reads
// what this package writes and any other non-interlaced truecolour or grey
// PNG at 8 or 16 bits, with or without alpha; everything else (interlaced,
// paletted, under 8 bits, a tRNS or PLTE chunk, chunks out of the usual
// order) is left to image.Decode, which reads it as it always did.

package stego

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/flate"
)

// errNotMine is readPNG's answer for a file it leaves to image.Decode.
var errNotMine = errors.New("stego: not a PNG for readPNG")

// damaged is the error of a PNG that readPNG refuses.
func damaged(format string, args ...any) error {
	return fmt.Errorf("%w: damaged or truncated image: png: "+format, append([]any{ErrUnsupportedImage}, args...)...)
}

// inflaters keeps decompressors across calls: each holds tables of some
// tens of kilobytes.
var inflaters sync.Pool

// readPNG decodes a PNG into a canvas. It fails with errNotMine for a file
// it leaves to image.Decode, and with ErrUnsupportedImage when the file is
// damaged: a chunk's CRC or the zlib stream's Adler-32 is wrong, the file
// or the stream is cut short, a row has an unknown filter, or the stream
// holds more than the pixels. Every check image/png makes it makes too, but
// one: image/png takes a few stray bytes after the end of the zlib stream,
// inside its last IDAT chunk, and this reader refuses them.
//
// Nothing is allocated before the header's size is checked against
// maxPixels, and after it little but the canvas: a few rows, a byte a row
// when reading in bands, and a copy of the IDAT chunks when there are
// several (bounded by the file). The reader takes only the rows the header
// announces from the stream.
func readPNG(data []byte, maxPixels, par int) (canvas, error) {
	return readPNGWith(data, maxPixels, par, pngBand)
}

// readPNGWith is readPNG for a writer whose bands hold about band bytes.
func readPNGWith(data []byte, maxPixels, par, band int) (canvas, error) {
	const signature = "\x89PNG\r\n\x1a\n"
	if len(data) < len(signature) || string(data[:len(signature)]) != signature {
		return canvas{}, errNotMine
	}
	var hdr pngHeader
	idat := -1    // offset of the first IDAT chunk
	idatEnd := -1 // offset of the first chunk after the IDAT chunks that follow it
	seenEnd := false
	for off := len(signature); !seenEnd; {
		if len(data)-off < 12 {
			return canvas{}, damaged("cut short after %d bytes", len(data))
		}
		n := binary.BigEndian.Uint32(data[off:])
		typ := string(data[off+4 : off+8])
		if n > 0x7fffffff || int(n) > len(data)-off-12 {
			return canvas{}, damaged("chunk %q of %d bytes, cut short", typ, n)
		}
		body := data[off+8 : off+8+int(n)]
		if crc32.ChecksumIEEE(data[off+4:off+8+int(n)]) != binary.BigEndian.Uint32(data[off+8+int(n):]) {
			return canvas{}, damaged("invalid checksum of chunk %q", typ)
		}
		first := off == len(signature)
		off += 12 + int(n)
		switch typ {
		case "IHDR":
			if !first {
				return canvas{}, errNotMine
			}
			var err error
			if hdr, err = parseIHDR(body); err != nil {
				return canvas{}, err
			}
			continue
		case "IDAT":
			if idat < 0 {
				idat = off - 12 - int(n)
			}
			if idatEnd < 0 && off < len(data)-8 && string(data[off+4:off+8]) != "IDAT" {
				idatEnd = off
			}
		case "IEND":
			if idat < 0 || n != 0 {
				return canvas{}, errNotMine
			}
			seenEnd = true
		case "PLTE", "tRNS":
			return canvas{}, errNotMine
		}
		if first {
			return canvas{}, errNotMine // no IHDR first
		}
	}
	if idatEnd < 0 {
		return canvas{}, errNotMine // cannot be: IEND follows the IDAT chunks
	}
	if int64(hdr.w)*int64(hdr.h) > int64(maxPixels) {
		return canvas{}, fmt.Errorf("%w: %dx%d is %s pixels, the limit is %s",
			ErrImageTooLarge, hdr.w, hdr.h, commas(hdr.w*hdr.h), commas(maxPixels))
	}
	stream, ends := idatStream(data, idat, idatEnd)
	return hdr.decode(stream, ends, par, band)
}

// A pngHeader is what readPNG needs of an IHDR chunk.
type pngHeader struct {
	w, h     int
	depth    int // 8 or 16
	channels int // 1 (grey), 2 (grey, alpha), 3 (RGB) or 4 (RGBA)
	f        *pixelFormat
}

// parseIHDR reads an IHDR chunk that readPNG can decode, or returns
// errNotMine.
func parseIHDR(b []byte) (pngHeader, error) {
	if len(b) != 13 {
		return pngHeader{}, errNotMine
	}
	w, h := int32(binary.BigEndian.Uint32(b)), int32(binary.BigEndian.Uint32(b[4:]))
	depth, colorType := int(b[8]), b[9]
	if w <= 0 || h <= 0 || b[10] != 0 || b[11] != 0 || b[12] != 0 || depth != 8 && depth != 16 {
		return pngHeader{}, errNotMine // image.Decode says what is wrong, or reads it
	}
	hdr := pngHeader{w: int(w), h: int(h), depth: depth}
	switch colorType {
	case 0:
		hdr.channels = 1
	case 2:
		hdr.channels = 3
	case 4:
		hdr.channels = 2
	case 6:
		hdr.channels = 4
	default:
		return pngHeader{}, errNotMine
	}
	alpha := hdr.channels%2 == 0
	switch {
	case depth == 8 && alpha:
		hdr.f = fmtRGBA8
	case depth == 8:
		hdr.f = fmtRGB8
	case alpha:
		hdr.f = fmtRGBA16
	default:
		hdr.f = fmtRGB16
	}
	return hdr, nil
}

// idatStream returns the data of the IDAT chunks from off (the first) to
// end (the chunk after the last) as one slice, and where each chunk's data
// ends in it. One chunk, as this package writes, is read in place; several
// are copied together.
func idatStream(data []byte, off, end int) ([]byte, []int) {
	var parts [][]byte
	var ends []int
	total := 0
	for off < end {
		n := int(binary.BigEndian.Uint32(data[off:]))
		parts = append(parts, data[off+8:off+8+n])
		total += n
		ends = append(ends, total)
		off += 12 + n
	}
	if len(parts) == 1 {
		return parts[0], ends
	}
	stream := make([]byte, 0, total)
	for _, p := range parts {
		stream = append(stream, p...)
	}
	return stream, ends
}

// decode inflates the zlib stream and unfilters its rows into a canvas.
// ends are the offsets in stream where its IDAT chunks end: bytes after the
// zlib stream are refused in the chunk it ends in, and ignored in later
// IDAT chunks, as image/png ignores them. A stream in bands, as this
// package's writer makes, is inflated on up to par goroutines.
func (hdr pngHeader) decode(stream []byte, ends []int, par, band int) (canvas, error) {
	if len(stream) < 2 {
		return canvas{}, damaged("not enough pixel data")
	}
	cmf, flg := stream[0], stream[1]
	switch {
	case cmf&0x0f != 8 || cmf>>4 > 7 || (uint16(cmf)<<8|uint16(flg))%31 != 0:
		return canvas{}, damaged("zlib: invalid header")
	case flg&0x20 != 0:
		return canvas{}, damaged("zlib: invalid dictionary")
	}
	c := newCanvas(hdr.w, hdr.h, hdr.f)
	if hdr.bandsIn(c, stream, ends, par, band) {
		return c, nil
	}
	// Not in bands, or damaged: one pass says which, and what.
	return c, hdr.inflate(c, stream, ends)
}

// inflate decodes the whole stream on the caller's goroutine.
func (hdr pngHeader) inflate(c canvas, stream []byte, ends []int) error {
	src := bytes.NewReader(stream[2:])
	z, err := getInflater(src)
	if err != nil {
		return damaged("%v", err)
	}
	defer inflaters.Put(z)

	bpp := hdr.channels * hdr.depth / 8 // bytes per pixel in the file
	rowLen := hdr.w * bpp
	direct := bpp == hdr.f.bpp // the file's rows are the canvas's
	// raw holds a row as the stream has it, its filter type first; prev
	// and cur the unfiltered rows when they are not the canvas's own.
	buf := make([]byte, 1+rowLen+rowLen)
	raw, zero := buf[:1+rowLen], buf[1+rowLen:]
	prev, cur := zero, zero
	if !direct {
		rows := make([]byte, 2*rowLen)
		prev, cur = rows[:rowLen], rows[rowLen:]
	}
	adler := uint32(1)
	for y := 0; y < hdr.h; y++ {
		if err := readRow(z, raw); err != nil {
			return err
		}
		adler = adler32Update(adler, raw)
		dst := c.pix[y*rowLen : (y+1)*rowLen : (y+1)*rowLen]
		if !direct {
			dst = cur
		}
		if !unfilter(raw[0], dst, raw[1:], prev, bpp) {
			return damaged("bad filter type")
		}
		if direct {
			prev = dst
		} else {
			hdr.expand(c.pix[y*hdr.w*hdr.f.bpp:(y+1)*hdr.w*hdr.f.bpp], cur)
			prev, cur = cur, prev
		}
	}
	if err := streamEnds(z, io.EOF); err != nil {
		return err
	}
	return checkTrailer(src, stream, ends, adler)
}

// readRow reads a row as the stream holds it.
func readRow(z io.Reader, raw []byte) error {
	if _, err := io.ReadFull(z, raw); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return damaged("not enough pixel data")
		}
		return damaged("%v", err)
	}
	return nil
}

// streamEnds checks that z gives no more bytes, but end: io.EOF after the
// final block, io.ErrUnexpectedEOF at the end of a band.
func streamEnds(z io.Reader, end error) error {
	var one [1]byte
	n, err := 0, error(nil)
	for i := 0; n == 0 && err == nil; i++ {
		if i == 100 {
			return damaged("%v", io.ErrNoProgress)
		}
		n, err = z.Read(one[:])
	}
	switch {
	case n != 0:
		return damaged("too much pixel data")
	case err != end:
		return damaged("%v", err)
	}
	return nil
}

// checkTrailer reads the Adler-32 after the deflate stream from src, the
// rest of stream, and checks that nothing follows it in its IDAT chunk.
func checkTrailer(src *bytes.Reader, stream []byte, ends []int, adler uint32) error {
	var sum [4]byte
	if _, err := io.ReadFull(src, sum[:]); err != nil {
		return damaged("zlib: %v", io.ErrUnexpectedEOF)
	}
	if binary.BigEndian.Uint32(sum[:]) != adler {
		return damaged("zlib: invalid checksum")
	}
	at := len(stream) - src.Len()
	for _, end := range ends {
		if at <= end {
			if at < end {
				return damaged("too much pixel data")
			}
			break
		}
	}
	return nil
}

// getInflater takes a decompressor from the pool, reset to read r.
func getInflater(r io.Reader) (io.ReadCloser, error) {
	if z, ok := inflaters.Get().(io.ReadCloser); ok {
		return z, z.(flate.Resetter).Reset(r, nil)
	}
	return flate.NewReader(r), nil
}

// bandsIn inflates a stream made in bands by this package's writer on up
// to par goroutines, one band each, and unfilters the bands in order on
// the caller's: it reports false, having done nothing that counts, for a
// stream that is not in bands or does not read as one.
//
// The writer ends every band but the last with a sync flush, an empty
// stored block whose length bytes, 00 00 ff ff, leave the stream on a byte
// boundary, and starts each band with no reference to the ones before. So
// the bands start after those markers, the first where the stream does.
// If each band, read by a fresh decoder, yields exactly its rows and its
// last block ends on a byte boundary exactly where the next band starts,
// one pass over the whole stream would be at the start of a block there
// too, and would read the next band as a fresh decoder does (which fails
// on any reference to what came before it). A marker that is not one
// (four such bytes inside a band, one chance in some billions a position)
// or a stream from another writer shows as a band that does not read so.
func (hdr pngHeader) bandsIn(c canvas, stream []byte, ends []int, par, band int) bool {
	bpp := hdr.channels * hdr.depth / 8
	rowLen := hdr.w * bpp
	rows := bandRows(rowLen, band)
	bands := (hdr.h + rows - 1) / rows
	if par <= 1 || bands <= 1 || bpp != hdr.f.bpp {
		return false
	}
	// Markers in the last bytes are not looked for: Go's zlib writers end
	// their streams with an empty stored block too, a final one.
	const marker = "\x00\x00\xff\xff"
	starts := []int{2}
	for at := 2; len(starts) <= bands; {
		i := bytes.Index(stream[at:max(at, len(stream)-12)], []byte(marker))
		if i < 0 {
			break
		}
		at += i + len(marker)
		starts = append(starts, at)
	}
	if len(starts) != bands {
		return false
	}
	starts = append(starts, len(stream))
	filters := make([]byte, hdr.h)
	zero := make([]byte, rowLen)
	var failed atomic.Bool
	// A band gives its Adler-32, or what is left of the stream after the
	// last one, and whether it read as a band.
	type result struct {
		adler uint32
		rest  int
		ok    bool
	}
	adler, next := uint32(1), 0 // the band use gets next
	inOrder(bands, par, func(_, b int) result {
		if failed.Load() {
			return result{}
		}
		piece := stream[starts[b]:starts[b+1]]
		src := bytes.NewReader(piece)
		// Where the last block read ended: the bytes out, the bits of
		// its last byte left unread, and the bytes of the piece not yet
		// read. (The checkpoint's own byte offset counts some bytes twice
		// after a stored block.)
		var out int64
		var bits uint8
		rest := -1
		z := flate.NewReaderOpts(src, flate.WithEobCallback(func(cp flate.InflateCheckpoint) {
			out, bits, rest = cp.UncompressedOffset, cp.BitOffset, src.Len()
		}))
		// The rows go into the canvas as they are, to be unfiltered in
		// place in order.
		sum := uint32(1)
		y0, y1 := b*rows, min(hdr.h, (b+1)*rows)
		for y := y0; y < y1; y++ {
			row := c.pix[y*rowLen : (y+1)*rowLen]
			if readRow(z, filters[y:y+1]) != nil || readRow(z, row) != nil {
				return result{}
			}
			sum = adler32Update(adler32Update(sum, filters[y:y+1]), row)
		}
		if b == bands-1 {
			ok := streamEnds(z, io.EOF) == nil
			return result{sum, src.Len(), ok}
		}
		n := (y1 - y0) * (rowLen + 1)
		return result{sum, 0, streamEnds(z, io.ErrUnexpectedEOF) == nil &&
			out == int64(n) && bits == 0 && rest == 0}
	}, func(r result) {
		b := next
		next++
		if !r.ok || failed.Load() {
			failed.Store(true)
			return
		}
		y0, y1 := b*rows, min(hdr.h, (b+1)*rows)
		adler = adler32Combine(adler, r.adler, (y1-y0)*(rowLen+1))
		prev := zero
		if y0 > 0 {
			prev = c.pix[(y0-1)*rowLen : y0*rowLen]
		}
		for y := y0; y < y1; y++ {
			row := c.pix[y*rowLen : (y+1)*rowLen]
			if !unfilter(filters[y], row, row, prev, bpp) {
				failed.Store(true)
				return
			}
			prev = row
		}
		if b == bands-1 {
			src := bytes.NewReader(stream[len(stream)-r.rest:])
			if checkTrailer(src, stream, ends, adler) != nil {
				failed.Store(true)
			}
		}
	})
	return !failed.Load()
}

// expand widens an unfiltered grey row to the canvas's RGB or RGBA.
func (hdr pngHeader) expand(dst, src []byte) {
	switch {
	case hdr.channels == 1 && hdr.depth == 8:
		for x, v := range src {
			d := dst[3*x : 3*x+3]
			d[0], d[1], d[2] = v, v, v
		}
	case hdr.channels == 1:
		for x := 0; x < hdr.w; x++ {
			hi, lo := src[2*x], src[2*x+1]
			d := dst[6*x : 6*x+6]
			d[0], d[1], d[2], d[3], d[4], d[5] = hi, lo, hi, lo, hi, lo
		}
	case hdr.depth == 8: // grey and alpha
		for x := 0; x < hdr.w; x++ {
			v, a := src[2*x], src[2*x+1]
			d := dst[4*x : 4*x+4]
			d[0], d[1], d[2], d[3] = v, v, v, a
		}
	default:
		for x := 0; x < hdr.w; x++ {
			s := src[4*x : 4*x+4]
			d := dst[8*x : 8*x+8]
			d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7] = s[0], s[1], s[0], s[1], s[0], s[1], s[2], s[3]
		}
	}
}

// unfilter undoes a row's filter: dst gets src with the prediction from
// the bytes left of it in dst and above it in prev added back. It reports
// false for an unknown filter type.
func unfilter(filter byte, dst, src, prev []byte, bpp int) bool {
	n := len(src)
	dst, prev = dst[:n], prev[:n]
	switch filter {
	case filterNone:
		copy(dst, src)
	case filterSub:
		copy(dst[:bpp], src[:bpp])
		for i := bpp; i < n; i++ {
			dst[i] = src[i] + dst[i-bpp]
		}
	case filterUp:
		for i := range dst {
			dst[i] = src[i] + prev[i]
		}
	case filterAverage:
		for i := 0; i < bpp; i++ {
			dst[i] = src[i] + prev[i]/2
		}
		for i := bpp; i < n; i++ {
			dst[i] = src[i] + byte((int(dst[i-bpp])+int(prev[i]))>>1)
		}
	case filterPaeth:
		for i := 0; i < bpp; i++ {
			dst[i] = src[i] + prev[i]
		}
		for i := bpp; i < n; i++ {
			dst[i] = src[i] + paeth(int(dst[i-bpp]), int(prev[i]), int(prev[i-bpp]))
		}
	default:
		return false
	}
	return true
}
