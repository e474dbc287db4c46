package stego

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A namedCover is a clean 8-bit picture of the steganalysis tests.
type namedCover struct {
	name string
	c    canvas
}

// steganalysisCovers are the pictures the detectors judge: the photographs
// of testdata/photos (camera pictures, one of them JPEG, one grey), the
// photograph-like renders of the tests, and covers the package generates.
func steganalysisCovers(t testing.TB) []namedCover {
	var out []namedCover
	files, err := filepath.Glob("testdata/photos/*.*")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, ".md") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c, err := decodeCanvas(b, DefaultMaxPixels, 2)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, namedCover{"photo " + filepath.Base(f), c})
	}
	if len(out) < 5 {
		t.Fatalf("found %d photographs in testdata/photos, want 5", len(out))
	}
	for _, seed := range []uint64{21, 22} {
		out = append(out, namedCover{fmt.Sprintf("render %d", seed), photoLike(480, 360, seed)})
	}
	for _, seed := range []uint64{31, 32, 33} {
		out = append(out, namedCover{fmt.Sprintf("generated %d", seed), generate(480, 360, seed, fmtRGB8, true, 2)})
	}
	return out
}

func clone(c canvas) canvas { c.pix = bytes.Clone(c.pix); return c }

// veilAt hides random bytes in a copy of c with format version 2, filling
// the given share of its carrier elements (at the code Hide would pick).
func veilAt(t testing.TB, c canvas, fill float64, seed uint64) canvas {
	c = clone(c)
	order, _ := newCarrierOrder(&c, testKey(t, 9), 2)
	room := 3*len(order) - headerElements
	stream := make([]byte, headerSize+int(fill*float64(room))/8)
	rand.NewChaCha8([32]byte{byte(seed)}).Read(stream)
	if err := embed2(&c, testKey(t, 9), stream, [32]byte{byte(seed), 1}, 2); err != nil {
		t.Fatal(err)
	}
	return c
}

// veilV1At does the same with format version 1 (LSB replacement), filling
// the given share of its blocks.
func veilV1At(t testing.TB, c canvas, fill float64, seed uint64) canvas {
	c = clone(c)
	full := usableBlocks(c.blocks()) * blockBytes
	stream := make([]byte, int(fill*float64(full))/blockBytes*blockBytes)
	rand.NewChaCha8([32]byte{byte(seed)}).Read(stream)
	embed(&c, testKey(t, 9), stream)
	return c
}

// The three attacks on LSB replacement must measure it: on every cover,
// replacement at a known rate (every sample of a share of the picture set
// to a random bit) is estimated within 0.1 of that rate (RS analysis is
// known to fail near a rate of 1, where flipping every low bit changes
// nothing, so rates stop at 0.6). Without this the tests below would prove
// nothing.
func TestDetectorsMeasureLSBReplacement(t *testing.T) {
	for _, cv := range steganalysisCovers(t)[:7] {
		for _, rate := range []float64{0, 0.3, 0.6} {
			c := clone(cv.c)
			r := rand.New(rand.NewPCG(7, 7))
			for i := 0; i < c.w*c.h; i++ {
				for ch := 0; ch < 3; ch++ {
					if r.Float64() < rate {
						c.pix[i*c.f.bpp+ch] = c.pix[i*c.f.bpp+ch]&^1 | byte(r.Uint32()&1)
					}
				}
			}
			for _, d := range detectors[:3] {
				got := d.score(&c)
				if got < rate-0.1 || got > rate+0.1 {
					t.Errorf("%s, %s at rate %.1f: estimate %.3f", cv.name, d.name, rate, got)
				}
			}
		}
	}
}

