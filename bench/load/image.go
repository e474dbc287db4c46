package load

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"sync"

	"veil/cluster/client"
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

// TinyPNG is the secret the bench hides (a test's too).
func TinyPNG() []byte { return tinyPNG() }

// HideRequest is the write the bench sends: the tiny secret, one viewer.
func HideRequest() client.HideRequest {
	return client.HideRequest{Secret: tinyPNG(), Viewers: map[string]int{Viewer: 1}}
}
