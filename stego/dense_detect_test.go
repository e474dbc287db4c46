package stego

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// veilDenseAt hides random bytes in a copy of c with format version 3 (the
// compact level), filling the given share of its blocks.
func veilDenseAt(t testing.TB, c canvas, fill float64, seed uint64) canvas {
	c = clone(c)
	full := usableBlocks(c.blocks()) * denseBlockBytes
	stream := make([]byte, int(fill*float64(full))/denseBlockBytes*denseBlockBytes)
	rand.NewChaCha8([32]byte{byte(seed)}).Read(stream)
	if err := embed3(&c, testKey(t, 9), stream); err != nil {
		t.Fatal(err)
	}
	return c
}

// The compact level hides nothing from a detector, and the docs say so. Its
// images are made at about full capacity (the cover is sized to the
// secret): there weighted stego flags every cover, with an AUC of 1 (sample
// pair analysis and RS analysis, which break down as the rate nears 1, do
// worse), and at half capacity all three attacks on replacement flag every
// cover. The table it logs is the one docs/stego.md shows.
func TestEveryAttackOnReplacementSeesTheCompactLevel(t *testing.T) {
	covers := steganalysisCovers(t)
	var table strings.Builder
	fmt.Fprintf(&table, "\n%-34s %6s %6s %10s\n", "detector", "half", "full", "flagged")
	best := map[float64]float64{}
	for _, d := range detectors {
		clean := make([]float64, len(covers))
		for i, cv := range covers {
			clean[i] = d.score(&cv.c)
		}
		auc := func(fill float64) (float64, int) {
			sum, flagged := 0.0, 0
			lo, hi := clean[0], clean[0]
			for _, v := range clean {
				lo, hi = min(lo, v), max(hi, v)
			}
			slack := 0.1 * (hi - lo)
			for i, cv := range covers {
				v := veilDenseAt(t, cv.c, fill, uint64(i))
				s := d.score(&v)
				if d.higher && s > hi+slack || !d.higher && s < lo-slack {
					flagged++
				}
				for _, c := range clean {
					switch {
					case s == c:
						sum += 0.5
					case (s > c) == d.higher:
						sum++
					}
				}
			}
			return sum / float64(len(covers)*len(covers)), flagged
		}
		half, halfFlagged := auc(0.5)
		full, flagged := auc(1)
		fmt.Fprintf(&table, "%-34s %6.2f %6.2f %5d of %d\n", d.name, half, full, flagged, len(covers))
		if d.higher && (half < 0.99 || halfFlagged != len(covers)) {
			t.Errorf("%s: the compact level at half capacity gives AUC %.2f and flags %d of %d covers", d.name, half, halfFlagged, len(covers))
		}
		if flagged == len(covers) {
			best[1] = max(best[1], full)
		}
	}
	if best[1] < 0.99 {
		t.Errorf("no detector flags every cover at the compact level's full capacity with AUC 1 (best %.2f)", best[1])
	}
	t.Log(table.String())
}
