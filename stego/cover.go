// This file makes covers when the caller brings none.

package stego

import (
	"image"
	"math"
	"math/rand/v2"
)

// toSRGB encodes 12-bit linear light to 8-bit sRGB, linear toe included.
var toSRGB = func() (t [4096]byte) {
	for i := range t {
		x := float64(i) / 4095
		if x <= 0.0031308 {
			t[i] = byte(math.Round(255 * 12.92 * x))
		} else {
			t[i] = byte(math.Round(255 * (1.055*math.Pow(x, 1/2.4) - 0.055)))
		}
	}
	return t
}()

// noiseScale[s] is the standard deviation of a sensor's noise at signal s
// (in 12-bit units: shot noise, whose variance is the signal, plus a read
// noise of 2 units), divided by that of noiseSum.
var noiseScale = func() (t [4096]float32) {
	const sumSD = 147.8 // of the sum of four uniform bytes
	for i := range t {
		t[i] = float32(math.Sqrt(float64(i)+4) / sumSD)
	}
	return t
}()

// GenerateCover returns a cover of the given size that looks like a
// photograph down to its pixels, the same for the same seed. It is opaque;
// Hide makes one like it when given no cover.
func GenerateCover(width, height int, seed uint64) *image.RGBA {
	c := generate(width, height, seed, fmtRGBX8, true)
	return &image.RGBA{Pix: c.pix, Stride: 4 * width, Rect: image.Rect(0, 0, width, height)}
}

// generate paints a cover the way a camera records a scene. The scene, in
// linear light, is smooth lighting (a ramp and slow waves per channel)
// times surfaces: two materials of different colour and roughness,
// separated by soft-edged boundaries, each with texture at every scale (value
// noise in octaves from 128 down to 2 pixels, whose amplitudes fall with
// scale as in natural images). The sensor adds noise to it whose variance
// grows with the signal (shot noise) over a floor (read noise), at 12
// bits; the sRGB curve then takes it to 8. So the low bits of the cover are
// noise for the same reason as a photograph's, and no more than the rest:
// the detectors of the tests score these covers among the photographs.
//
// Without noisy, the sensor adds nothing: the picture is smooth, and costs
// few bytes as PNG.
func generate(w, h int, seed uint64, f *pixelFormat, noisy bool) canvas {
	c := newCanvas(w, h, f)
	r := rand.New(rand.NewPCG(seed, 0x7665696c636f7672)) // "veilcovr"
	// Lighting: per channel the sum of a horizontal and a vertical profile,
	// each a ramp plus two slow waves, at least 0.025 of full scale.
	var gx, gy [3][]float32
	profile := func(n int) []float32 {
		p := make([]float32, n)
		a0, slope := 0.08+0.14*r.Float64(), 0.15*(r.Float64()-0.5)
		type wave struct{ amp, freq, phase float64 }
		var ws [2]wave
		for i := range ws {
			ws[i] = wave{0.02 + 0.04*r.Float64(), 0.5 + 3*r.Float64(), 2 * math.Pi * r.Float64()}
		}
		for i := range p {
			t := float64(i) / float64(max(n-1, 1))
			v := a0 + slope*(t-0.5)
			for _, wv := range ws {
				v += wv.amp * math.Sin(2*math.Pi*wv.freq*t+wv.phase)
			}
			p[i] = float32(max(0.025, v))
		}
		return p
	}
	for ch := 0; ch < 3; ch++ {
		gx[ch], gy[ch] = profile(w), profile(h)
	}
	// Two materials: a colour (reflectance per channel) and a roughness.
	var tint [2][3]float32
	var rough [2]float32
	for m := range tint {
		for ch := range tint[m] {
			tint[m][ch] = float32(0.55 + 0.9*r.Float64())
		}
		rough[m] = float32(0.15 + 0.35*r.Float64())
	}
	regions := newValueNoise(w, h, 160, r)
	octaves := []*valueNoise{newValueNoise(w, h, 128, r), newValueNoise(w, h, 32, r), newValueNoise(w, h, 8, r), newValueNoise(w, h, 2, r)}
	amps := []float32{0.6, 0.35, 0.22, 0.14}

	noise := rand.New(rand.NewPCG(r.Uint64(), r.Uint64()))
	bpp := f.bpp
	region := make([]float32, w)
	tex := make([]float32, w)
	oct := make([]float32, w)
	for y := 0; y < h; y++ {
		regions.row(y, region)
		clear(tex)
		for i, o := range octaves {
			o.row(y, oct)
			a := amps[i]
			for x := range tex {
				tex[x] += a * (oct[x] - 0.5)
			}
		}
		row := c.pix[y*w*bpp : (y+1)*w*bpp]
		for x := 0; x < w; x++ {
			// A soft edge between the materials where the slow noise
			// crosses one half.
			m := min(max((region[x]-0.5)*24+0.5, 0), 1)
			t := tex[x] * (rough[0]*(1-m) + rough[1]*m)
			n := noise.Uint64()
			p := row[x*bpp : x*bpp+bpp]
			for ch := 0; ch < 3; ch++ {
				refl := tint[0][ch]*(1-m) + tint[1][ch]*m
				v := (gx[ch][x] + gy[ch][y]) * refl * (1 + 2*t)
				s := int(min(max(v, 0), 1) * 4095)
				// Four bytes of the random word make one roughly Gaussian
				// draw; the word is spent over the three channels.
				sum := int(n&0xff) + int(n>>8&0xff) + int(n>>16&0xff) + int(n>>24&0xff) - 510
				n = n>>21 | n<<43
				if noisy {
					s += int(float32(sum) * noiseScale[s])
				}
				p[ch] = toSRGB[min(max(s, 0), 4095)]
			}
			if bpp == 4 {
				p[3] = 0xff
			}
		}
	}
	return c
}

