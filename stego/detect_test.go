// This file holds the project's own steganalysis: four classic detectors,
// written from their papers, that the tests run on clean and veiled
// pictures.

package stego

import (
	"math"
	"math/cmplx"
)

// A plane is one 8-bit channel of a picture.
type plane struct {
	v    []uint8
	w, h int
}

// planes splits an 8-bit canvas into its R, G and B planes.
func planes(c *canvas) [3]plane {
	var out [3]plane
	for ch := range out {
		p := plane{v: make([]uint8, c.w*c.h), w: c.w, h: c.h}
		for i := range p.v {
			p.v[i] = c.pix[i*c.f.bpp+ch]
		}
		out[ch] = p
	}
	return out
}

func (p plane) at(x, y int) int { return int(p.v[y*p.w+x]) }

// A detector scores a picture. For the three attacks on LSB replacement the
// score estimates the share of samples that carry a message (0 for a clean
// picture, 1 for a full one); for Ker's attack on LSB matching it is a
// ratio that embedding lowers.
type detector struct {
	name  string
	score func(c *canvas) float64
	// higher is true when embedding raises the score.
	higher bool
}

var detectors = []detector{
	{"sample pair analysis", spaScore, true},
	{"RS analysis", rsScore, true},
	{"weighted stego", wsScore, true},
	{"Ker 2005 calibrated adjacency HCF", kerScore, false},
}

// spaScore is sample pair analysis (Dumitrescu, Wu and Wang, "Detection of
// LSB steganography via sample pair analysis", 2003), over horizontally
// adjacent samples of the three planes, pooled. With C0 the pairs whose
// values agree but for the low bit, D0 the equal pairs, and X and Y the
// pairs at an odd distance whose smaller value is odd and even, the
// embedding rate p solves, summing the paper's trace-set equations over all
// distances under its assumption that X and Y are equal in a clean picture,
//
//	C0/2 p² - (D0 + Y - X) p + (Y - X) = 0.
//
// LSB replacement only ever moves odd values down and even ones up, which
// shrinks Y - X by the factor 1 - p.
func spaScore(c *canvas) float64 {
	var c0, d0, x, y float64
	for _, p := range planes(c) {
		for r := 0; r < p.h; r++ {
			row := p.v[r*p.w : (r+1)*p.w]
			for i := 0; i+1 < len(row); i++ {
				u, v := int(row[i]), int(row[i+1])
				if u>>1 == v>>1 {
					c0++
				}
				if u == v {
					d0++
				}
				if (u-v)&1 != 0 {
					if min(u, v)&1 != 0 {
						x++
					} else {
						y++
					}
				}
			}
		}
	}
	return smallerRoot(c0/2, -(d0 + y - x), y-x)
}

// smallerRoot returns the root of a z² + b z + c = 0 nearer to zero, or 0
// when there is no real one.
func smallerRoot(a, b, c float64) float64 {
	if a == 0 {
		if b == 0 {
			return 0
		}
		return -c / b
	}
	disc := b*b - 4*a*c
	if disc < 0 {
		return 0
	}
	r1, r2 := (-b+math.Sqrt(disc))/(2*a), (-b-math.Sqrt(disc))/(2*a)
	if math.Abs(r1) < math.Abs(r2) {
		return r1
	}
	return r2
}

// rsScore is RS analysis (Fridrich, Goljan and Du, "Reliable detection of
// LSB steganography in color and grayscale images", 2001): groups of four
// horizontally adjacent samples, smoothness f = Σ|g[i+1] - g[i]|, the mask
// 0110 applied with the flip F1 (2k ↔ 2k+1) and with the shifted flip F-1
// (2k-1 ↔ 2k). A group is regular when the flip makes it rougher, singular
// when smoother. The counts are taken on the picture and on the picture with
// every low bit flipped, and the paper's quadratic gives the embedding rate.
func rsScore(c *canvas) float64 {
	type counts struct{ rm, sm, rn, sn float64 }
	measure := func(flipAll bool) counts {
		var k counts
		for _, p := range planes(c) {
			for r := 0; r < p.h; r++ {
				row := p.v[r*p.w : (r+1)*p.w]
				for i := 0; i+4 <= len(row); i += 4 {
					var g [4]int
					for j := range g {
						g[j] = int(row[i+j])
						if flipAll {
							g[j] ^= 1
						}
					}
					f0 := rough(g)
					pos, neg := g, g
					for _, j := range []int{1, 2} {
						pos[j] ^= 1
						neg[j] = (neg[j] + 1) ^ 1 - 1
					}
					switch fp := rough(pos); {
					case fp > f0:
						k.rm++
					case fp < f0:
						k.sm++
					}
					switch fn := rough(neg); {
					case fn > f0:
						k.rn++
					case fn < f0:
						k.sn++
					}
				}
			}
		}
		return k
	}
	a, b := measure(false), measure(true)
	d0, d1 := a.rm-a.sm, b.rm-b.sm
	dn0, dn1 := a.rn-a.sn, b.rn-b.sn
	z := smallerRoot(2*(d1+d0), dn0-dn1-d1-3*d0, d0-dn0)
	if z == 0.5 {
		return 1
	}
	return z / (z - 0.5)
}

