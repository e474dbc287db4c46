// This file makes covers when the caller brings none.

package stego

import (
	"image"
	"math"
	"math/rand/v2"
)

// srgb encodes linear light to 8-bit sRGB-like gamma (2.2).
var srgb = func() (t [256]byte) {
	for i := range t {
		t[i] = byte(math.Round(255 * math.Pow(float64(i)/255, 1/2.2)))
	}
	return t
}()

// GenerateCover returns a cover of the given size: smooth colour gradients
// with sensor-like noise, the same pixels for the same seed. It is opaque;
// Hide makes one like it when given no cover.
func GenerateCover(width, height int, seed uint64) *image.RGBA {
	c := generate(width, height, seed, fmtRGBX8)
	return &image.RGBA{Pix: c.pix, Stride: 4 * width, Rect: image.Rect(0, 0, width, height)}
}

// generate paints a cover in linear light at 8 bits and gamma-encodes it, as
// a camera or renderer does. The tone curve leaves the uneven histogram of a
// real photograph (values merge in the highlights and are skipped in the
// shadows), where adjacent even and odd values are far from equally common;
// a payload filling half the carrier bits evens them out only halfway, so a
// chi-square attack does not mistake the cover for a full one. A cover made
// of plain noise would look "full" before anything was hidden in it.
func generate(w, h int, seed uint64, f *pixelFormat) canvas {
	c := newCanvas(w, h, f)
	r := rand.New(rand.NewPCG(seed, 0x7665696c636f7672)) // "veilcovr"
	// Each channel is the sum of a horizontal and a vertical profile, each
	// a ramp plus two low-frequency waves, each within 64±54 so that their
	// sum stays in 20..236 and the noise rarely clips.
	var gx [3][]int16
	var gy [3][]int16
	profile := func(n int) []int16 {
		p := make([]int16, n)
		a0, slope := 54+20*r.Float64(), 40*(r.Float64()-0.5)
		type wave struct{ amp, freq, phase float64 }
		ws := [2]wave{}
		for i := range ws {
			ws[i] = wave{5 + 12*r.Float64(), 0.5 + 3*r.Float64(), 2 * math.Pi * r.Float64()}
		}
		for i := range p {
			t := float64(i) / float64(max(n-1, 1))
			v := a0 + slope*(t-0.5)
			for _, wv := range ws {
				v += wv.amp * math.Sin(2*math.Pi*wv.freq*t+wv.phase)
			}
			p[i] = int16(v)
		}
		return p
	}
	for ch := 0; ch < 3; ch++ {
		gx[ch], gy[ch] = profile(w), profile(h)
	}
	noise := rand.New(rand.NewPCG(r.Uint64(), r.Uint64()))
	bpp := f.bpp
	for y := 0; y < h; y++ {
		row := c.pix[y*w*bpp : (y+1)*w*bpp]
		r0, g0, b0 := gy[0][y], gy[1][y], gy[2][y]
		for x := 0; x < w; x++ {
			n := noise.Uint64()
			// Triangular noise of ±3 levels per channel from 6 random bytes.
			nr := int16(n&3) + int16(n>>2&3) - 3
			ng := int16(n>>8&3) + int16(n>>10&3) - 3
			nb := int16(n>>16&3) + int16(n>>18&3) - 3
			p := row[x*bpp : x*bpp+bpp]
			p[0] = srgb[clamp8(gx[0][x]+r0+nr)]
			p[1] = srgb[clamp8(gx[1][x]+g0+ng)]
			p[2] = srgb[clamp8(gx[2][x]+b0+nb)]
			if bpp == 4 {
				p[3] = 0xff
			}
		}
	}
	return c
}

func clamp8(v int16) uint8 {
	return uint8(min(max(v, 0), 255))
}

// defaultFill is the share of a generated cover's capacity that a payload
// fills at most: the body takes at most this share of the carrier elements.
// At this fill the code is k = 4 or more (at most 0.23 changes per bit
// hidden, about one sample in 35 changed), and none of the detectors of
// detect_test.go tells the veiled image from clean ones.
const defaultFill = 0.25

// coverSize picks a 4:3 size whose carriers hold a secret of n bytes with
// the largest metadata at defaultFill.
func coverSize(n int) (w, h int) {
	bits := 8 * (n + maxMetaSize + tagSize)
	elements := int(math.Ceil(float64(bits)/defaultFill)) + headerElements
	pixels := 2 * ((elements + 2) / 3)
	w = int(math.Ceil(math.Sqrt(float64(pixels) * 4 / 3)))
	w = max(64, (w+15)/16*16)
	h = max(48, (pixels+w-1)/w)
	return w, h
}
