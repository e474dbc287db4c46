package stego

// What a hide or a reveal costs in memory, judged from the images' headers
// before anything is decoded: what a node reserves from its decoding budget
// so that many large images at once wait their turn instead of taking it
// down together. The figures per pixel are upper bounds measured on this
// package's decoders and encoder (docs/stego.md, "Memory"): the decoded
// image, the canvas the work runs on, and the veiled PNG written.

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Bytes per pixel of each kind of decode and of the work after it.
const (
	costWork           = 10 // a canvas, its ranking and the veiled PNG written
	costJPEG           = 8  // a baseline JPEG's planes and their conversion
	costJPEGProgessive = 16 // a progressive JPEG keeps every coefficient until the end
	costGIF            = 6
)

// HideCost returns the bytes of memory a Hide of secret into cover (nil
// for a generated one) is budgeted at, from their headers. It fails as
// Hide would on a secret or cover it would refuse from its header alone.
func HideCost(secret, cover []byte, opts Options) (int64, error) {
	opts = opts.withDefaults()
	level, err := opts.Level.resolve()
	if err != nil {
		return 0, err
	}
	cost, err := decodeCost(secret, opts.MaxPixels, "the secret")
	if err != nil {
		return 0, err
	}
	var w, h int
	if cover == nil {
		w, h = level.generatedSize(len(secret))
		if int64(w)*int64(h) > int64(opts.MaxPixels) {
			return 0, fmt.Errorf("%w: at the %s level a secret of %s bytes needs a %dx%d cover, over the limit of %s pixels",
				ErrPayloadTooLarge, level, commas(len(secret)), w, h, commas(opts.MaxPixels))
		}
		return max(cost, int64(w)*int64(h)*costWork), nil
	}
	c, err := decodeCost(cover, opts.MaxPixels, "the cover")
	if err != nil {
		return 0, err
	}
	return max(cost, c), nil
}

// RevealCost returns the bytes of memory a Reveal of veiled is budgeted
// at, from its header.
func RevealCost(veiled []byte, opts Options) (int64, error) {
	return decodeCost(veiled, opts.withDefaults().MaxPixels, "the image")
}

// decodeCost is the memory decoding data and working on it takes, from its
// header; what names the image in an error.
func decodeCost(data []byte, maxPixels int, what string) (int64, error) {
	cfg, format, err := decodeConfig(data, maxPixels)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	px := int64(cfg.Width) * int64(cfg.Height)
	switch format {
	case "png":
		// The decoded image, at its own depth, then the work: a 16-bit
		// PNG's canvas keeps 16 bits.
		return px * (pngBytesPerPixel(data) + costWork), nil
	case "jpeg":
		if progressiveJPEG(data) {
			return px * (costJPEGProgessive + costWork), nil
		}
		return px * (costJPEG + costWork), nil
	case "gif":
		return px * (costGIF + costWork), nil
	}
	return 0, fmt.Errorf("%w: %s is %s; want PNG, JPEG or GIF", ErrUnsupportedImage, what, format)
}

// pngBytesPerPixel reads a PNG's header: the bytes one pixel takes
// decoded (8 for 16-bit RGBA; at least 1).
func pngBytesPerPixel(data []byte) int64 {
	// Signature (8), IHDR length and type (8), width and height (8), then
	// bit depth and colour type.
	if len(data) < 26 {
		return 8
	}
	depth, colour := int64(data[24]), data[25]
	samples := map[byte]int64{0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour]
	if samples == 0 {
		samples = 4
	}
	return max(1, samples*depth/8)
}

// progressiveJPEG reports whether a JPEG's frame header is progressive
// (SOF2), scanning its markers up to the first frame.
func progressiveJPEG(data []byte) bool {
	i := 2
	for i+4 <= len(data) {
		if data[i] != 0xFF {
			return false
		}
		marker := data[i+1]
		switch {
		case marker == 0xFF:
			i++
			continue
		case marker == 0xC2 || marker == 0xC6 || marker == 0xCA || marker == 0xCE:
			return true
		case marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC:
			return false
		case marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7):
			i += 2
			continue
		}
		i += 2 + int(binary.BigEndian.Uint16(data[i+2:]))
	}
	return bytes.Contains(data, []byte{0xFF, 0xC2})
}
