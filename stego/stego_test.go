package stego

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"runtime"
	"strings"
	"testing"
	"time"
)

var fixedNow = func() time.Time { return time.Date(2026, 11, 22, 9, 30, 0, 123456789, time.UTC) }

func testMeta() Meta {
	return Meta{Owner: "olivia", Viewers: map[string]int{"alice": 3, "bob": 1}}
}

// samples returns the pixels of an image as non-premultiplied 16-bit RGBA.
// It is exact for every type the decoders return except YCbCr and CMYK,
// which are compared through the package's own conversion.
func samples(img image.Image) []color.NRGBA64 {
	switch img.(type) {
	case *image.YCbCr, *image.CMYK:
		c := toCanvas(img)
		img = canvasImage(&c)
	}
	b := img.Bounds()
	out := make([]color.NRGBA64, 0, b.Dx()*b.Dy())
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			out = append(out, exactNRGBA64(img.At(x, y)))
		}
	}
	return out
}

// exactNRGBA64 converts without the round trip through premultiplied
// colour that color.NRGBA64Model takes, which rounds translucent colours.
func exactNRGBA64(c color.Color) color.NRGBA64 {
	switch c := c.(type) {
	case color.NRGBA:
		return color.NRGBA64{uint16(c.R) * 0x101, uint16(c.G) * 0x101, uint16(c.B) * 0x101, uint16(c.A) * 0x101}
	case color.NRGBA64:
		return c
	}
	return color.NRGBA64Model.Convert(c).(color.NRGBA64)
}

// canvasImage views a canvas as an image (for comparisons only).
func canvasImage(c *canvas) image.Image {
	m := image.NewNRGBA64(image.Rect(0, 0, c.w, c.h))
	for i := 0; i < c.w*c.h; i++ {
		p := c.pix[i*c.f.bpp:]
		var v [4]uint16
		for ch := 0; ch < 4; ch++ {
			switch {
			case ch == 3 && !c.f.alpha && !c.f.skip:
				v[ch] = 0xffff
			case c.f.depth == 8:
				v[ch] = uint16(p[ch]) * 0x101
			default:
				v[ch] = uint16(p[2*ch])<<8 | uint16(p[2*ch+1])
			}
		}
		m.SetNRGBA64(i%c.w, i/c.w, color.NRGBA64{v[0], v[1], v[2], v[3]})
	}
	return m
}

func decode(t *testing.T, b []byte) image.Image {
	t.Helper()
	m, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decoding: %v", err)
	}
	return m
}

// checkOnlyPlusMinusOne checks that veiled differs from cover in nothing but
// R, G and B samples moved by one at the cover's depth, only in the carriers
// of one checkerboard colour, never alpha; that it differs; and that the
// moves go both ways from odd and even values alike (LSB matching), where
// LSB replacement only ever moves even values up and odd ones down.
func checkOnlyPlusMinusOne(t *testing.T, cover, veiled image.Image, depth int) {
	t.Helper()
	a, b := samples(cover), samples(veiled)
	if len(a) != len(b) {
		t.Fatalf("veiled image has %d pixels, cover %d", len(b), len(a))
	}
	w := cover.Bounds().Dx()
	shift := 16 - depth
	changed, free, against := 0, 0, 0
	parity := -1
	for i := range a {
		ca := [4]uint16{a[i].R, a[i].G, a[i].B, a[i].A}
		cb := [4]uint16{b[i].R, b[i].G, b[i].B, b[i].A}
		if ca[3] != cb[3] {
			t.Fatalf("pixel %d: alpha changed from %#04x to %#04x", i, ca[3], cb[3])
		}
		for ch := 0; ch < 3; ch++ {
			va, vb := int(ca[ch]>>shift), int(cb[ch]>>shift)
			if va == vb {
				continue
			}
			if vb-va != 1 && va-vb != 1 {
				t.Fatalf("pixel %d channel %d: %#04x became %#04x, more than one step", i, ch, ca[ch], cb[ch])
			}
			p := (i%w + i/w) & 1
			if parity == -1 {
				parity = p
			}
			if p != parity {
				t.Fatalf("pixel %d changed, but it is not on the carriers' checkerboard colour", i)
			}
			changed++
			if va == 0 || va == 1<<depth-1 {
				continue // at either end there is one way to go
			}
			free++
			if va%2 == 0 && vb < va || va%2 == 1 && vb > va {
				against++
			}
		}
	}
	if changed == 0 {
		t.Fatal("no sample changed: nothing was hidden")
	}
	if free >= 40 && (against < free/4 || against > 3*free/4) {
		t.Fatalf("%d of %d changes go the way LSB replacement never does; LSB matching makes it about half", against, free)
	}
}

