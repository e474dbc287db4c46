package bench

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"sync"
)

// tinyPNG is the secret the bench hides: an 8x8 PNG of a few hundred
// bytes, so that a request measures the cluster rather than the stego work.
var tinyPNG = sync.OnceValue(func() []byte {
	img := image.NewNRGBA(image.Rect(0, 0, 8, 8))
	for y := range 8 {
		for x := range 8 {
			img.Set(x, y, color.NRGBA{R: uint8(32 * x), G: uint8(32 * y), B: 128, A: 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic("bench: encoding a PNG in memory: " + err.Error())
	}
	return b.Bytes()
})