// valueNoise is smooth noise of one scale: random values on a grid of the
// given cell size, interpolated between with a smoothstep.
type valueNoise struct {
	grid  []float32 // (gw) × (gh) values
	gw    int
	cell  int
	fx    []float32 // per x: the weight of the right grid point
	ix    []int32   // per x: the grid column left of it
	rowV  []float32 // the grid row interpolated for the current y
	lastY int
}

func newValueNoise(w, h, cell int, r *rand.Rand) *valueNoise {
	gw, gh := w/cell+2, h/cell+2
	v := &valueNoise{grid: make([]float32, gw*gh), gw: gw, cell: cell, fx: make([]float32, w), ix: make([]int32, w), rowV: make([]float32, gw), lastY: -1}
	for i := range v.grid {
		v.grid[i] = r.Float32()
	}
	for x := 0; x < w; x++ {
		v.ix[x] = int32(x / cell)
		v.fx[x] = smooth(float32(x%cell) / float32(cell))
	}
	return v
}

func smooth(t float32) float32 { return t * t * (3 - 2*t) }

// row fills out with the noise of row y.
func (v *valueNoise) row(y int, out []float32) {
	gy := y / v.cell
	fy := smooth(float32(y%v.cell) / float32(v.cell))
	a, b := v.grid[gy*v.gw:(gy+1)*v.gw], v.grid[(gy+1)*v.gw:(gy+2)*v.gw]
	for j := range v.rowV {
		v.rowV[j] = a[j] + (b[j]-a[j])*fy
	}
	for x := range out {
		i, f := v.ix[x], v.fx[x]
		l, r := v.rowV[i], v.rowV[i+1]
		out[x] = l + (r-l)*f
	}
}

// defaultFill is the share of a generated cover's capacity that a payload
// fills at most: the body takes at most this share of the carrier elements.
// At this fill the code is k = 4 or more (at most 0.23 changes per bit
// hidden, about one sample in 35 changed), and none of the detectors of
// detect_test.go tells the veiled image from clean ones.
const defaultFill = 0.25

// maxFill is the fill a generated cover may reach when one at defaultFill
// would pass Options.MaxPixels: the largest at which the detectors of the
// tests still see nothing on any cover.
const maxFill = 0.5

// coverSize picks a 4:3 size whose carriers hold a secret of n bytes with
// the largest metadata at the given fill.
func coverSize(n int, fill float64) (w, h int) {
	bits := 8 * (n + maxMetaSize + tagSize)
	elements := int(math.Ceil(float64(bits)/fill)) + headerElements
	return aspect43(2 * ((elements + 2) / 3))
}

// aspect43 is a size of about 4:3 with at least the given pixels, its width
// a multiple of 16 and at least 64x48.
func aspect43(pixels int) (w, h int) {
	w = int(math.Ceil(math.Sqrt(float64(pixels) * 4 / 3)))
	w = max(64, (w+15)/16*16)
	h = max(48, (pixels+w-1)/w)
	return w, h
}
