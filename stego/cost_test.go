package stego

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"testing"
)

func encodedJPEG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestASecretCutShortIsRefused(t *testing.T) {
	whole := encodedJPEG(t, 64, 48)
	key := testKey(t, 1)
	if _, _, err := Hide(whole, Meta{Owner: "ann"}, nil, key, Options{Level: Compact}); err != nil {
		t.Fatalf("a whole JPEG: %v", err)
	}
	for _, n := range []int{len(whole) / 2, len(whole) - 2} {
		_, _, err := Hide(whole[:n], Meta{Owner: "ann"}, nil, key, Options{Level: Compact})
		if !errors.Is(err, ErrUnsupportedImage) {
			t.Fatalf("a JPEG cut to %d of %d bytes: %v", n, len(whole), err)
		}
	}
}

func TestASecretOverThePixelLimitIsRefusedUnread(t *testing.T) {
	// A PNG header of 60000x60000 pixels and nothing after it: refused from
	// its header, before any decoding.
	var b bytes.Buffer
	png.Encode(&b, image.NewGray(image.Rect(0, 0, 1, 1)))
	hdr := b.Bytes()
	hdr[16], hdr[17], hdr[18], hdr[19] = 0, 0, 0xEA, 0x60 // width 60000
	hdr[20], hdr[21], hdr[22], hdr[23] = 0, 0, 0xEA, 0x60 // height 60000
	binary.BigEndian.PutUint32(hdr[29:], crc32.ChecksumIEEE(hdr[12:29]))
	_, _, err := Hide(hdr, Meta{Owner: "ann"}, nil, testKey(t, 1), Options{})
	if !errors.Is(err, ErrImageTooLarge) {
		t.Fatalf("Hide = %v, want ErrImageTooLarge", err)
	}
	if _, _, err := HideCost(hdr, nil, Options{}); !errors.Is(err, ErrImageTooLarge) {
		t.Fatalf("HideCost = %v, want ErrImageTooLarge", err)
	}
}

func TestCostsFollowTheHeaders(t *testing.T) {
	small := encodedJPEG(t, 64, 48)
	var p16 bytes.Buffer
	img := image.NewRGBA64(image.Rect(0, 0, 100, 100))
	img.Set(0, 0, color.RGBA64{1, 2, 3, 4})
	png.Encode(&p16, img)
	c16, err := RevealCost(p16.Bytes(), Options{})
	if err != nil || c16 != 100*100*(2*8+3) {
		t.Fatalf("RevealCost of a 100x100 16-bit RGBA PNG = %d, %v; want %d", c16, err, 100*100*(2*8+3))
	}
	hide, reveal, err := HideCost(small, nil, Options{Level: Stealthy})
	if err != nil {
		t.Fatal(err)
	}
	w, h := Stealthy.generatedSize(len(small))
	if hide != int64(w*h*costGenerated) || reveal != int64(w*h*(2*3+3)) {
		t.Fatalf("HideCost with a generated cover = %d, %d; want %d, %d (%dx%d)", hide, reveal, w*h*costGenerated, w*h*9, w, h)
	}
	hide, reveal, err = HideCost(small, p16.Bytes(), Options{})
	if err != nil || hide != max(100*100*(8+costCoverExtra), 64*48*costJPEGSecret) || reveal != c16 {
		t.Fatalf("HideCost with a 16-bit cover = %d, %d, %v", hide, reveal, err)
	}
	if progressiveJPEG(small) {
		t.Fatal("a baseline JPEG read as progressive")
	}
	// SOI, an APP0 segment of 16 bytes, then SOF2.
	prog := append([]byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 16}, make([]byte, 14)...)
	prog = append(prog, 0xFF, 0xC2, 0, 11, 8, 0, 10, 0, 10, 1, 1, 0x11, 0)
	if !progressiveJPEG(prog) {
		t.Fatal("a progressive frame header not seen")
	}
}
