package stego

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"
)

// Each code reads back exactly what it wrote, and costs what matrix
// embedding promises: 1 - 2^-k changes per group of 2^k - 1 elements, so
// k bits for less than one change, where plain LSB embedding pays k/2.
func TestHammingCodesRoundTripAtTheirCost(t *testing.T) {
	for k := 1; k <= maxK; k++ {
		c := noiseCanvas(256, 256, fmtRGB8, uint64(k))
		order, _ := newCarrierOrder(&c, testKey(t, 1), 2)
		el := newElements(&c, order)
		groups := min(3*len(el.order)/groupLen(k), 6000)
		msg := make([]byte, groups*k/8)
		rand.NewChaCha8([32]byte{byte(k)}).Read(msg)
		next, changed := el.embedBits(msg, 0, k, rand.New(rand.NewPCG(1, uint64(k))))
		got := make([]byte, len(msg))
		if end := el.extractBits(got, 0, k); end != next {
			t.Fatalf("k = %d: read up to element %d, wrote up to %d", k, end, next)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("k = %d: read back differs from what was written", k)
		}
		used := float64((8*len(msg) + k - 1) / k)
		want := 1 - math.Pow(2, -float64(k))
		got1 := float64(changed) / used
		// Binomial noise: three standard deviations.
		if tol := 3 * math.Sqrt(want*(1-want)/used); math.Abs(got1-want) > tol {
			t.Errorf("k = %d: %.3f changes per group, want %.3f ± %.3f", k, got1, want, tol)
		}
		t.Logf("k = %2d: %5.3f changes per group of %4d, %.2f bits per change", k, got1, groupLen(k), float64(k)/got1)
	}
}

// A change moves a sample by one, either way at random, and only the one
// way there is at either end of the range, at 8 and at 16 bits.
func TestNudgeMovesBySteps(t *testing.T) {
	for _, f := range []*pixelFormat{fmtRGB8, fmtRGBA16} {
		c := newCanvas(4, 2, f)
		el := newElements(&c, carrierOrder{0, 1, 2, 3, 4, 5, 6, 7})
		top := 1<<f.depth - 1
		value := func(e int) int {
			i := el.at(e)
			if f.depth == 8 {
				return int(c.pix[i])
			}
			return int(c.pix[i-1])<<8 | int(c.pix[i])
		}
		set := func(e, v int) {
			i := el.at(e)
			if f.depth == 8 {
				c.pix[i] = byte(v)
				return
			}
			c.pix[i-1], c.pix[i] = byte(v>>8), byte(v)
		}
		for _, tc := range []struct {
			from int
			coin bool
			want int
		}{
			{0, false, 1}, {0, true, 1}, {top, true, top - 1}, {top, false, top - 1},
			{255, true, 256}, {256, false, 255}, {100, true, 101}, {100, false, 99},
		} {
			if tc.from > top || tc.want > top {
				continue
			}
			set(4, tc.from)
			el.nudge(4, tc.coin)
			if got := value(4); got != tc.want {
				t.Errorf("%s: %d nudged (coin %v) is %d, want %d", f.name, tc.from, tc.coin, got, tc.want)
			}
		}
	}
}

// Placement prefers texture: in a picture half flat and half noisy, a
// small payload changes nothing in the flat half.
func TestSmallPayloadsStayOutOfFlatAreas(t *testing.T) {
	c := noiseCanvas(200, 200, fmtRGB8, 5)
	for y := 0; y < c.h; y++ {
		for x := 0; x < c.w/2; x++ {
			copy(c.pix[(y*c.w+x)*3:], []byte{90, 120, 150})
		}
	}
	clean := clone(c)
	veiled := veilAt(t, c, 0.2, 1)
	changedNoisy := 0
	for i := range veiled.pix {
		if veiled.pix[i] == clean.pix[i] {
			continue
		}
		if x := i / 3 % c.w; x < c.w/2-1 {
			t.Fatalf("pixel %d,%d of the flat half changed", x, i/3/c.w)
		}
		changedNoisy++
	}
	if changedNoisy == 0 {
		t.Fatal("nothing changed at all")
	}
}
