package stego

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"
)

var allFormats = []*pixelFormat{fmtRGB8, fmtRGBX8, fmtRGBA8, fmtRGB16, fmtRGBX16, fmtRGBA16}

func TestEveryFormatCarriesThreeBitsPerPixel(t *testing.T) {
	for _, f := range allFormats {
		if got := f.bits * f.blockLen() / 8; got != blockPixels*3 {
			t.Errorf("%s: a block carries %d bits, want %d", f.name, got, blockPixels*3)
		}
	}
}

func TestGather8CollectsTheLowBitOfEachByte(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for i := 0; i < 1000; i++ {
		w := r.Uint64() & 0x0101010101010101
		var want uint8
		for b := 0; b < 8; b++ {
			want |= uint8(w>>(8*b)&1) << b
		}
		if got := gather8(w); got != want {
			t.Fatalf("gather8(%#016x) = %08b, want %08b", w, got, want)
		}
	}
}

// A block written and read back gives the same bytes, and writing changes
// nothing but the low bit of R, G and B samples (the low byte of 16-bit
// ones), never alpha, never a high bit.
func TestEmbedBlockChangesOnlyCarrierBits(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	for _, f := range allFormats {
		t.Run(f.name, func(t *testing.T) {
			allowed := make([]byte, f.blockLen())
			for p := 0; p < blockPixels; p++ {
				for ch := 0; ch < 3; ch++ {
					allowed[p*f.bpp+(ch+1)*f.depth/8-1] = 1
				}
			}
			for i := 0; i < 200; i++ {
				blk := make([]byte, f.blockLen())
				for j := range blk {
					blk[j] = byte(r.Uint32())
				}
				orig := bytes.Clone(blk)
				payload := make([]byte, blockBytes)
				for j := range payload {
					payload[j] = byte(r.Uint32())
				}
				f.embedBlock(blk, payload)
				for j := range blk {
					if d := blk[j] ^ orig[j]; d&^allowed[j] != 0 {
						t.Fatalf("byte %d changed by %08b; only %08b may change", j, d, allowed[j])
					}
				}
				got := make([]byte, blockBytes)
				f.extractBlock(got, blk)
				if !bytes.Equal(got, payload) {
					t.Fatalf("read back %x, wrote %x", got, payload)
				}
			}
		})
	}
}

// Carrier bit t of a block is channel t%3 of pixel t/3 and holds bit t of the
// block's 6 bytes read little-endian: the layout is the same whatever the
// pixel format, so a veiled image can be re-encoded at another depth.
func TestCarrierOrderIsTheSameInEveryFormat(t *testing.T) {
	payload := []byte{0x01, 0x80, 0xff, 0x00, 0x5a, 0xc3}
	for _, f := range allFormats {
		blk := make([]byte, f.blockLen())
		f.embedBlock(blk, payload)
		for bit := 0; bit < 48; bit++ {
			p, ch := bit/3, bit%3
			got := blk[p*f.bpp+(ch+1)*f.depth/8-1] & 1
			if want := payload[bit/8] >> (bit % 8) & 1; got != want {
				t.Fatalf("%s: carrier bit %d = %d, want %d", f.name, bit, got, want)
			}
		}
	}
}

func TestWalkIsAPermutationKeyedByTheMasterKey(t *testing.T) {
	for _, n := range []int{7, 5000, 100_003} { // one-block runs, and runs of 24
		order := func(k Key) []int {
			w := newWalk(k, n)
			out := make([]int, usableBlocks(n))
			for i := range out {
				out[i] = w.block(i)
			}
			return out
		}
		a := order(testKey(t, 1))
		seen := make([]bool, n)
		for _, b := range a {
			if b < 0 || b >= n || seen[b] {
				t.Fatalf("%d blocks: block %d visited twice or out of range", n, b)
			}
			seen[b] = true
		}
		if n-len(a) >= maxRuns || n-len(a) >= runLen(n) {
			t.Fatalf("%d blocks: %d left unused", n, n-len(a))
		}
		if !slices.Equal(a, order(testKey(t, 1))) {
			t.Fatalf("%d blocks: one key walks two ways", n)
		}
		if n > 7 && slices.Equal(a, order(testKey(t, 2))) {
			t.Fatalf("%d blocks: two keys walk the same way", n)
		}
		// visit goes the same way as block, run by run.
		w := newWalk(testKey(t, 1), n)
		w.visit(3, len(a), func(i, b int) {
			if a[i] != b {
				t.Fatalf("%d blocks: visit puts stream block %d in %d, block says %d", n, i, b, a[i])
			}
		})
	}
}
