// This file makes covers when the caller brings none.

package stego

import (
	"image"
	"math"
	"math/bits"
	"math/rand/v2"
	"runtime"
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
// noise of 2 units), divided by that of a draw of byteSums, in 1/65536.
var noiseScale = func() (t [4096]int32) {
	const sumSD = 147.8 // of the sum of four uniform bytes
	for i := range t {
		t[i] = int32(math.Round(65536 * math.Sqrt(float64(i)+4) / sumSD))
	}
	return t
}()

// GenerateCover returns a cover of the given size that looks like a
// photograph down to its pixels, the same for the same seed. It is opaque;
// Hide makes one like it when given no cover. It paints on every core
// (runtime.GOMAXPROCS); the picture does not depend on how many there are.
func GenerateCover(width, height int, seed uint64) *image.RGBA {
	c := generate(width, height, seed, fmtRGBX8, true, runtime.GOMAXPROCS(0))
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
//
// The picture is painted in bands of coverBand rows on up to par
// goroutines. Nothing a band draws depends on another: the value noise is
// a hash of its grid point, and the sensor noise of each band comes from a
// generator of its own, seeded from the seed and the band's index.
func generate(w, h int, seed uint64, f *pixelFormat, noisy bool, par int) canvas {
	c := newCanvas(w, h, f)
	s := newScene(w, h, seed)
	painters := make([]*painter, par)
	forEach((h+coverBand-1)/coverBand, par, func(wk, band int) {
		if painters[wk] == nil {
			painters[wk] = s.newPainter()
		}
		painters[wk].paint(&c, band, noisy)
	})
	return c
}

// coverBand is the height of the bands a cover is painted in: a few
// milliseconds of work each, many per core.
const coverBand = 32

// A scene holds what is the same over the whole picture.
type scene struct {
	w, h     int
	gx, gy   [3][]float32 // lighting: per channel, a horizontal and a vertical profile
	tint     [3]float32   // the first material's reflectance per channel
	dTint    [3]float32   // the second's less the first's
	rough    float32      // the first material's roughness
	dRough   float32      // the second's less the first's
	regions  valueNoise   // where one material gives way to the other
	octaves  [4]valueNoise
	noiseKey uint64 // of the sensor noise
}

func newScene(w, h int, seed uint64) *scene {
	r := rand.New(rand.NewPCG(seed, 0x7665696c636f7672)) // "veilcovr"
	s := &scene{w: w, h: h}
	// Lighting: per channel the sum of a horizontal and a vertical profile,
	// each a ramp plus two slow waves, at least 0.025 of full scale.
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
		s.gx[ch], s.gy[ch] = profile(w), profile(h)
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
	for ch := range s.tint {
		s.tint[ch], s.dTint[ch] = tint[0][ch], tint[1][ch]-tint[0][ch]
	}
	s.rough, s.dRough = rough[0], rough[1]-rough[0]
	s.regions = newValueNoise(w, 160, 24, r.Uint64())
	for i, o := range []struct {
		cell int
		amp  float32
	}{{128, 0.6}, {32, 0.35}, {8, 0.22}, {2, 0.14}} {
		s.octaves[i] = newValueNoise(w, o.cell, o.amp, r.Uint64())
	}
	s.noiseKey = r.Uint64()
	return s
}

// A painter paints bands of a scene; it holds the scratch rows of one
// goroutine.
type painter struct {
	s       *scene
	mat     []float32 // per x: the share of the second material
	tex     []float32 // per x: the texture
	regions gridRows
	octaves [4]gridRows
}

func (s *scene) newPainter() *painter {
	p := &painter{s: s, mat: make([]float32, s.w), tex: make([]float32, s.w), regions: s.regions.newRows()}
	for i := range p.octaves {
		p.octaves[i] = s.octaves[i].newRows()
	}
	return p
}

// paint paints band b of c.
func (p *painter) paint(c *canvas, b int, noisy bool) {
	s, w, bpp := p.s, p.s.w, c.f.bpp
	gx0, gx1, gx2 := s.gx[0][:w], s.gx[1][:w], s.gx[2][:w]
	mat, tex := p.mat[:w], p.tex[:w]
	// In locals, which the compiler keeps in registers.
	rough, dRough := s.rough, s.dRough
	t0, t1, t2 := s.tint[0], s.tint[1], s.tint[2]
	d0, d1, d2 := s.dTint[0], s.dTint[1], s.dTint[2]
	// The band's own generator of sensor noise: wyrand, one multiply a
	// word.
	rng := mix64(s.noiseKey ^ uint64(b)*0x9e3779b97f4a7c15)
	for y := b * coverBand; y < min(s.h, (b+1)*coverBand); y++ {
		// A soft edge between the materials where the slow noise
		// crosses one half: mat is clamped to [0, 1] below.
		s.regions.row(&p.regions, y, mat, 0.5, false)
		for i := range s.octaves {
			s.octaves[i].row(&p.octaves[i], y, tex, 0, i > 0)
		}
		ly0, ly1, ly2 := s.gy[0][y], s.gy[1][y], s.gy[2][y]
		row := c.pix[y*w*bpp : (y+1)*w*bpp]
		spare := 0
		for x := 0; x < w; x++ {
			m := mat[x]
			if m < 0 {
				m = 0
			} else if m > 1 {
				m = 1
			}
			// 12-bit linear light: lighting × reflectance × (1 + 2·texture).
			k := 4095 + 8190*tex[x]*(rough+dRough*m)
			s0 := clamp12(int((gx0[x] + ly0) * (t0 + d0*m) * k))
			s1 := clamp12(int((gx1[x] + ly1) * (t1 + d1*m) * k))
			s2 := clamp12(int((gx2[x] + ly2) * (t2 + d2*m) * k))
			if noisy {
				// Four bytes of a random word make one roughly Gaussian
				// draw: three words make the six of two pixels.
				rng += 0xa0761d6478bd642f
				hi, lo := bits.Mul64(rng, rng^0xe7037ed1a0b428db)
				n0, n1 := byteSums(hi ^ lo)
				n2 := spare
				if x&1 == 0 {
					rng += 0xa0761d6478bd642f
					hi, lo = bits.Mul64(rng, rng^0xe7037ed1a0b428db)
					n2, spare = byteSums(hi ^ lo)
				}
				s0 = clamp12(s0 + sensorNoise(s0, n0))
				s1 = clamp12(s1 + sensorNoise(s1, n1))
				s2 = clamp12(s2 + sensorNoise(s2, n2))
			}
			px := row[x*bpp : x*bpp+bpp]
			px[0], px[1], px[2] = toSRGB[s0&4095], toSRGB[s1&4095], toSRGB[s2&4095]
			if bpp == 4 {
				px[3] = 0xff
			}
		}
	}
}

// clamp12 keeps a sample within 12 bits.
func clamp12(s int) int { return min(max(s, 0), 4095) }

// byteSums returns the sums of the four low and of the four high bytes of
// u, each less its mean: two draws with a standard deviation of 147.8.
func byteSums(u uint64) (int, int) {
	const m8, m16 = 0x00ff00ff00ff00ff, 0x0000ffff0000ffff
	u = u&m8 + u>>8&m8
	u = u&m16 + u>>16&m16
	return int(u&0xffffffff) - 510, int(u>>32) - 510
}

// sensorNoise scales a draw of byteSums to the noise of a sensor at signal
// s, rounding toward zero as a conversion from float would.
func sensorNoise(s, draw int) int {
	q := draw * int(noiseScale[s&4095])
	return (q + q>>63&0xffff) >> 16
}

// mix64 is SplitMix64's finalizer: a good hash of a 64-bit word.
func mix64(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// valueNoise is smooth noise of one scale: random values on a grid of the
// given cell size, interpolated between with a smoothstep. The value at a
// grid point is a hash of the point and the key, so any band of rows can be
// painted without the others.
type valueNoise struct {
	key    uint64
	cell   int
	gw     int       // grid points a row
	amp    float32   // the noise is amp · (value - 0.5)
	smooth []float32 // smooth[i]: the weight of the next grid point at i pixels past one
}

func newValueNoise(w, cell int, amp float32, key uint64) valueNoise {
	v := valueNoise{key: key, cell: cell, gw: w/cell + 2, amp: amp, smooth: make([]float32, cell)}
	for i := range v.smooth {
		t := float32(i) / float32(cell)
		v.smooth[i] = t * t * (3 - 2*t)
	}
	return v
}

// gridRows holds, for one painter, the two grid rows around its current
// row.
type gridRows struct {
	a, b []float32
	gy   int // the grid row a holds; -1 for none yet
}

func (v *valueNoise) newRows() gridRows {
	return gridRows{a: make([]float32, v.gw), b: make([]float32, v.gw), gy: -1}
}

// fill sets the values of grid row gy.
func (v *valueNoise) fill(row []float32, gy int) {
	for j := range row {
		z := mix64(v.key + (uint64(gy)<<32|uint64(j))*0x9e3779b97f4a7c15)
		row[j] = float32(z>>40) / (1 << 24)
	}
}

// row sets out to bias + amp · (noise - 0.5) along row y, or adds that
// to out.
func (v *valueNoise) row(g *gridRows, y int, out []float32, bias float32, add bool) {
	gy := y / v.cell
	if gy != g.gy {
		if g.gy >= 0 && gy == g.gy+1 {
			g.a, g.b = g.b, g.a
		} else {
			v.fill(g.a, gy)
		}
		v.fill(g.b, gy+1)
		g.gy = gy
	}
	fy := v.smooth[y%v.cell]
	a, b := g.a, g.b[:len(g.a)]
	// Across a cell the noise is l + d·smooth: no lookup per pixel.
	at := a[0] + (b[0]-a[0])*fy
	if v.cell == 2 && add {
		// The finest octave, the costliest: smooth is 0 and 1/2.
		for j := 0; 2*j+1 < len(out); j++ {
			next := a[j+1] + (b[j+1]-a[j+1])*fy
			o := out[2*j : 2*j+2]
			o[0] += bias + v.amp*(at-0.5)
			o[1] += bias + v.amp*((at+next)/2-0.5)
			at = next
		}
		if len(out)%2 == 1 {
			out[len(out)-1] += bias + v.amp*(at-0.5)
		}
		return
	}
	sm := v.smooth
	for x, j := 0, 0; x < len(out); x, j = x+v.cell, j+1 {
		next := a[j+1] + (b[j+1]-a[j+1])*fy
		l, d := bias+v.amp*(at-0.5), v.amp*(next-at)
		o := out[x:min(x+v.cell, len(out))]
		if add {
			for i := range o {
				o[i] += l + d*sm[i]
			}
		} else {
			for i := range o {
				o[i] = l + d*sm[i]
			}
		}
		at = next
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
