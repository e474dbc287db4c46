package stego

import (
	"slices"
	"testing"
)

// The fast texture of inner pixels is the same measure as the careful one.
func TestTextureOfARowMatchesTextureOfEachPixel(t *testing.T) {
	for _, f := range allFormats {
		c := noiseCanvas(37, 9, f, 3)
		level := make([]uint8, (c.w+1)/2*c.h)
		for y := 1; y < c.h-1; y++ {
			c.textureRow(level, y, 1+y%2)
			for x := 1 + y%2; x < c.w-1; x += 2 {
				if got, want := level[y*((c.w+1)/2)+x/2], c.texture(x, y); got != want {
					t.Fatalf("%s: pixel %d,%d: level %d, want %d", f.name, x, y, got, want)
				}
			}
		}
	}
}

// The order lists every carrier once, the checkerboard colour the key
// picks, from the most textured to the flattest, and depends on the key.
func TestCarrierOrderRanksEveryCarrierOnceByTexture(t *testing.T) {
	for _, size := range [][2]int{{1, 1}, {1, 7}, {7, 1}, {2, 2}, {3, 3}, {37, 9}, {64, 48}, {301, 203}} {
		c := noiseCanvas(size[0], size[1], fmtRGB8, 4)
		// Flat areas too, so that levels differ.
		for i := 0; i < len(c.pix)/3; i += 3 {
			c.pix[i] = 0
		}
		seen := map[int]bool{}
		var orders [][]uint32
		for _, key := range []Key{testKey(t, 1), testKey(t, 2), testKey(t, 3), testKey(t, 4)} {
			o, textured := newCarrierOrder(&c, key, 2)
			orders = append(orders, o)
			want := 0
			for y := 0; y < c.h; y++ {
				for x := 0; x < c.w; x++ {
					if isCarrier(x, y, key) {
						want++
					}
				}
			}
			if len(o) != want || len(o) < carriersOf(c.w, c.h) {
				t.Fatalf("%dx%d: %d carriers in the order, want %d (at least %d)", c.w, c.h, len(o), want, carriersOf(c.w, c.h))
			}
			got := map[uint32]bool{}
			prev := uint8(levels)
			for _, i := range o {
				x, y := int(i)%c.w, int(i)/c.w
				if !isCarrier(x, y, key) || got[i] {
					t.Fatalf("%dx%d: pixel %d,%d is listed twice or is no carrier", c.w, c.h, x, y)
				}
				got[i] = true
				l := c.texture(x, y)
				if l > prev {
					t.Fatalf("%dx%d: level %d after level %d", c.w, c.h, l, prev)
				}
				prev = l
				if (len(got) <= textured) != (l > flatLevel) {
					t.Fatalf("%dx%d: carrier %d of the order has level %d, and %d are not flat", c.w, c.h, len(got), l, textured)
				}
			}
			seen[int(key.order[0]&1)] = true
		}
		if c.w*c.h > 1000 && slices.Equal(orders[0], orders[1]) && slices.Equal(orders[1], orders[2]) {
			t.Fatalf("%dx%d: three keys give one order", c.w, c.h)
		}
	}
}

// BenchmarkCarrierOrder ranks the carriers of a decoded 1080p picture.
func BenchmarkCarrierOrder(b *testing.B) {
	c := photoLike(1920, 1080, 1)
	key := testKey(b, 1)
	b.SetBytes(int64(len(c.pix)))
	for i := 0; i < b.N; i++ {
		newCarrierOrder(&c, key, 2)
	}
}