// Every kind of cover, with the largest secret its capacity allows and with
// the smallest: with small metadata their bodies fill about a fifth and a
// tenth of the carriers (codes k = 4 and k = 6 where no carrier is flat).
func TestRoundTripOverEveryCoverKind(t *testing.T) {
	key := testKey(t, 1)
	for i, kind := range coverKinds() {
		for _, size := range []int{CapacityOf(157, 101), minSecret} {
			t.Run(fmt.Sprintf("%s, %d bytes", kind.name, size), func(t *testing.T) {
				roundTrip(t, kind, size, i, key)
			})
		}
	}
}

func roundTrip(t *testing.T, kind coverKind, size, i int, key Key) {
	const w, h = 157, 101 // odd on purpose
	cover := kind.make(w, h, uint64(i))
	secret := secretPNG(t, size, uint64(i))
	veiled, meta, err := Hide(secret, testMeta(), cover, key, seeded(uint64(i)))
	if err != nil {
		t.Fatalf("Hide: %v", err)
	}
	if !bytes.HasPrefix(veiled, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatal("output is not a PNG")
	}
	got, gotMeta, err := Reveal(veiled, key, Options{})
	if err != nil {
		t.Fatalf("Reveal: %v", err)
	}
	if !bytes.Equal(got, secret) {
		t.Fatal("revealed secret differs from the one hidden")
	}
	if fmt.Sprint(gotMeta) != fmt.Sprint(meta) || !gotMeta.Created.Equal(meta.Created) {
		t.Fatalf("meta = %+v, want %+v", gotMeta, meta)
	}
	out := decode(t, veiled)
	checkOnlyPlusMinusOne(t, decode(t, cover), out, kind.depth)
	var alpha, deep bool
	switch out.(type) {
	case *image.RGBA:
	case *image.NRGBA:
		alpha = true
	case *image.RGBA64:
		deep = true
	case *image.NRGBA64:
		alpha, deep = true, true
	default:
		t.Fatalf("veiled image decodes as %T, want truecolour", out)
	}
	if alpha != kind.alpha {
		t.Errorf("veiled image is %T: alpha channel %v, want %v", out, alpha, kind.alpha)
	}
	if deep != (kind.depth == 16) {
		t.Errorf("veiled image is %T for a %d-bit cover", out, kind.depth)
	}
}

func TestRoundTripOverEverySecretFormat(t *testing.T) {
	key := testKey(t, 2)
	for _, format := range []string{"png", "jpeg", "gif"} {
		t.Run(format, func(t *testing.T) {
			secret := secretOfFormat(format, 3)
			veiled, _, err := Hide(secret, testMeta(), nil, key, seeded(3))
			if err != nil {
				t.Fatal(err)
			}
			got, _, err := Reveal(veiled, key, Options{})
			if err != nil || !bytes.Equal(got, secret) {
				t.Fatalf("Reveal = %d bytes, %v; want the %d bytes hidden", len(got), err, len(secret))
			}
		})
	}
}

