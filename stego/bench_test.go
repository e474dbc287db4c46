package stego

import (
	"bytes"
	"image/png"
	"runtime"
	"sync"
	"testing"
)

// The benchmark cover: a photograph-like 1920x1080 picture, as image/png
// writes it, and a secret of half its capacity.
var bench1080 = sync.OnceValues(func() (cover, secret []byte) {
	c := photoLike(1920, 1080, 1)
	cover = encodeStd(stdImage(&c))
	secret = secretPNG(nil, CapacityOf(1920, 1080)/2, 1)
	return cover, secret
})

// allocRatio reports the bytes allocated per operation as a multiple of
// raw, the cover's decoded pixel buffer.
func allocRatio(b *testing.B, raw int, run func()) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	run()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/float64(raw), "alloc/raw")
}

// BenchmarkHide1080p hides half the capacity (code k = 2); the DefaultFill
// one a quarter (k = 4), the fill of generated covers.
func BenchmarkHide1080p(b *testing.B) {
	cover, secret := bench1080()
	benchHide(b, cover, secret)
}

func BenchmarkHide1080pDefaultFill(b *testing.B) {
	cover, _ := bench1080()
	benchHide(b, cover, secretPNG(nil, int(float64(CapacityOf(1920, 1080))*defaultFill), 2))
}

func benchHide(b *testing.B, cover, secret []byte) {
	key := testKey(b, 1)
	b.SetBytes(1920 * 1080 * 3)
	b.ReportAllocs()
	b.ResetTimer()
	var out []byte
	allocRatio(b, 1920*1080*4, func() {
		for i := 0; i < b.N; i++ {
			var err error
			out, _, err = Hide(secret, testMeta(), cover, key, Options{})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(len(out)), "png-bytes")
}

func BenchmarkReveal1080p(b *testing.B) {
	cover, secret := bench1080()
	key := testKey(b, 1)
	veiled, _, err := Hide(secret, testMeta(), cover, key, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(1920 * 1080 * 3)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := Reveal(veiled, key, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHideGeneratedCover hides the same secret with no cover given:
// Hide paints a cover of twice the size the payload needs.
func BenchmarkHideGeneratedCover(b *testing.B) {
	_, secret := bench1080()
	key := testKey(b, 1)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, _, err := Hide(secret, testMeta(), nil, key, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// benchSecret is a photograph-sized secret: a PNG of 2 MB of random bytes,
// about the size of the 1.9 MB JPEG the levels are measured with in
// docs/stego.md, and as incompressible.
var benchSecret = sync.OnceValue(func() []byte { return secretPNG(nil, 2_000_000, 1) })

// BenchmarkHide and BenchmarkReveal hide a photograph-sized secret in a
// generated cover at each level, and reveal it; the bytes are the
// secret's, so MB/s is megabytes of secret a second. Options.Parallelism
// is left at its default: -cpu 1,2 gives the figures on one core and on
// two.
func BenchmarkHide(b *testing.B) {
	secret, key := benchSecret(), testKey(b, 1)
	for _, level := range Levels {
		b.Run(level.String(), func(b *testing.B) {
			b.SetBytes(int64(len(secret)))
			var out []byte
			for i := 0; i < b.N; i++ {
				var err error
				if out, _, err = Hide(secret, testMeta(), nil, key, Options{Level: level}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(out))/float64(len(secret)), "png/secret")
		})
	}
}

func BenchmarkReveal(b *testing.B) {
	secret, key := benchSecret(), testKey(b, 1)
	for _, level := range Levels {
		b.Run(level.String(), func(b *testing.B) {
			veiled, _, err := Hide(secret, testMeta(), nil, key, Options{Level: level})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(secret)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, _, err := Reveal(veiled, key, Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEmbed and BenchmarkExtract move a full-capacity stream in and
// out of a decoded 1080p image (the keyed walk included); bytes are carrier
// bytes, the R, G and B samples.
func BenchmarkEmbed(b *testing.B) {
	for _, f := range []*pixelFormat{fmtRGB8, fmtRGBX8, fmtRGBA16} {
		b.Run(f.name, func(b *testing.B) {
			c := newCanvas(1920, 1080, f)
			stream := make([]byte, usableBlocks(c.blocks())*blockBytes)
			key := testKey(b, 1)
			b.SetBytes(int64(usableBlocks(c.blocks()) * blockPixels * 3))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				embed(&c, key, stream)
			}
		})
	}
}

func BenchmarkExtract(b *testing.B) {
	for _, f := range []*pixelFormat{fmtRGB8, fmtRGBX8, fmtRGBA16} {
		b.Run(f.name, func(b *testing.B) {
			c := newCanvas(1920, 1080, f)
			stream := make([]byte, usableBlocks(c.blocks())*blockBytes)
			key := testKey(b, 1)
			b.SetBytes(int64(usableBlocks(c.blocks()) * blockPixels * 3))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				extract(&c, newWalk(key, c.blocks()), stream, 0, usableBlocks(c.blocks()))
			}
		})
	}
}

// BenchmarkPNG compares the writer with image/png on the veiled benchmark
// image; png-bytes is the size of the file.
func BenchmarkPNG(b *testing.B) {
	cover, secret := bench1080()
	veiled, _, err := Hide(secret, testMeta(), cover, testKey(b, 1), Options{})
	if err != nil {
		b.Fatal(err)
	}
	c, err := decodeCanvas(veiled, DefaultMaxPixels, 2)
	if err != nil {
		b.Fatal(err)
	}
	img := stdImage(&c)
	run := func(name string, encode func() []byte) {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(c.pix)))
			var out []byte
			for i := 0; i < b.N; i++ {
				out = encode()
			}
			b.ReportMetric(float64(len(out)), "png-bytes")
		})
	}
	run("veil", func() []byte { return encodePNG(&c, 1) })
	for _, lvl := range []png.CompressionLevel{png.DefaultCompression, png.BestSpeed} {
		name := map[png.CompressionLevel]string{png.DefaultCompression: "image-png-default", png.BestSpeed: "image-png-bestspeed"}[lvl]
		run(name, func() []byte {
			var buf bytes.Buffer
			if err := (&png.Encoder{CompressionLevel: lvl}).Encode(&buf, img); err != nil {
				b.Fatal(err)
			}
			return buf.Bytes()
		})
	}
}

// BenchmarkDecode1080p is image/png reading the veiled image: most of
// Reveal.
func BenchmarkDecode1080p(b *testing.B) {
	cover, secret := bench1080()
	veiled, _, err := Hide(secret, testMeta(), cover, testKey(b, 1), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(1920 * 1080 * 3)
	for i := 0; i < b.N; i++ {
		if _, err := png.Decode(bytes.NewReader(veiled)); err != nil {
			b.Fatal(err)
		}
	}
}
