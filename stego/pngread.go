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
// maxPixels, and nothing after it but the canvas (and, for grey, two rows):
// the reader takes only the rows the header announces from the stream.
func readPNG(data []byte, maxPixels int) (canvas, error) {
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
	return hdr.decode(stream, ends)
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
// zlib stream are refused in its last chunk, as image/png does, and ignored
// in later ones, as image/png does too.
func (hdr pngHeader) decode(stream []byte, ends []int) (canvas, error) {
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
	src := bytes.NewReader(stream[2:])
	z, _ := inflaters.Get().(io.ReadCloser)
	if z == nil {
		z = flate.NewReader(src)
	} else if err := z.(flate.Resetter).Reset(src, nil); err != nil {
		return canvas{}, damaged("%v", err)
	}
	defer inflaters.Put(z)

	c := newCanvas(hdr.w, hdr.h, hdr.f)
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
		if _, err := io.ReadFull(z, raw); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return canvas{}, damaged("not enough pixel data")
			}
			return canvas{}, damaged("%v", err)
		}
		adler = adler32Update(adler, raw)
		dst := c.pix[y*rowLen : (y+1)*rowLen : (y+1)*rowLen]
		if !direct {
			dst = cur
		}
		if !unfilter(raw[0], dst, raw[1:], prev, bpp) {
			return canvas{}, damaged("bad filter type")
		}
		if direct {
			prev = dst
		} else {
			hdr.expand(c.pix[y*hdr.w*hdr.f.bpp:(y+1)*hdr.w*hdr.f.bpp], cur)
			prev, cur = cur, prev
		}
	}
	// The stream must end here: its final block, then the Adler-32.
	var one [1]byte
	n, err := 0, error(nil)
	for i := 0; n == 0 && err == nil; i++ {
		if i == 100 {
			return canvas{}, damaged("%v", io.ErrNoProgress)
		}
		n, err = z.Read(one[:])
	}
	switch {
	case n != 0:
		return canvas{}, damaged("too much pixel data")
	case err != io.EOF:
		return canvas{}, damaged("%v", err)
	}
	var sum [4]byte
	if _, err := io.ReadFull(src, sum[:]); err != nil {
		return canvas{}, damaged("zlib: %v", io.ErrUnexpectedEOF)
	}
	if binary.BigEndian.Uint32(sum[:]) != adler {
		return canvas{}, damaged("zlib: invalid checksum")
	}
	// What is left of the IDAT chunk the stream ended in.
	at := len(stream) - src.Len()
	for _, end := range ends {
		if at <= end {
			if at < end {
				return canvas{}, damaged("too much pixel data")
			}
			break
		}
	}
	return c, nil
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
