package stego

import (
	"bytes"
	"hash/adler32"
	"image"
	"image/png"
	"math/rand/v2"
	"testing"
)

func noiseCanvas(w, h int, f *pixelFormat, seed uint64) canvas {
	c := newCanvas(w, h, f)
	r := rand.New(rand.NewPCG(seed, 3))
	for i := range c.pix {
		c.pix[i] = byte(r.Uint32())
	}
	if f.skip { // opaque by definition
		for i := f.bpp - f.depth/8; i < len(c.pix); i += f.bpp {
			for j := 0; j < f.depth/8; j++ {
				c.pix[i+j] = 0xff
			}
		}
	}
	return c
}

func flatCanvas(w, h int, f *pixelFormat) canvas {
	c := newCanvas(w, h, f)
	for i := range c.pix {
		c.pix[i] = byte(i / (w * f.bpp) / 7) // bands of seven rows
	}
	if f.skip {
		for i := f.bpp - f.depth/8; i < len(c.pix); i += f.bpp {
			for j := 0; j < f.depth/8; j++ {
				c.pix[i+j] = 0xff
			}
		}
	}
	return c
}

func TestPNGWriterIsReadBackPixelForPixel(t *testing.T) {
	for _, f := range allFormats {
		for _, size := range [][2]int{{1, 1}, {2, 3}, {17, 5}, {157, 101}} {
			for name, c := range map[string]canvas{
				"noise": noiseCanvas(size[0], size[1], f, uint64(size[0])),
				"flat":  flatCanvas(size[0], size[1], f),
			} {
				out := encodePNG(&c, 2)
				m, err := png.Decode(bytes.NewReader(out))
				if err != nil {
					t.Fatalf("%s %dx%d %s: %v", f.name, size[0], size[1], name, err)
				}
				a, b := samples(canvasImage(&c)), samples(m)
				for i := range a {
					if a[i] != b[i] {
						t.Fatalf("%s %dx%d %s: pixel %d is %v, wrote %v", f.name, size[0], size[1], name, i, b[i], a[i])
					}
				}
			}
		}
	}
}

// The zlib stream deflated in bands, each on whichever goroutine, is one
// valid stream (image/png checks its Adler-32), and the same bytes however
// many goroutines made it.
func TestPNGBandsMakeOneStreamWhateverTheParallelism(t *testing.T) {
	for _, f := range allFormats {
		for _, level := range []int{levelPhoto, levelFlat, levelVeryFlat} {
			for _, band := range []int{1, 300, 1000, 1 << 20} {
				c := noiseCanvas(57, 41, f, uint64(band))
				if level != levelPhoto {
					c = flatCanvas(57, 41, f)
				}
				rows := bandRows(57*f.bpp, band)
				one := encodePNGWith(&c, level, filterAuto, 1, band)
				if four := encodePNGWith(&c, level, filterAuto, 4, band); !bytes.Equal(one, four) {
					t.Fatalf("%s level %d, bands of %d rows: 1 and 4 goroutines wrote different files", f.name, level, rows)
				}
				m, err := png.Decode(bytes.NewReader(one))
				if err != nil {
					t.Fatalf("%s level %d, bands of %d rows: %v", f.name, level, rows, err)
				}
				a, b := samples(canvasImage(&c)), samples(m)
				for i := range a {
					if a[i] != b[i] {
						t.Fatalf("%s level %d, bands of %d rows: pixel %d is %v, wrote %v", f.name, level, rows, i, b[i], a[i])
					}
				}
			}
		}
	}
}

func TestAdler32CombineIsTheAdler32OfTheConcatenation(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 5551, 5552, 65520, 65521, 65522, 200_000} {
		a, b := make([]byte, r.IntN(70_000)), make([]byte, n)
		for i := range a {
			a[i] = byte(r.Uint32())
		}
		for i := range b {
			b[i] = 0xff - byte(r.IntN(3))
		}
		want := adler32.Checksum(append(append([]byte(nil), a...), b...))
		if got := adler32Combine(adler32.Checksum(a), adler32.Checksum(b), len(b)); got != want {
			t.Errorf("%d and %d bytes: %08x, want %08x", len(a), n, got, want)
		}
	}
}

// The output may be at most 10% larger than image/png's at its default
// level, on photographs veiled half full and on flat pictures alike.
func TestPNGWriterStaysWithinTenPercentOfImagePNG(t *testing.T) {
	veil := func(c canvas) canvas { return veilPart(t, c, 2) }
	for name, c := range map[string]canvas{
		"generated cover, veiled": veil(generate(400, 300, 1, fmtRGB8, true, 2)),
		"photograph-like, veiled": veil(photoLike(400, 300, 2)),
		"RGBA, veiled":            veil(toCanvas(nrgbaImage(300, 200, 3))),
		"16-bit, veiled":          veil(toCanvas(rgb64Image(300, 200, 4))),
		"flat":                    flatCanvas(640, 480, fmtRGB8),
		"flat, veiled":            veil(flatCanvas(640, 480, fmtRGBX8)),
		"flat, 1% veiled":         veilPart(t, flatCanvas(640, 480, fmtRGBX8), 100),
	} {
		t.Run(name, func(t *testing.T) {
			ours := len(encodePNG(&c, 2))
			var std bytes.Buffer
			if err := png.Encode(&std, stdImage(&c)); err != nil {
				t.Fatal(err)
			}
			t.Logf("%d bytes, image/png %d (%.3f)", ours, std.Len(), float64(ours)/float64(std.Len()))
			if float64(ours) > 1.10*float64(std.Len()) {
				t.Errorf("%d bytes, more than 10%% over image/png's %d", ours, std.Len())
			}
		})
	}
}

// stdImage is the canvas as the image type image/png writes in the same
// PNG colour type and depth.
func stdImage(c *canvas) image.Image {
	r := image.Rect(0, 0, c.w, c.h)
	switch c.f {
	case fmtRGBX8:
		return &image.RGBA{Pix: c.pix, Stride: 4 * c.w, Rect: r}
	case fmtRGBA8:
		return &image.NRGBA{Pix: c.pix, Stride: 4 * c.w, Rect: r}
	case fmtRGBX16:
		return &image.RGBA64{Pix: c.pix, Stride: 8 * c.w, Rect: r}
	case fmtRGBA16:
		return &image.NRGBA64{Pix: c.pix, Stride: 8 * c.w, Rect: r}
	case fmtRGB8:
		m := image.NewRGBA(r)
		for i := 0; i < c.w*c.h; i++ {
			copy(m.Pix[4*i:], c.pix[3*i:3*i+3])
			m.Pix[4*i+3] = 0xff
		}
		return m
	}
	return canvasImage(c)
}

// veilPart fills 1/part of the canvas's capacity with random bytes.
func veilPart(t testing.TB, c canvas, part int) canvas {
	stream := make([]byte, c.blocks()/part*blockBytes)
	rand.NewChaCha8([32]byte{1}).Read(stream)
	embed(&c, testKey(t, 1), stream)
	return c
}

func TestAdler32UpdateIsHashAdler32(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 7, 8, 9, 5552, 65536, 1<<22 + 13, 3 << 21} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if n > 65536 {
			// Runs of 0xff make the largest sums.
			for i := 0; i < n/2; i++ {
				b[i] = 0xff
			}
		}
		want := adler32.Checksum(b)
		if got := adler32Update(1, b); got != want {
			t.Errorf("%d bytes: %08x, want %08x", n, got, want)
		}
		if cut := n / 3; adler32Update(adler32Update(1, b[:cut]), b[cut:]) != want {
			t.Errorf("%d bytes in two calls: not %08x", n, want)
		}
	}
}
