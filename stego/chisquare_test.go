package stego

import (
	"math"
	"math/rand/v2"
	"testing"
)

// chiSquareAttack is the attack of Westfeld and Pfitzmann ("Attacks on
// Steganographic Systems", 1999). Replacing low bits with random ones evens
// out the counts of each pair of values 2k and 2k+1; the attack measures how
// close a histogram is to that evened-out shape and returns the probability
// p that the samples it counts carry an embedded message.
func chiSquareAttack(hist *[256]float64) float64 {
	chi2, categories := 0.0, 0
	for k := 0; k < 128; k++ {
		expected := (hist[2*k] + hist[2*k+1]) / 2
		if expected < 5 { // too few to judge, as in the original
			continue
		}
		d := hist[2*k] - expected
		chi2 += d * d / expected
		categories++
	}
	if categories < 2 {
		return 0
	}
	return upperGamma(float64(categories-1)/2, chi2/2)
}

func histogram(values []byte) *[256]float64 {
	var hist [256]float64
	for _, v := range values {
		hist[v]++
	}
	return &hist
}

// upperGamma is the regularized upper incomplete gamma function Q(a, x),
// so that upperGamma(dof/2, chi2/2) is the chi-square survival function.
func upperGamma(a, x float64) float64 {
	if x <= 0 {
		return 1
	}
	lg, _ := math.Lgamma(a)
	if x < a+1 { // series for P(a, x)
		sum, term := 1/a, 1/a
		for n := 1; n < 1000; n++ {
			term *= x / (a + float64(n))
			sum += term
			if term < sum*1e-15 {
				break
			}
		}
		return 1 - sum*math.Exp(-x+a*math.Log(x)-lg)
	}
	// Continued fraction (modified Lentz) for Q(a, x).
	b, c, d := x+1-a, 1/1e-300, 1/(x+1-a)
	h := d
	for i := 1; i < 1000; i++ {
		an := -float64(i) * (float64(i) - a)
		b += 2
		d = an*d + b
		if math.Abs(d) < 1e-300 {
			d = 1e-300
		}
		c = b + an/c
		if math.Abs(c) < 1e-300 {
			c = 1e-300
		}
		d = 1 / d
		h *= d * c
		if math.Abs(d*c-1) < 1e-15 {
			break
		}
	}
	return math.Exp(-x+a*math.Log(x)-lg) * h
}

// attackProfile runs the attack, as Westfeld and Pfitzmann do, on growing
// prefixes of the image (10%, 20%, ... 100% of the pixels, R, G and B values
// in scan order) and returns the largest probability of embedding found.
func attackProfile(c *canvas) float64 {
	var hist [256]float64
	worst, n := 0.0, c.w*c.h
	for tenth, i := 1, 0; tenth <= 10; tenth++ {
		for ; i < n*tenth/10; i++ {
			p := c.pix[i*c.f.bpp:]
			hist[p[0]]++
			hist[p[1]]++
			hist[p[2]]++
		}
		worst = max(worst, chiSquareAttack(&hist))
	}
	return worst
}

// flagged is where the attack's verdict turns: a probability of embedding
// above one half says "more likely embedded than not".
const flagged = 0.5

func TestChiSquareAttackIsSane(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	uniform := make([]byte, 300_000)
	for i := range uniform {
		uniform[i] = byte(r.Uint32())
	}
	if p := chiSquareAttack(histogram(uniform)); p < 0.01 {
		t.Errorf("uniform noise: p = %.3f; every pair is even, it should not be ruled out", p)
	}
	even := make([]byte, 300_000)
	for i := range even {
		even[i] = byte(r.Uint32()) &^ 1
	}
	if p := chiSquareAttack(histogram(even)); p > 1e-6 {
		t.Errorf("only even values: p = %.3g, want about 0", p)
	}
	// Q(a, x) against known values of the chi-square survival function.
	for _, tc := range []struct{ dof, chi2, want float64 }{
		{1, 3.841, 0.05}, {10, 18.307, 0.05}, {127, 154.3, 0.05}, {127, 100.9, 0.955},
	} {
		if got := upperGamma(tc.dof/2, tc.chi2/2); math.Abs(got-tc.want) > 0.005 {
			t.Errorf("Q(%v/2, %v/2) = %.4f, want %.3f", tc.dof, tc.chi2, got, tc.want)
		}
	}
}