func TestSecretsUpToTheExactCapacityFit(t *testing.T) {
	key := testKey(t, 3)
	cover := encodeStd(rgbImage(200, 150, 9))
	capacity, err := Capacity(cover, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if capacity != CapacityOf(200, 150) {
		t.Fatalf("Capacity = %d, CapacityOf = %d", capacity, CapacityOf(200, 150))
	}
	// The largest metadata the limits allow, so that nothing is left over.
	big := Meta{Owner: strings.Repeat("o", MaxNameLen), Viewers: map[string]int{}}
	for i := 0; i < MaxViewers; i++ {
		big.Viewers[fmt.Sprintf("%0*d", MaxNameLen, i)] = MaxViews
	}
	for _, size := range []int{minSecret, capacity / 2, capacity - 1, capacity} {
		for _, meta := range []Meta{testMeta(), big} {
			secret := secretPNG(t, size, uint64(size))
			veiled, _, err := Hide(secret, meta, cover, key, seeded(4))
			if err != nil {
				t.Fatalf("%d bytes, %d viewers: %v", size, len(meta.Viewers), err)
			}
			got, _, err := Reveal(veiled, key, Options{})
			if err != nil || !bytes.Equal(got, secret) {
				t.Fatalf("%d bytes, %d viewers: got %d bytes, %v", size, len(meta.Viewers), len(got), err)
			}
		}
	}
}

func TestOneByteOverCapacityFailsWithBothNumbers(t *testing.T) {
	cover := encodeStd(rgbImage(200, 150, 9))
	capacity := CapacityOf(200, 150)
	_, _, err := Hide(secretPNG(t, capacity+1, 1), testMeta(), cover, testKey(t, 3), seeded(5))
	if !errors.Is(err, ErrPayloadTooLarge) {
		t.Fatalf("err = %v, want ErrPayloadTooLarge", err)
	}
	for _, n := range []string{commas(capacity), commas(capacity + 1), "200x150"} {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("error %q does not say %s", err, n)
		}
	}
}

func TestPayloadTooLargeIsFoundBeforeDecodingPixels(t *testing.T) {
	// The cover is cut right after its header: if Hide decoded pixels
	// before checking the size, it would report a damaged image instead.
	cover := encodeStd(rgbImage(100, 100, 1))[:33]
	_, _, err := Hide(secretPNG(t, 10_000, 1), testMeta(), cover, testKey(t, 3), seeded(5))
	if !errors.Is(err, ErrPayloadTooLarge) {
		t.Fatalf("err = %v, want ErrPayloadTooLarge", err)
	}
}

func TestCapacityReadsOnlyTheHeader(t *testing.T) {
	cover := rawPNGHeader(640, 480)[:33] // signature and IHDR
	got, err := Capacity(cover, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// 153,600 carriers of 3 elements, one bit each, after the header's
	// 672 elements; less the body's tag and the largest metadata.
	if want := (3*640*480/2-672)/8 - 16 - maxMetaSize; got != want {
		t.Fatalf("Capacity = %d, want %d", got, want)
	}
}

func TestSecretsThatAreNotPNGJPEGOrGIFAreRefused(t *testing.T) {
	for name, secret := range map[string][]byte{
		"empty":              nil,
		"text":               []byte("a secret plan, in words"),
		"PNG signature only": []byte("\x89PNG\r\n\x1a\n"),
		"BMP":                append([]byte("BM"), make([]byte, 60)...),
		"WebP":               []byte("RIFF\x24\x00\x00\x00WEBPVP8 "),
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := Hide(secret, testMeta(), nil, testKey(t, 1), seeded(1))
			if !errors.Is(err, ErrUnsupportedImage) {
				t.Fatalf("err = %v, want ErrUnsupportedImage", err)
			}
		})
	}
}

// Each level fills the cover it generates up to its share of the cover's
// capacity, and not far under it: the level is what the user chose to pay.
// reveal2Test is reveal2 on two goroutines, in the form of the other
// versions' readers.
func reveal2Test(c *canvas, k Key) ([]byte, Meta, error) { return reveal2(c, k, 2) }

