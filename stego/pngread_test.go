package stego

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"image/png"
	"testing"
)

// pngChunk is one chunk of a PNG file.
type pngChunk struct {
	typ  string
	data []byte
}

// pngChunks splits a well-formed PNG into its chunks.
func pngChunks(t testing.TB, b []byte) []pngChunk {
	var out []pngChunk
	for off := 8; off < len(b); {
		n := int(binary.BigEndian.Uint32(b[off:]))
		out = append(out, pngChunk{string(b[off+4 : off+8]), b[off+8 : off+8+n]})
		off += 12 + n
	}
	return out
}

// joinPNG writes chunks as a PNG file, each with its right CRC.
func joinPNG(chunks []pngChunk) []byte {
	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	for _, c := range chunks {
		chunk(&out, c.typ, c.data)
	}
	return out.Bytes()
}

// rewritePNG replaces the zlib stream of a PNG by what fn makes of it, in
// IDAT chunks of at most size bytes.
func rewritePNG(t testing.TB, b []byte, size int, fn func(stream []byte) []byte) []byte {
	var stream []byte
	var head, tail []pngChunk
	for _, c := range pngChunks(t, b) {
		switch {
		case c.typ == "IDAT":
			stream = append(stream, c.data...)
		case stream == nil:
			head = append(head, c)
		default:
			tail = append(tail, c)
		}
	}
	stream = fn(stream)
	out := head
	for len(stream) > size {
		out = append(out, pngChunk{"IDAT", stream[:size]})
		stream = stream[size:]
	}
	out = append(out, pngChunk{"IDAT", stream})
	return joinPNG(append(out, tail...))
}

// readPNGTestFiles are PNGs readPNG takes, named.
func readPNGTestFiles(t testing.TB) map[string][]byte {
	files := map[string][]byte{}
	for i, kind := range coverKinds() {
		switch i {
		case 3, 4, 5, 6, 10, 11, 12, 13: // 8 and 16 bits, grey or colour, not interlaced
		default:
			continue
		}
		for _, size := range [][2]int{{1, 1}, {3, 2}, {61, 37}} {
			files[fmt.Sprintf("%s %dx%d", kind.name, size[0], size[1])] = kind.make(size[0], size[1], uint64(i))
		}
	}
	for _, f := range allFormats {
		c := noiseCanvas(45, 31, f, 7)
		files["this package's "+f.name] = encodePNGWith(&c, autoLevel, filterAuto, 2, pngBand)
		files["this package's "+f.name+" in bands"] = encodePNGWith(&c, autoLevel, filterAuto, 2, testBand)
		fl := flatCanvas(45, 31, f)
		files["this package's flat "+f.name+" in bands"] = encodePNGWith(&fl, levelFlat, filterAuto, 2, testBand)
	}
	rgb := files["this package's rgb8"]
	files["IDAT chunks of 1 byte"] = rewritePNG(t, rgb, 1, func(s []byte) []byte { return s })
	ch := pngChunks(t, rgb) // IHDR, IDAT, IEND
	files["an empty IDAT chunk after the stream's"] = joinPNG([]pngChunk{ch[0], ch[1], {"IDAT", nil}, ch[2]})
	files["a stray IDAT chunk after the stream's"] = joinPNG([]pngChunk{ch[0], ch[1], {"IDAT", []byte("junk")}, ch[2]})
	files["an ancillary chunk between IDAT and IEND"] = joinPNG(append(ch[:len(ch)-1:len(ch)-1], pngChunk{"tEXt", []byte("a\x00b")}, ch[len(ch)-1]))
	files["a stray IDAT chunk after another chunk"] = joinPNG(append(ch[:len(ch)-1:len(ch)-1], pngChunk{"tEXt", []byte("a\x00b")}, pngChunk{"IDAT", []byte("junk")}, ch[len(ch)-1]))
	files["bytes after IEND"] = append(bytes.Clone(rgb), "trailing"...)
	return files
}

// testBand is the size of the bands of the PNGs the tests write in
// bands, for small pictures to have several.
const testBand = 500

func TestReadPNGReadsWhatImagePNGReads(t *testing.T) {
	for name, b := range readPNGTestFiles(t) {
		t.Run(name, func(t *testing.T) {
			for _, par := range []int{1, 3} {
				c, err := readPNGWith(b, DefaultMaxPixels, par, testBand)
				if err != nil {
					t.Fatalf("readPNG on %d goroutines: %v", par, err)
				}
				comparePNG(t, c, b)
			}
		})
	}
}