// The attack must not flag a cover veiled by format version 2 at any fill,
// up to its whole capacity, on the generated cover and on a
// photograph-like one: LSB matching moves values both ways and so does not
// even out the pairs 2k, 2k+1 that the attack counts. It must flag version 1
// (LSB replacement) written the naive way, in sequence from the first pixel,
// and a version 1 cover filled to the brim, or the test would prove nothing.
func TestChiSquareAttackDoesNotFlagVersion2AtAnyFill(t *testing.T) {
	const w, h = 640, 480
	covers := []struct {
		name string
		make func() canvas
	}{
		{"generated cover", func() canvas { return generate(w, h, 11, fmtRGB8, true, 2) }},
		{"photograph-like cover", func() canvas { return photoLike(w, h, 12) }},
		{"generated cover, another seed", func() canvas { return generate(w, h, 13, fmtRGBX8, true, 2) }},
	}
	for _, cv := range covers {
		t.Run(cv.name, func(t *testing.T) {
			clean := cv.make()
			if p := attackProfile(&clean); p > flagged {
				t.Fatalf("the clean cover is flagged (p = %.3f): it cannot judge anything", p)
			}
			for i, fill := range []float64{0.10, defaultFill, 0.50, 1} {
				veiled := veilAt(t, clean, fill, uint64(i))
				p := attackProfile(&veiled)
				t.Logf("%3.0f%% of capacity, version 2: p = %.4f", fill*100, p)
				if p > flagged {
					t.Errorf("%.0f%% of capacity: flagged, p = %.3f", fill*100, p)
				}
			}
			full := usableBlocks(clean.blocks()) * blockBytes
			r := rand.New(rand.NewPCG(3, 4))
			stream := make([]byte, full/2/blockBytes*blockBytes)
			for i := range stream {
				stream[i] = byte(r.Uint32())
			}
			naive := clone(clean)
			for i := 0; i < len(stream)/blockBytes; i++ {
				naive.f.embedBlock(naive.pix[i*naive.f.blockLen():], stream[i*blockBytes:])
			}
			pn := attackProfile(&naive)
			t.Logf(" 50%% of capacity, version 1 in sequence: p = %.4f", pn)
			if pn <= flagged {
				t.Errorf("half of capacity written in sequence: p = %.3f; the attack should see it", pn)
			}
			brim := veilV1At(t, clean, 1, 5)
			p := attackProfile(&brim)
			t.Logf("100%% of capacity, version 1: p = %.4f (flagged, as expected)", p)
			if p < flagged {
				t.Errorf("a full version 1 cover is not flagged (p = %.3f): the attack is too weak to test anything", p)
			}
		})
	}
}

// photoLike paints what a camera records: a smooth scene (gradients and
// soft blobs) plus sensor noise in linear light, gamma-encoded to 8 bits
// with a different curve from the generator's.
func photoLike(w, h int, seed uint64) canvas {
	c := newCanvas(w, h, fmtRGB8)
	r := rand.New(rand.NewPCG(seed, 99))
	var curve [4096]byte
	for i := range curve {
		x := float64(i) / 4095
		// sRGB's curve, with its linear toe.
		if x <= 0.0031308 {
			curve[i] = byte(math.Round(255 * 12.92 * x))
		} else {
			curve[i] = byte(math.Round(255 * (1.055*math.Pow(x, 1/2.4) - 0.055)))
		}
	}
	// Soft blobs: Gaussians, separable, so each costs an exp per row and
	// per column rather than per pixel.
	const blobs = 6
	var bx [blobs][]float64
	var by [blobs][]float64
	var amp [blobs]float64
	for i := 0; i < blobs; i++ {
		cx, cy, rad := r.Float64()*float64(w), r.Float64()*float64(h), 40+r.Float64()*150
		amp[i] = r.Float64()*0.3 - 0.15
		bx[i], by[i] = make([]float64, w), make([]float64, h)
		for x := range bx[i] {
			d := (float64(x) - cx) / rad
			bx[i][x] = math.Exp(-d * d)
		}
		for y := range by[i] {
			d := (float64(y) - cy) / rad
			by[i][y] = math.Exp(-d * d)
		}
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			base := 0.15 + 0.5*float64(x)/float64(w) + 0.2*float64(y)/float64(h)
			for i := 0; i < blobs; i++ {
				base += amp[i] * bx[i][x] * by[i][y]
			}
			for ch := 0; ch < 3; ch++ {
				v := base*(0.8+0.15*float64(ch)) + r.NormFloat64()*0.004
				// A 12-bit sensor, then the tone curve, then 8 bits.
				c.pix[(y*w+x)*3+ch] = curve[int(math.Max(0, math.Min(1, v))*4095)]
			}
		}
	}
	return c
}

// The same attack on what Hide returns: a secret in a cover Hide generated,
// and a secret of half the capacity in a photograph-like cover.
func TestChiSquareAttackDoesNotFlagVeiledImages(t *testing.T) {
	key := testKey(t, 10)
	photo := photoLike(480, 360, 5)
	cover := encodeStd(canvasImage(&photo))
	for _, tc := range []struct {
		name   string
		secret []byte
		cover  []byte
	}{
		{"generated cover", secretPNG(t, 60_000, 1), nil},
		{"photograph-like cover, half full", secretPNG(t, CapacityOf(480, 360)/2, 2), cover},
	} {
		t.Run(tc.name, func(t *testing.T) {
			veiled, _, err := Hide(tc.secret, testMeta(), tc.cover, key, seeded(1))
			if err != nil {
				t.Fatal(err)
			}
			c, err := decodeCanvas(veiled, DefaultMaxPixels, 2)
			if err != nil {
				t.Fatal(err)
			}
			p := attackProfile(&c)
			t.Logf("%dx%d veiled image: p = %.4f", c.w, c.h, p)
			if p > flagged {
				t.Errorf("flagged: p = %.3f", p)
			}
		})
	}
}