func TestGeneratedCoverIsDeterministicAndFilledToItsLevel(t *testing.T) {
	key := testKey(t, 4)
	secret := secretPNG(t, 5000, 1)
	used := len(appendMeta(nil, testMeta())) + len(secret)
	for _, tc := range []struct {
		level    Level
		fill     float64
		fillOf   func(w, h int) float64
		revealer func(*canvas, Key) ([]byte, Meta, error)
	}{
		{Compact, 1, func(w, h int) float64 {
			return float64(denseStreamLen(used)) / float64(usableBlocks(w*h/blockPixels)*denseBlockBytes)
		}, reveal3},
		{Balanced, maxFill, func(w, h int) float64 {
			return float64(8*(used+tagSize)) / float64(3*carriersOf(w, h)-headerElements)
		}, reveal2Test},
		{Stealthy, defaultFill, func(w, h int) float64 {
			return float64(8*(used+tagSize)) / float64(3*carriersOf(w, h)-headerElements)
		}, reveal2Test},
	} {
		t.Run(tc.level.String(), func(t *testing.T) {
			hide := func(seed uint64) []byte {
				opts := seeded(7)
				opts.CoverSeed, opts.Level = seed, tc.level
				v, _, err := Hide(secret, testMeta(), nil, key, opts)
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
			a, b, c := hide(1), hide(1), hide(2)
			if !bytes.Equal(a, b) {
				t.Error("the same seed gave two different veiled images")
			}
			if bytes.Equal(a, c) {
				t.Error("two seeds gave the same veiled image")
			}
			cfg, _, err := image.DecodeConfig(bytes.NewReader(a))
			if err != nil {
				t.Fatal(err)
			}
			if fill := tc.fillOf(cfg.Width, cfg.Height); fill > tc.fill || fill < tc.fill/2 {
				t.Errorf("%dx%d cover: fill %.3f, want at most %.2f and not far under", cfg.Width, cfg.Height, fill, tc.fill)
			}
			cv, err := decodeCanvas(a, DefaultMaxPixels, 2)
			if err != nil {
				t.Fatal(err)
			}
			if got, _, err := tc.revealer(&cv, key); err != nil || !bytes.Equal(got, secret) {
				t.Fatalf("the level's own reader: %d bytes, %v", len(got), err)
			}
		})
	}
	if got := GenerateCover(64, 48, 5); !bytes.Equal(got.Pix, GenerateCover(64, 48, 5).Pix) {
		t.Error("GenerateCover is not deterministic")
	}
}

// MaxSecret is exact: the largest secret it names is veiled at its level
// under the pixel limit, and one byte more is refused with an error that
// names the limit.
func TestMaxSecretIsTheLargestSecretALevelAccepts(t *testing.T) {
	opts := seeded(1)
	opts.MaxPixels = 400_000
	for _, level := range Levels {
		t.Run(level.String(), func(t *testing.T) {
			opts.Level = level
			n := MaxSecret(level, opts)
			if n < 10_000 {
				t.Fatalf("MaxSecret = %d under %d pixels", n, opts.MaxPixels)
			}
			secret := secretPNG(t, n, 1)
			veiled, _, err := Hide(secret, testMeta(), nil, testKey(t, 1), opts)
			if err != nil {
				t.Fatalf("a secret of MaxSecret = %d bytes: %v", n, err)
			}
			if cfg, _, _ := image.DecodeConfig(bytes.NewReader(veiled)); cfg.Width*cfg.Height > opts.MaxPixels {
				t.Fatalf("cover %dx%d is over the limit of %d pixels", cfg.Width, cfg.Height, opts.MaxPixels)
			}
			if int64(len(veiled)) > MaxVeiledBytes(opts) {
				t.Fatalf("veiled %d bytes, over MaxVeiledBytes %d", len(veiled), MaxVeiledBytes(opts))
			}
			if got, _, err := Reveal(veiled, testKey(t, 1), Options{}); err != nil || !bytes.Equal(got, secret) {
				t.Fatalf("Reveal = %d bytes, %v", len(got), err)
			}
			_, _, err = Hide(secretPNG(t, n+1, 1), testMeta(), nil, testKey(t, 1), opts)
			if !errors.Is(err, ErrPayloadTooLarge) || !strings.Contains(err.Error(), commas(n)+" bytes at this level") {
				t.Fatalf("a byte more: err = %v, want ErrPayloadTooLarge naming %s bytes", err, commas(n))
			}
		})
	}
	if MaxSecret(Compact, Options{}) <= MaxSecret(Balanced, Options{}) || MaxSecret(Balanced, Options{}) <= MaxSecret(Stealthy, Options{}) {
		t.Error("a stealthier level takes a secret as large as a cheaper one")
	}
}

func TestHideFillsInIDAndCreationTime(t *testing.T) {
	_, meta, err := Hide(secretOfFormat("png", 1), testMeta(), nil, testKey(t, 1), seeded(1))
	if err != nil {
		t.Fatal(err)
	}
	if meta.ID.IsZero() || !meta.Created.Equal(fixedNow()) {
		t.Fatalf("meta = %+v, want a fresh id and the injected clock's time", meta)
	}
	given := testMeta()
	given.ID = ImageID{1, 2, 3}
	given.Created = time.Date(2020, 1, 1, 0, 0, 0, 0, time.FixedZone("x", 3600))
	_, meta, err = Hide(secretOfFormat("png", 1), given, nil, testKey(t, 1), seeded(1))
	if err != nil {
		t.Fatal(err)
	}
	if meta.ID != given.ID || !meta.Created.Equal(given.Created) {
		t.Fatalf("meta = %+v, want the id and time given", meta)
	}
}

func TestWrongKeyFindsNoPayload(t *testing.T) {
	veiled, _, err := Hide(secretOfFormat("png", 1), testMeta(), nil, testKey(t, 1), seeded(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Reveal(veiled, testKey(t, 2), Options{}); !errors.Is(err, ErrNoPayload) {
		t.Fatalf("err = %v, want ErrNoPayload", err)
	}
	if _, _, err := Reveal(veiled, Key{}, Options{}); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("zero key: err = %v, want ErrInvalidKey", err)
	}
}

func TestCleanImageHasNoPayload(t *testing.T) {
	for _, cover := range [][]byte{encodeStd(rgbImage(300, 200, 1)), encodeStd(GenerateCover(300, 200, 1)), encodeStd(rgbImage(8, 2, 1))} {
		if _, _, err := Reveal(cover, testKey(t, 1), Options{}); !errors.Is(err, ErrNoPayload) {
			t.Fatalf("err = %v, want ErrNoPayload", err)
		}
	}
}

// The low bit of every element the embedded stream uses is flipped in turn,
// in the decoded pixels: each must give ErrTampered or ErrNoPayload, never a
// secret. Every element of the header; of the body, which is long, every
// 19th element in an 8-bit RGB image, every 61st in the others, which share
// the code but for where the bits sit.
func TestFlippedBitInTheEmbeddedStreamIsNeverAWrongSecret(t *testing.T) {
	key := testKey(t, 5)
	secret := secretOfFormat("gif", 1)
	for k, kind := range []coverKind{coverKinds()[10], coverKinds()[11], coverKinds()[13]} {
		step := 19
		if k > 0 {
			step = 61
		}
		t.Run(kind.name, func(t *testing.T) {
			veiled, _, err := Hide(secret, testMeta(), kind.make(200, 150, 1), key, seeded(1))
			if err != nil {
				t.Fatal(err)
			}
			c, err := decodeCanvas(veiled, DefaultMaxPixels, 2)
			if err != nil {
				t.Fatal(err)
			}
			_, meta, err := revealCanvas(&c, key, 2)
			if err != nil {
				t.Fatal(err)
			}
			order, textured := newCarrierOrder(&c, key, 2)
			el := newElements(&c, order)
			bodyBits := 8 * (len(appendMeta(nil, meta)) + len(secret) + tagSize)
			_, code := bodyRoom(order, textured, bodyBits)
			used := headerElements + elementsFor(bodyBits, code)
			tally := map[error]int{}
			tried := 0
			for e := 0; e < used; e++ {
				if e >= headerElements && e%step != 0 {
					continue
				}
				tried++
				p := el.at(e)
				c.pix[p] ^= 1
				_, _, err := revealCanvas(&c, key, 2)
				c.pix[p] ^= 1
				switch {
				case errors.Is(err, ErrTampered):
					tally[ErrTampered]++
				case errors.Is(err, ErrNoPayload):
					tally[ErrNoPayload]++
				default:
					t.Fatalf("element %d flipped: err = %v, want ErrTampered or ErrNoPayload", e, err)
				}
			}
			// The header fails as "no payload", the body as tampered.
			if tally[ErrNoPayload] != headerElements || tally[ErrTampered] != tried-headerElements {
				t.Errorf("outcomes %v for %d header and %d body elements (code k = %d)", tally, headerElements, tried-headerElements, code)
			}
		})
	}
}

func TestTruncatedVeiledImagesAreRefused(t *testing.T) {
	veiled, _, err := Hide(secretOfFormat("png", 1), testMeta(), nil, testKey(t, 1), seeded(1))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, 8, 16, 33, 40, len(veiled) / 2, len(veiled) - 13, len(veiled) - 1} {
		_, _, err := Reveal(veiled[:n], testKey(t, 1), Options{})
		if !errors.Is(err, ErrUnsupportedImage) {
			t.Errorf("cut to %d of %d bytes: err = %v, want ErrUnsupportedImage", n, len(veiled), err)
		}
	}
}

func TestNonImagesAreRefused(t *testing.T) {
	for name, data := range map[string][]byte{
		"empty":  nil,
		"text":   []byte("hello, world"),
		"random": bytes.Repeat([]byte{0x5a, 0x13, 0xf7}, 1000),
		"BMP":    append([]byte("BM"), make([]byte, 100)...),
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := Reveal(data, testKey(t, 1), Options{}); !errors.Is(err, ErrUnsupportedImage) {
				t.Errorf("Reveal: err = %v, want ErrUnsupportedImage", err)
			}
			if _, _, err := Hide(secretOfFormat("png", 1), testMeta(), data, testKey(t, 1), seeded(1)); !errors.Is(err, ErrUnsupportedImage) && data != nil {
				t.Errorf("Hide: err = %v, want ErrUnsupportedImage", err)
			}
			if _, err := Capacity(data, Options{}); !errors.Is(err, ErrUnsupportedImage) {
				t.Errorf("Capacity: err = %v, want ErrUnsupportedImage", err)
			}
		})
	}
}

