// This file makes the photograph of a few MB that the demo and the studies
// put: a real one re-encoded to that size, or, where there is none, a
// generated cover that looks like one down to its pixels.

package load

import (
	"bytes"
	"fmt"
	"image"
	"image/draw"
	"image/jpeg"
	"math"

	"veil/stego"
)

// PhotoBytes is the size of the photograph the bench makes: people share
// photographs of a few MB, and the largest the cloud takes at its default
// level is not much more than twice this.
const PhotoBytes = 2_000_000

// The qualities the photographs are encoded at: a camera's fine setting for
// the generated one; near the top of the scale for a re-encoded one, whose
// source has been through JPEG once already and would otherwise lose more.
const (
	generatedQuality  = 92
	reencodingQuality = 97
)

// A photograph is made again at a new size until it is within photoSlack
// of the size asked for, at most photoTries times.
const (
	photoSlack = 0.05
	photoTries = 6
)

// GeneratedPhoto is a JPEG of about target bytes: a cover as the cluster
// generates one (stego.GenerateCover, opaque, photograph-like noise at
// every scale) at quality 92, of the size that makes it that long. The
// same seed gives the same picture.
func GeneratedPhoto(target int, seed uint64) ([]byte, error) {
	// A first guess at 4:3; the loop finds the size.
	return sizePhoto(target, generatedQuality, 1600, 1200, true, func(w, h int) image.Image {
		return stego.GenerateCover(w, h, seed)
	})
}

// ReencodePhoto decodes a photograph and encodes it again at quality 97,
// scaled up (bilinear) as far as makes it about target bytes: a real
// photograph of the size the bench wants, from one that is smaller. One
// that is longer already is encoded at its own size, not shrunk.
func ReencodePhoto(src []byte, target int) ([]byte, error) {
	img, _, err := image.Decode(bytes.NewReader(src))
	if err != nil {
		return nil, fmt.Errorf("bench: decoding the photograph: %w", err)
	}
	b := img.Bounds()
	return sizePhoto(target, reencodingQuality, b.Dx(), b.Dy(), false, func(w, h int) image.Image {
		if w == b.Dx() && h == b.Dy() {
			return img
		}
		return scale(img, w, h)
	})
}

// sizePhoto encodes draw(w, h) at quality, then again at the size that
// the bytes per pixel so far say gives target bytes, until it is within
// photoSlack of target. Unless it may shrink, it never goes below the
// size it starts at.
func sizePhoto(target, quality, w, h int, shrink bool, draw func(w, h int) image.Image) ([]byte, error) {
	if target <= 0 {
		return nil, fmt.Errorf("bench: a photograph of %d bytes", target)
	}
	minW, aspect := w, float64(h)/float64(w)
	var out []byte
	for range photoTries {
		var b bytes.Buffer
		if err := jpeg.Encode(&b, draw(w, h), &jpeg.Options{Quality: quality}); err != nil {
			return nil, fmt.Errorf("bench: encoding a photograph: %w", err)
		}
		out = b.Bytes()
		if math.Abs(float64(len(out))/float64(target)-1) <= photoSlack {
			break
		}
		// The bytes grow about as the pixels: scale both sides by the
		// square root of what is missing.
		nw := max(int(math.Round(float64(w)*math.Sqrt(float64(target)/float64(len(out))))), 16)
		if !shrink {
			nw = max(nw, minW)
		}
		if nw == w {
			break
		}
		w, h = nw, max(int(math.Round(float64(nw)*aspect)), 16)
	}
	return out, nil
}

// scale resamples img to w×h, bilinear: enough for a photograph scaled up
// by less than two, and with no dependency.
func scale(img image.Image, w, h int) image.Image {
	b := img.Bounds()
	// A photograph is opaque: RGBA holds it as it is, and draw.Draw has
	// fast paths into it from what image/jpeg decodes.
	src := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(src, src.Rect, img, b.Min, draw.Src)
	sw, sh := b.Dx(), b.Dy()
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		fy := (float64(y)+0.5)*float64(sh)/float64(h) - 0.5
		y0 := min(max(int(math.Floor(fy)), 0), sh-1)
		y1 := min(y0+1, sh-1)
		ty := min(max(fy-float64(y0), 0), 1)
		for x := range w {
			fx := (float64(x)+0.5)*float64(sw)/float64(w) - 0.5
			x0 := min(max(int(math.Floor(fx)), 0), sw-1)
			x1 := min(x0+1, sw-1)
			tx := min(max(fx-float64(x0), 0), 1)
			p00, p01 := src.PixOffset(x0, y0), src.PixOffset(x1, y0)
			p10, p11 := src.PixOffset(x0, y1), src.PixOffset(x1, y1)
			d := dst.PixOffset(x, y)
			for c := range 4 {
				top := float64(src.Pix[p00+c])*(1-tx) + float64(src.Pix[p01+c])*tx
				bot := float64(src.Pix[p10+c])*(1-tx) + float64(src.Pix[p11+c])*tx
				dst.Pix[d+c] = uint8(math.Round(top*(1-ty) + bot*ty))
			}
		}
	}
	return dst
}
