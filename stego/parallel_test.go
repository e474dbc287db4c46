package stego

import (
	"bytes"
	"slices"
	"sync/atomic"
	"testing"
)

func TestForEachCallsEveryPieceOnceOnItsOwnGoroutines(t *testing.T) {
	for _, par := range []int{1, 2, 3, 8} {
		for _, n := range []int{0, 1, 2, 7, 100} {
			calls := make([]atomic.Int32, n)
			forEach(n, par, func(w, i int) {
				if w < 0 || w >= par {
					t.Errorf("par %d: goroutine %d", par, w)
				}
				calls[i].Add(1)
			})
			for i := range calls {
				if got := calls[i].Load(); got != 1 {
					t.Fatalf("par %d, %d pieces: piece %d ran %d times", par, n, i, got)
				}
			}
		}
	}
}

func TestInOrderHandsResultsOverInOrder(t *testing.T) {
	for _, par := range []int{1, 2, 5} {
		var out []int
		inOrder(200, par, func(w, i int) [2]int {
			// Some pieces take longer: later ones must not overtake them.
			work := 0
			if i%7 == 0 {
				for j := range 100_000 {
					work += j & 3
				}
			}
			return [2]int{i, work}
		}, func(r [2]int) { out = append(out, r[0]) })
		if len(out) != 200 {
			t.Fatalf("par %d: %d results, want 200", par, len(out))
		}
		for i, v := range out {
			if v != i {
				t.Fatalf("par %d: result %d is piece %d", par, i, v)
			}
		}
	}
}

// Whatever the parallelism, Hide writes the same bytes for the same
// Options.Rand and cover seed, and the order of the carriers is the same.
func TestParallelismDoesNotChangeTheOutput(t *testing.T) {
	key := testKey(t, 6)
	secret := secretPNG(t, 40_000, 6)
	for _, level := range Levels {
		for name, cover := range map[string][]byte{
			"generated cover":  nil,
			"the caller's RGB": encodeStd(rgbImage(700, 500, 6)),
			"16-bit RGBA":      encodeStd(nrgba64Image(700, 500, 6)),
		} {
			hide := func(par int) []byte {
				opts := seeded(6)
				opts.Level, opts.Parallelism = level, par
				out, _, err := Hide(secret, testMeta(), cover, key, opts)
				if err != nil {
					t.Fatalf("%s, %s: %v", level, name, err)
				}
				return out
			}
			one := hide(1)
			if four := hide(4); !bytes.Equal(one, four) {
				t.Errorf("%s, %s: parallelism 1 and 4 wrote different files", level, name)
			}
			for _, par := range []int{1, 3} {
				got, _, err := Reveal(one, key, Options{Parallelism: par})
				if err != nil || !bytes.Equal(got, secret) {
					t.Errorf("%s, %s: Reveal with parallelism %d: %d bytes, %v", level, name, par, len(got), err)
				}
			}
		}
	}
	c := photoLike(301, 203, 6)
	one, _ := newCarrierOrder(&c, key, 1)
	for _, par := range []int{2, 3, 7} {
		if got, _ := newCarrierOrder(&c, key, par); !slices.Equal(got, one) {
			t.Errorf("the carrier order on %d goroutines is not the one on 1", par)
		}
	}
	if a, b := generate(150, 97, 3, fmtRGB8, true, 1), generate(150, 97, 3, fmtRGB8, true, 5); !bytes.Equal(a.pix, b.pix) {
		t.Error("the cover painted on 5 goroutines is not the one painted on 1")
	}
}
