// This file makes the test images: covers of every kind the package
// accepts, and small secrets of every accepted format.

package stego

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"testing"
)

// A coverKind is one way a cover can be encoded.
type coverKind struct {
	name  string
	depth int  // precision of the cover's samples: 8 or 16
	alpha bool // the veiled PNG must keep an alpha channel
	make  func(w, h int, seed uint64) []byte
}

// The test picture: smooth gradients plus noise, in 16 bits; every kind
// takes what its depth can hold.
func field(x, y, ch int, r *rand.Rand) uint16 {
	v := 12000 + 150*x + 90*y + 7000*ch + int(r.Uint32N(3000))
	return uint16(v % 65536)
}

func coverKinds() []coverKind {
	return []coverKind{
		{"gray 1-bit PNG", 8, false, func(w, h int, s uint64) []byte { return rawPNG(w, h, 1, 0, false, s, nil) }},
		{"gray 2-bit PNG", 8, false, func(w, h int, s uint64) []byte { return rawPNG(w, h, 2, 0, false, s, nil) }},
		{"gray 4-bit PNG", 8, false, func(w, h int, s uint64) []byte { return rawPNG(w, h, 4, 0, false, s, nil) }},
		{"gray 8-bit PNG", 8, false, func(w, h int, s uint64) []byte { return encodeStd(grayImage(w, h, s, false)) }},
		{"gray 16-bit PNG", 16, false, func(w, h int, s uint64) []byte { return encodeStd(grayImage(w, h, s, true)) }},
		{"gray+alpha 8-bit PNG", 8, true, func(w, h int, s uint64) []byte { return rawPNG(w, h, 8, 4, false, s, nil) }},
		{"gray+alpha 16-bit PNG", 16, true, func(w, h int, s uint64) []byte { return rawPNG(w, h, 16, 4, false, s, nil) }},
		{"paletted PNG", 8, false, func(w, h int, s uint64) []byte { return encodeStd(palettedImage(w, h, s, 200, false)) }},
		{"paletted 2-bit PNG", 8, false, func(w, h int, s uint64) []byte { return encodeStd(palettedImage(w, h, s, 4, false)) }},
		{"paletted PNG with transparency", 8, true, func(w, h int, s uint64) []byte { return encodeStd(palettedImage(w, h, s, 200, true)) }},
		{"RGB 8-bit PNG", 8, false, func(w, h int, s uint64) []byte { return encodeStd(rgbImage(w, h, s)) }},
		{"RGBA 8-bit PNG, translucent", 8, true, func(w, h int, s uint64) []byte { return encodeStd(nrgbaImage(w, h, s)) }},
		{"RGB 16-bit PNG", 16, false, func(w, h int, s uint64) []byte { return encodeStd(rgb64Image(w, h, s)) }},
		{"RGBA 16-bit PNG, translucent", 16, true, func(w, h int, s uint64) []byte { return encodeStd(nrgba64Image(w, h, s)) }},
		{"RGB 8-bit PNG, interlaced", 8, false, func(w, h int, s uint64) []byte { return rawPNG(w, h, 8, 2, true, s, nil) }},
		{"gray 4-bit PNG, interlaced", 8, false, func(w, h int, s uint64) []byte { return rawPNG(w, h, 4, 0, true, s, nil) }},
		{"RGBA 16-bit PNG, interlaced", 16, true, func(w, h int, s uint64) []byte { return rawPNG(w, h, 16, 6, true, s, nil) }},
		{"paletted PNG with transparency, interlaced", 8, true, func(w, h int, s uint64) []byte {
			return rawPNG(w, h, 8, 3, true, s, palettedImage(1, 1, s, 256, true).Palette)
		}},
		{"JPEG", 8, false, func(w, h int, s uint64) []byte { return encodeJPEG(rgbImage(w, h, s)) }},
		{"JPEG gray", 8, false, func(w, h int, s uint64) []byte { return encodeJPEG(grayImage(w, h, s, false)) }},
		{"GIF with transparency", 8, true, func(w, h int, s uint64) []byte {
			var b bytes.Buffer
			if err := gif.Encode(&b, palettedImage(w, h, s, 256, true), nil); err != nil {
				panic(err)
			}
			return b.Bytes()
		}},
	}
}