// The bands of this package's writer are read on several goroutines, and
// a damaged band is refused as damage anywhere else is.
func TestReadPNGReadsBandsOnEveryCore(t *testing.T) {
	for _, f := range allFormats {
		c := noiseCanvas(61, 37, f, 9)
		b := encodePNGWith(&c, autoLevel, filterAuto, 2, testBand)
		hdr, stream := pngStream(t, b)
		if !hdr.bandsIn(newCanvas(hdr.w, hdr.h, hdr.f), stream, []int{len(stream)}, 3, testBand) {
			t.Errorf("%s: the bands did not read as bands", f.name)
		}
		for i := 20; i < len(stream)-8; i += len(stream) / 7 {
			bad := rewritePNG(t, b, len(b), func(s []byte) []byte { s = bytes.Clone(s); s[i] ^= 0x21; return s })
			if _, err := readPNGWith(bad, DefaultMaxPixels, 3, testBand); !errors.Is(err, ErrUnsupportedImage) {
				t.Errorf("%s: byte %d of %d flipped: %v, want ErrUnsupportedImage", f.name, i, len(stream), err)
			}
		}
		// Written in bands of one size, read as if in bands of another:
		// the bands do not read, and one pass reads the file.
		got, err := readPNGWith(b, DefaultMaxPixels, 3, 2*testBand)
		if err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		comparePNG(t, got, b)
	}
}

// pngStream returns the header and the zlib stream of a PNG readPNG takes.
func pngStream(t *testing.T, b []byte) (pngHeader, []byte) {
	var stream []byte
	var hdr pngHeader
	for _, c := range pngChunks(t, b) {
		switch c.typ {
		case "IHDR":
			var err error
			if hdr, err = parseIHDR(c.data); err != nil {
				t.Fatal(err)
			}
		case "IDAT":
			stream = append(stream, c.data...)
		}
	}
	return hdr, stream
}

// comparePNG fails unless c holds what image/png reads from b, in a canvas
// of the same depth and alpha as toCanvas would make of it.
func comparePNG(t *testing.T, c canvas, b []byte) {
	t.Helper()
	m, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("readPNG read a file image/png refuses: %v", err)
	}
	if std := toCanvas(m); std.w != c.w || std.h != c.h || std.f.depth != c.f.depth || std.f.alpha != c.f.alpha {
		t.Fatalf("readPNG: %dx%d %s, image/png %dx%d %s", c.w, c.h, c.f.name, std.w, std.h, std.f.name)
	}
	got, want := samples(canvasImage(&c)), samples(m)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("pixel %d,%d: %v, image/png reads %v", i%c.w, i/c.w, got[i], want[i])
		}
	}
}

func TestReadPNGLeavesOtherImagesToImageDecode(t *testing.T) {
	rgb := encodeStd(rgbImage(20, 10, 1))
	ch := pngChunks(t, rgb)
	cases := map[string][]byte{
		"JPEG":                     coverKinds()[18].make(16, 16, 1),
		"GIF":                      coverKinds()[20].make(16, 16, 1),
		"interlaced":               coverKinds()[14].make(16, 16, 1),
		"paletted":                 coverKinds()[7].make(16, 16, 1),
		"grey at 4 bits":           coverKinds()[2].make(16, 16, 1),
		"a tRNS chunk":             joinPNG(append([]pngChunk{ch[0], {"tRNS", []byte{0, 1, 0, 2, 0, 3}}}, ch[1:]...)),
		"a PLTE chunk":             joinPNG(append([]pngChunk{ch[0], {"PLTE", []byte{1, 2, 3}}}, ch[1:]...)),
		"a chunk before IHDR":      joinPNG(append([]pngChunk{{"tEXt", []byte("a\x00b")}}, ch...)),
		"a second IHDR":            joinPNG(append([]pngChunk{ch[0], ch[0]}, ch[1:]...)),
		"IEND before IDAT":         joinPNG([]pngChunk{ch[0], {"IEND", nil}}),
		"an IHDR of 12 bytes":      joinPNG(append([]pngChunk{{"IHDR", ch[0].data[:12]}}, ch[1:]...)),
		"an unknown compression":   joinPNG(append([]pngChunk{{"IHDR", append(bytes.Clone(ch[0].data[:10]), 1, 0, 0)}}, ch[1:]...)),
		"an IEND that holds bytes": joinPNG(append(ch[:len(ch)-1:len(ch)-1], pngChunk{"IEND", []byte{0}})),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := readPNG(b, DefaultMaxPixels, 2); err != errNotMine {
				t.Fatalf("readPNG: %v, want errNotMine", err)
			}
		})
	}
}