func rough(g [4]int) int {
	return absInt(g[1]-g[0]) + absInt(g[2]-g[1]) + absInt(g[3]-g[2])
}

func absInt(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// wsScore is weighted stego analysis (Fridrich and Goljan, "On estimation
// of secret message length in LSB steganography in spatial domain", 2004,
// with the weights Ker and Böhme moderated in "Revisiting weighted
// stego-image steganalysis", 2008): each inner sample s is predicted by the
// mean F of its four neighbours, and
//
//	p = 2 Σ w (s - s̄)(s - F) / Σ w,   w = 1 / (5 + local variance),
//
// where s̄ is s with its low bit flipped. LSB replacement pulls s away from
// s̄ in the direction the prediction error shows.
func wsScore(c *canvas) float64 {
	var num, den float64
	for _, p := range planes(c) {
		for y := 1; y+1 < p.h; y++ {
			for x := 1; x+1 < p.w; x++ {
				n := [4]float64{float64(p.at(x-1, y)), float64(p.at(x+1, y)), float64(p.at(x, y-1)), float64(p.at(x, y+1))}
				mean := (n[0] + n[1] + n[2] + n[3]) / 4
				variance := 0.0
				for _, v := range n {
					variance += (v - mean) * (v - mean)
				}
				variance /= 4
				w := 1 / (5 + variance)
				s := p.at(x, y)
				sign := 1.0 // s - s̄: +1 for odd s, -1 for even
				if s&1 == 0 {
					sign = -1
				}
				num += w * sign * (float64(s) - mean)
				den += w
			}
		}
	}
	if den == 0 {
		return 0
	}
	return 2 * num / den
}

// kerScore is Ker's detector of LSB matching ("Steganalysis of LSB matching
// in grayscale images", IEEE Signal Processing Letters, 2005), in its
// strongest form: the centre of mass of the histogram characteristic
// function of the adjacency histogram (how often a sample of value m has
// the value n at its right), calibrated by the same of the picture shrunk
// by averaging 2×2 blocks. ±1 embedding blurs the adjacency histogram,
// which lowers the centre of mass of its transform; shrinking averages most
// of the noise away, so the ratio of the two falls with embedding. The
// score is the mean ratio of the three planes.
func kerScore(c *canvas) float64 {
	total := 0.0
	for _, p := range planes(c) {
		small := plane{w: p.w / 2, h: p.h / 2}
		small.v = make([]uint8, small.w*small.h)
		for y := 0; y < small.h; y++ {
			for x := 0; x < small.w; x++ {
				s := p.at(2*x, 2*y) + p.at(2*x+1, 2*y) + p.at(2*x, 2*y+1) + p.at(2*x+1, 2*y+1)
				small.v[y*small.w+x] = uint8(s / 4)
			}
		}
		total += adjacencyCOM(p) / adjacencyCOM(small)
	}
	return total / 3
}

// fft256 transforms x in place: an iterative radix-2 FFT of 256 points.
func fft256(x *[256]complex128) {
	for i, j := 1, 0; i < 256; i++ {
		bit := 128
		for ; j&bit != 0; bit >>= 1 {
			j ^= bit
		}
		j ^= bit
		if i < j {
			x[i], x[j] = x[j], x[i]
		}
	}
	for size := 2; size <= 256; size <<= 1 {
		step := 256 / size
		for start := 0; start < 256; start += size {
			for k := 0; k < size/2; k++ {
				t := twiddle[k*step] * x[start+k+size/2]
				x[start+k+size/2] = x[start+k] - t
				x[start+k] += t
			}
		}
	}
}

// twiddle[i] is exp(-2πi i/256).
var twiddle = func() (t [256]complex128) {
	for i := range t {
		t[i] = cmplx.Exp(complex(0, -2*math.Pi*float64(i)/256))
	}
	return t
}()

// adjacencyCOM is the centre of mass, Σ(k+l)|H(k,l)| / Σ|H(k,l)| over
// 0 ≤ k, l ≤ 128, of the 2-D DFT H of the adjacency histogram of p.
func adjacencyCOM(p plane) float64 {
	var rows [256][256]complex128
	for y := 0; y < p.h; y++ {
		row := p.v[y*p.w : (y+1)*p.w]
		for i := 0; i+1 < len(row); i++ {
			rows[row[i]][row[i+1]]++
		}
	}
	for m := range rows {
		fft256(&rows[m])
	}
	var num, den float64
	var col [256]complex128
	for l := 0; l <= 128; l++ {
		for m := range col {
			col[m] = rows[m][l]
		}
		fft256(&col)
		for k := 0; k <= 128; k++ {
			a := cmplx.Abs(col[k])
			num += float64(k+l) * a
			den += a
		}
	}
	return num / den
}