// bomb is a PNG header for a huge grey image followed by a few compressed
// bytes: decoding it would allocate width×height bytes.
func bomb(w, h int) []byte {
	return rawPNGHeader(w, h)
}

func TestDecompressionBombsAreRefusedFromTheirHeader(t *testing.T) {
	huge := bomb(100_000, 100_000)            // 10 gigapixels
	justOver := bomb(10_000, 5_001)           // 50,010,000 pixels
	small := encodeStd(rgbImage(300, 200, 1)) // 60,000 pixels
	for _, tc := range []struct {
		name string
		img  []byte
		max  int
	}{
		{"10 gigapixels, default limit", huge, 0},
		{"just over 50 megapixels, default limit", justOver, 0},
		{"60,000 pixels over a limit of 50,000", small, 50_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := Options{MaxPixels: tc.max}
			if _, _, err := Reveal(tc.img, testKey(t, 1), opts); !errors.Is(err, ErrImageTooLarge) {
				t.Errorf("Reveal: err = %v, want ErrImageTooLarge", err)
			}
			if _, _, err := Hide(secretOfFormat("png", 1), testMeta(), tc.img, testKey(t, 1), opts); !errors.Is(err, ErrImageTooLarge) {
				t.Errorf("Hide: err = %v, want ErrImageTooLarge", err)
			}
			if _, err := Capacity(tc.img, opts); !errors.Is(err, ErrImageTooLarge) {
				t.Errorf("Capacity: err = %v, want ErrImageTooLarge", err)
			}
		})
	}
}