// The table of where detection starts. Every detector scores each clean
// cover, then the same cover veiled by version 1 (LSB replacement) at half
// its capacity, then by version 2 at growing fills. A veiled score outside
// the range of the clean covers' scores (above it for the three attacks on
// replacement, below it for Ker's), widened by a tenth of its width, counts
// as detected (marked *): a score wanders by about a twentieth of that width
// from one fill to the next on a cover where its detector sees nothing (see
// the grey photograph under weighted stego), and a cover at the edge of the
// clean range would otherwise be "detected" by that noise alone. The AUC is
// the chance that the detector ranks a veiled cover as more suspect than a
// clean one (0.5 is a coin toss).
//
// At the default fill each cover is veiled three times, with three seeds.
// A cover whose clean score is the highest of the set (the astronaut, under
// sample pair analysis) lands above the range whenever embedding nudges its
// score up at all, so "every veiled image inside the range" can only be
// asked of draws, not of each one: the rules are that at most one draw in
// ten lands outside the widened range and that no detector does better than
// 0.7 AUC over the draws. (Over 80 draws per detector, 8 seeds, what landed
// outside was 0 to 5%, all on the three photographs at the edge of a
// range.) The other rules: the old format at half
// capacity is detected by the three attacks on replacement on every cover
// (so they see what they should); and Ker's attack, on the same cover,
// scores version 2 at full capacity clearly lower than clean on at least
// three of the five photographs (so it is not blind either; like every
// histogram attack on LSB matching it is weak on noisy pictures, and the
// renders and generated covers are noisy on purpose).
func TestDetectorsDoNotSeeTheDefaultFill(t *testing.T) {
	covers := steganalysisCovers(t)
	fills := []float64{0.05, 0.10, defaultFill, 0.5, 0.75, 1}
	type row struct {
		clean, v1 float64
		v2        []float64
		draws     []float64 // at the default fill, three seeds
	}
	scores := make([][]row, len(detectors)) // [detector][cover]
	for ci, cv := range covers {
		v1 := veilV1At(t, cv.c, 0.5, uint64(ci))
		var v2 []canvas
		for fi, f := range fills {
			v2 = append(v2, veilAt(t, cv.c, f, uint64(100*ci+fi)))
		}
		extra := []canvas{veilAt(t, cv.c, defaultFill, uint64(1000+ci)), veilAt(t, cv.c, defaultFill, uint64(2000+ci))}
		for di, d := range detectors {
			r := row{clean: d.score(&cv.c), v1: d.score(&v1)}
			for i := range v2 {
				r.v2 = append(r.v2, d.score(&v2[i]))
				if fills[i] == defaultFill {
					r.draws = append(r.draws, r.v2[i])
				}
			}
			for i := range extra {
				r.draws = append(r.draws, d.score(&extra[i]))
			}
			scores[di] = append(scores[di], r)
		}
	}
	var table strings.Builder
	fmt.Fprintf(&table, "\n%-34s %-26s %-17s %6s %7s", "detector", "cover", "clean range", "clean", "v1 50%")
	for _, f := range fills {
		fmt.Fprintf(&table, " %6.0f%%", 100*f)
	}
	table.WriteString("\n")
	for di, d := range detectors {
		var clean []float64
		for _, r := range scores[di] {
			clean = append(clean, r.clean)
		}
		lo, hi := slices.Min(clean), slices.Max(clean)
		slack := 0.10 * (hi - lo)
		suspect := func(v, than float64) float64 { // 1 when v looks more veiled
			switch {
			case v == than:
				return 0.5
			case (v > than) == d.higher:
				return 1
			}
			return 0
		}
		outside := func(v float64) bool {
			if d.higher {
				return v > hi+slack
			}
			return v < lo-slack
		}
		mark := func(v float64) string {
			if outside(v) {
				return fmt.Sprintf(" %6.3f*", v)
			}
			return fmt.Sprintf(" %6.3f ", v)
		}
		auc := func(veiled func(r row) float64) float64 {
			sum := 0.0
			for _, a := range scores[di] {
				for _, b := range scores[di] {
					sum += suspect(veiled(a), b.clean)
				}
			}
			return sum / float64(len(covers)*len(covers))
		}
		detected := make([]int, len(fills))
		v1Detected, kerDrops := 0, 0
		for ci, r := range scores[di] {
			fmt.Fprintf(&table, "%-34s %-26s [%6.3f, %6.3f] %6.3f %s", d.name, covers[ci].name, lo, hi, r.clean, mark(r.v1))
			for fi, v := range r.v2 {
				table.WriteString(mark(v))
				if outside(v) {
					detected[fi]++
				}
			}
			table.WriteString("\n")
			if outside(r.v1) {
				v1Detected++
			}
			if strings.HasPrefix(covers[ci].name, "photo ") && r.clean-r.v2[len(fills)-1] > 0.03 {
				kerDrops++
			}
		}
		fmt.Fprintf(&table, "%-34s %-26s %-24s %4d/%-2d", d.name, "detected", "", v1Detected, len(covers))
		for fi := range fills {
			fmt.Fprintf(&table, "  %2d/%-2d ", detected[fi], len(covers))
		}
		fmt.Fprintf(&table, "\n%-34s %-26s %-24s %6.2f ", d.name, "AUC", "", auc(func(r row) float64 { return r.v1 }))
		for fi := range fills {
			fmt.Fprintf(&table, "  %5.2f ", auc(func(r row) float64 { return r.v2[fi] }))
		}
		table.WriteString("\n")
		// The default fill over its three draws.
		out, draws, sum := 0, 0, 0.0
		for _, a := range scores[di] {
			for _, v := range a.draws {
				draws++
				if outside(v) {
					out++
				}
				for _, b := range scores[di] {
					sum += suspect(v, b.clean)
				}
			}
		}
		drawAUC := sum / float64(draws*len(covers))
		fmt.Fprintf(&table, "%-34s %-26s %d of %d draws outside, AUC %.2f\n", d.name, "default fill, 3 seeds", out, draws, drawAUC)
		if 10*out > draws {
			t.Errorf("%s sees %d of %d draws at the default fill outside the clean range; at most one in ten may be", d.name, out, draws)
		}
		if drawAUC > 0.7 {
			t.Errorf("%s tells veiled covers at the default fill from clean ones with AUC %.2f", d.name, drawAUC)
		}
		if d.higher && v1Detected != len(covers) {
			t.Errorf("%s detects version 1 at half capacity on %d of %d covers; it should see every one", d.name, v1Detected, len(covers))
		}
		if !d.higher && kerDrops < 3 {
			t.Errorf("%s scores full capacity 0.03 under clean on %d of the photographs: it is blind", d.name, kerDrops)
		}
	}
	t.Log(table.String())
}