func TestReadPNGRefusesDamagedFiles(t *testing.T) {
	c := noiseCanvas(40, 30, fmtRGB8, 1)
	good := encodePNG(&c, 1)
	rows := func(n int) []byte {
		var raw bytes.Buffer
		for y := 0; y < n; y++ {
			raw.WriteByte(filterNone)
			raw.Write(c.pix[y%c.h*c.w*3 : (y%c.h+1)*c.w*3])
		}
		var z bytes.Buffer
		zw := zlib.NewWriter(&z)
		zw.Write(raw.Bytes())
		zw.Close()
		return z.Bytes()
	}
	flip := func(b []byte, i int) []byte { b = bytes.Clone(b); b[i] ^= 0x10; return b }
	cases := map[string][]byte{
		"a flipped bit in the pixels, CRC fixed": rewritePNG(t, good, len(good), func(s []byte) []byte { return flip(s, len(s)/2) }),
		"a flipped bit, CRC not fixed":           flip(good, len(good)/2),
		"a wrong Adler-32":                       rewritePNG(t, good, len(good), func(s []byte) []byte { return flip(s, len(s)-1) }),
		"no Adler-32":                            rewritePNG(t, good, len(good), func(s []byte) []byte { return s[:len(s)-4] }),
		"bytes after the Adler-32":               rewritePNG(t, good, len(good), func(s []byte) []byte { return append(bytes.Clone(s), 0) }),
		"a row too few":                          rewritePNG(t, good, len(good), func([]byte) []byte { return rows(c.h - 1) }),
		"a row too many":                         rewritePNG(t, good, len(good), func([]byte) []byte { return rows(c.h + 1) }),
		"an unknown filter": rewritePNG(t, good, len(good), func([]byte) []byte {
			var z bytes.Buffer
			zw := zlib.NewWriter(&z)
			zw.Write(append([]byte{5}, make([]byte, c.w*3)...))
			zw.Close()
			return z.Bytes()
		}),
		"a bad zlib header": rewritePNG(t, good, len(good), func(s []byte) []byte { s = bytes.Clone(s); s[0] = 0x77; return s }),
		"no IEND":           good[:len(good)-12],
		"an empty stream":   rewritePNG(t, good, len(good), func([]byte) []byte { return nil }),
	}
	for _, n := range []int{9, 20, 33, 40, len(good) / 2, len(good) - 1} {
		cases[fmt.Sprintf("cut to %d bytes", n)] = good[:n]
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := readPNG(b, DefaultMaxPixels, 2); !errors.Is(err, ErrUnsupportedImage) {
				t.Fatalf("readPNG: %v, want ErrUnsupportedImage", err)
			}
		})
	}
	// A header over the limit is refused before any pixel is read.
	if _, err := readPNG(good, c.w*c.h-1, 2); !errors.Is(err, ErrImageTooLarge) {
		t.Errorf("over the limit: %v, want ErrImageTooLarge", err)
	}
}

// FuzzReadPNG holds readPNG to image/png on arbitrary files: whatever
// readPNG takes, in one pass or in bands, image/png takes too, with the
// same pixels, and readPNG fails only by leaving the file to image.Decode
// or as ErrUnsupportedImage (ErrImageTooLarge over the limit).
func FuzzReadPNG(f *testing.F) {
	for _, b := range readPNGTestFiles(f) {
		f.Add(b)
	}
	f.Add(coverKinds()[14].make(9, 7, 1)) // interlaced
	f.Add(coverKinds()[7].make(9, 7, 1))  // paletted
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 1 << 16
		// In one pass, and in bands of testBand on several goroutines.
		for _, par := range []int{1, 3} {
			c, err := readPNGWith(data, limit, par, testBand)
			switch {
			case err == errNotMine || errors.Is(err, ErrImageTooLarge):
				return
			case err != nil && !errors.Is(err, ErrUnsupportedImage):
				t.Fatalf("undocumented error: %v", err)
			case err != nil:
				continue
			}
			if cfg, err := png.DecodeConfig(bytes.NewReader(data)); err != nil || cfg.Width*cfg.Height > limit {
				t.Fatalf("readPNG read a %dx%d file whose header image/png refuses (%v) or that is over the limit", c.w, c.h, err)
			}
			comparePNG(t, c, data)
		}
	})
}