func rawPNGHeader(w, h int) []byte {
	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	ihdr[0], ihdr[1], ihdr[2], ihdr[3] = byte(w>>24), byte(w>>16), byte(w>>8), byte(w)
	ihdr[4], ihdr[5], ihdr[6], ihdr[7] = byte(h>>24), byte(h>>16), byte(h>>8), byte(h)
	ihdr[8] = 8
	chunk(&out, "IHDR", ihdr)
	chunk(&out, "IDAT", []byte{0x78, 0x9c, 0xed, 0xc1, 0x01, 0x0d, 0x00, 0x00, 0x00})
	chunk(&out, "IEND", nil)
	return out.Bytes()
}

func TestInvalidMetadataIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		meta Meta
	}{
		{"empty owner", Meta{Owner: ""}},
		{"owner name too long", Meta{Owner: strings.Repeat("a", MaxNameLen+1)}},
		{"owner with a space", Meta{Owner: "o b"}},
		{"owner with a slash", Meta{Owner: "a/b"}},
		{"owner not ASCII", Meta{Owner: "zoë"}},
		{"empty viewer name", Meta{Owner: "o", Viewers: map[string]int{"": 1}}},
		{"zero views", Meta{Owner: "o", Viewers: map[string]int{"v": 0}}},
		{"negative views", Meta{Owner: "o", Viewers: map[string]int{"v": -1}}},
		{"too many views", Meta{Owner: "o", Viewers: map[string]int{"v": MaxViews + 1}}},
		{"too many viewers", Meta{Owner: "o", Viewers: manyViewers(MaxViewers + 1)}},
		{"creation before 1970", Meta{Owner: "o", Created: time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.meta.Validate(); !errors.Is(err, ErrInvalidMeta) {
				t.Fatalf("Validate = %v, want ErrInvalidMeta", err)
			}
			if _, _, err := Hide(secretOfFormat("png", 1), tc.meta, nil, testKey(t, 1), seeded(1)); !errors.Is(err, ErrInvalidMeta) {
				t.Fatalf("Hide: err = %v, want ErrInvalidMeta", err)
			}
		})
	}
	for _, ok := range []Meta{
		{Owner: "o"},
		{Owner: "Olivia.Smith-2@example.org+x", Viewers: map[string]int{"a_b": 1, "c": MaxViews}},
		{Owner: strings.Repeat("a", MaxNameLen), Viewers: manyViewers(MaxViewers)},
	} {
		if err := ok.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v, want nil", ok, err)
		}
	}
}