func encodeStd(m image.Image) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func encodeJPEG(m image.Image) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: 90}); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func grayImage(w, h int, seed uint64, deep bool) image.Image {
	r := rand.New(rand.NewPCG(seed, 1))
	if deep {
		m := image.NewGray16(image.Rect(0, 0, w, h))
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				m.SetGray16(x, y, color.Gray16{field(x, y, 0, r)})
			}
		}
		return m
	}
	m := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m.SetGray(x, y, color.Gray{uint8(field(x, y, 0, r) >> 8)})
		}
	}
	return m
}

func rgbImage(w, h int, seed uint64) *image.RGBA {
	r := rand.New(rand.NewPCG(seed, 2))
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m.SetRGBA(x, y, color.RGBA{uint8(field(x, y, 0, r) >> 8), uint8(field(x, y, 1, r) >> 8), uint8(field(x, y, 2, r) >> 8), 0xff})
		}
	}
	return m
}

// alphaAt makes every kind of alpha appear: opaque, clear (with colour
// behind it, which must survive) and translucent.
func alphaAt(x, y int) uint16 {
	switch (x + 3*y) % 4 {
	case 0:
		return 0xffff
	case 1:
		return 0
	}
	return uint16(x*y*2654435761) | 1
}

func nrgbaImage(w, h int, seed uint64) *image.NRGBA {
	r := rand.New(rand.NewPCG(seed, 3))
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m.SetNRGBA(x, y, color.NRGBA{uint8(field(x, y, 0, r) >> 8), uint8(field(x, y, 1, r) >> 8), uint8(field(x, y, 2, r) >> 8), uint8(alphaAt(x, y) >> 8)})
		}
	}
	return m
}

func rgb64Image(w, h int, seed uint64) *image.RGBA64 {
	r := rand.New(rand.NewPCG(seed, 4))
	m := image.NewRGBA64(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m.SetRGBA64(x, y, color.RGBA64{field(x, y, 0, r), field(x, y, 1, r), field(x, y, 2, r), 0xffff})
		}
	}
	return m
}

func nrgba64Image(w, h int, seed uint64) *image.NRGBA64 {
	r := rand.New(rand.NewPCG(seed, 5))
	m := image.NewNRGBA64(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m.SetNRGBA64(x, y, color.NRGBA64{field(x, y, 0, r), field(x, y, 1, r), field(x, y, 2, r), alphaAt(x, y)})
		}
	}
	return m
}

func palettedImage(w, h int, seed uint64, colors int, transparent bool) *image.Paletted {
	r := rand.New(rand.NewPCG(seed, 6))
	pal := make(color.Palette, colors)
	for i := range pal {
		c := color.NRGBA{uint8(r.Uint32()), uint8(r.Uint32()), uint8(r.Uint32()), 0xff}
		if transparent && i%3 == 1 {
			c.A = uint8(i * 5) // translucent, and clear for i = 0 mod 256/5
		}
		if transparent && i == 1 {
			c.A = 0 // clear, with colour behind it
		}
		pal[i] = c
	}
	m := image.NewPaletted(image.Rect(0, 0, w, h), pal)
	for i := range m.Pix {
		m.Pix[i] = uint8(r.IntN(colors))
	}
	return m
}