func manyViewers(n int) map[string]int {
	m := map[string]int{}
	for i := 0; i < n; i++ {
		m[fmt.Sprintf("v%d", i)] = 1
	}
	return m
}

func TestErrorMessagesUseThousandsSeparators(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 115176: "115,176", 1234567: "1,234,567", -4500: "-4,500"} {
		if got := commas(n); got != want {
			t.Errorf("commas(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestVeiledPNGIsReadByImagePNG(t *testing.T) {
	veiled, _, err := Hide(secretOfFormat("png", 1), testMeta(), nil, testKey(t, 1), seeded(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(bytes.NewReader(veiled)); err != nil {
		t.Fatal(err)
	}
}

func TestTinyCoversHoldNothing(t *testing.T) {
	for _, size := range [][2]int{{1, 1}, {3, 5}, {1, 4000}, {64, 64}} {
		cover := encodeStd(rgbImage(size[0], size[1], 1))
		if n, err := Capacity(cover, Options{}); n != 0 || err != nil {
			t.Errorf("%dx%d: Capacity = %d, %v; want 0", size[0], size[1], n, err)
		}
		_, _, err := Hide(secretOfFormat("png", 1), testMeta(), cover, testKey(t, 1), seeded(1))
		if !errors.Is(err, ErrPayloadTooLarge) {
			t.Errorf("%dx%d: err = %v, want ErrPayloadTooLarge", size[0], size[1], err)
		}
		if _, _, err := Reveal(cover, testKey(t, 1), Options{}); !errors.Is(err, ErrNoPayload) {
			t.Errorf("%dx%d: Reveal err = %v, want ErrNoPayload", size[0], size[1], err)
		}
	}
}

// A hide allocates at most three times the cover's raw pixels (3 bytes per
// pixel for an RGB cover, though the decoder itself already spends 4). The
// least of a few hides is what counts: the compressor comes from a pool that
// a collection, or the race detector on purpose, may have emptied.
func TestHideAllocatesLessThanThreeRawPixelBuffers(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocations")
	}
	const w, h = 960, 540
	c := photoLike(w, h, 3)
	cover := encodeStd(stdImage(&c))
	secret := secretPNG(t, CapacityOf(w, h)/2, 1)
	key := testKey(t, 1)
	least := uint64(1 << 62)
	for i := 0; i < 5; i++ {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if _, _, err := Hide(secret, testMeta(), cover, key, Options{}); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		least = min(least, after.TotalAlloc-before.TotalAlloc)
	}
	raw := w * h * 3
	got := float64(least) / float64(raw)
	t.Logf("Hide allocated %.2f times the raw pixel buffer", got)
	if got > 3 {
		t.Fatalf("Hide allocated %.2f times the raw pixel buffer, want at most 3", got)
	}
}