// rawPNG writes a PNG the standard encoder cannot: any depth, grey with
// alpha, Adam7 interlacing. Samples come from field.
func rawPNG(w, h, depth int, colorType byte, interlaced bool, seed uint64, pal color.Palette) []byte {
	channels := map[byte]int{0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colorType]
	r := rand.New(rand.NewPCG(seed, 7))
	sample := make([][]uint16, h) // sample[y][x*channels+c], at depth
	for y := range sample {
		sample[y] = make([]uint16, w*channels)
		for x := 0; x < w; x++ {
			for c := 0; c < channels; c++ {
				v := field(x, y, c, r)
				if c == 3 || colorType == 4 && c == 1 {
					v = alphaAt(x, y)
				}
				if colorType == 3 {
					v = uint16(r.IntN(len(pal)))
				} else {
					v >>= 16 - depth
				}
				sample[y][x*channels+c] = v
			}
		}
	}
	type pass struct{ x0, y0, dx, dy int }
	passes := []pass{{0, 0, 1, 1}}
	if interlaced {
		passes = []pass{{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}}
	}
	var raw bytes.Buffer
	for _, p := range passes {
		for y := p.y0; y < h; y += p.dy {
			if p.x0 >= w {
				continue
			}
			raw.WriteByte(0)
			var acc uint32
			n := 0
			for x := p.x0; x < w; x += p.dx {
				for c := 0; c < channels; c++ {
					v := uint32(sample[y][x*channels+c])
					if depth == 16 {
						raw.WriteByte(byte(v >> 8))
						raw.WriteByte(byte(v))
						continue
					}
					acc = acc<<depth | v
					n += depth
					if n == 8 {
						raw.WriteByte(byte(acc))
						acc, n = 0, 0
					}
				}
			}
			if n > 0 {
				raw.WriteByte(byte(acc << (8 - n)))
			}
		}
	}
	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr, uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = byte(depth), colorType
	if interlaced {
		ihdr[12] = 1
	}
	chunk(&out, "IHDR", ihdr)
	if colorType == 3 {
		var plte, trns []byte
		for _, c := range pal {
			n := color.NRGBAModel.Convert(c).(color.NRGBA)
			plte = append(plte, n.R, n.G, n.B)
			trns = append(trns, n.A)
		}
		chunk(&out, "PLTE", plte)
		chunk(&out, "tRNS", trns)
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(raw.Bytes())
	zw.Close()
	chunk(&out, "IDAT", z.Bytes())
	chunk(&out, "IEND", nil)
	return out.Bytes()
}

func chunk(out *bytes.Buffer, typ string, data []byte) {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(len(data)))
	out.Write(b[:])
	out.WriteString(typ)
	out.Write(data)
	binary.BigEndian.PutUint32(b[:], crc32.ChecksumIEEE(append([]byte(typ), data...)))
	out.Write(b[:])
}

// secretPNG returns a small valid PNG of exactly n bytes (n >= minSecret),
// padded with a private ancillary chunk that decoders skip.
func secretPNG(t testing.TB, n int, seed uint64) []byte {
	if t == nil {
		t = &testing.T{}
	}
	b := encodeStd(rgbImage(4, 3, seed))
	iend := b[len(b)-12:]
	b = b[:len(b)-12]
	pad := n - len(b) - len(iend) - 12
	if pad < 0 {
		t.Fatalf("a PNG secret cannot be as small as %d bytes", n)
	}
	var out bytes.Buffer
	out.Write(b)
	data := make([]byte, pad)
	rand.NewChaCha8([32]byte{byte(seed), 8}).Read(data)
	chunk(&out, "vlPd", data)
	out.Write(iend)
	return out.Bytes()
}

const minSecret = 200 // bytes; secretPNG's smallest is a little under

func secretOfFormat(format string, seed uint64) []byte {
	m := rgbImage(23, 17, seed)
	switch format {
	case "png":
		return encodeStd(m)
	case "jpeg":
		return encodeJPEG(m)
	case "gif":
		var b bytes.Buffer
		gif.Encode(&b, m, nil)
		return b.Bytes()
	}
	panic(format)
}

// testKey is a fixed key so that failures reproduce.
func testKey(t testing.TB, n byte) Key {
	var m [KeySize]byte
	for i := range m {
		m[i] = n + byte(i)
	}
	k, err := ParseKey(m[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// seeded returns Options whose randomness and clock are fixed.
func seeded(seed uint64) Options {
	return Options{Rand: rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}), Now: fixedNow}
}
