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

// Bytes per pixel, measured (VmHWM of a process doing nothing else, on
// this package's decoders; docs/stego.md): a hide into a generated cover
// takes about 7 a pixel of the cover (8 here); into a PNG cover, its
// decoded pixel and 3 more (10.4 for a 16-bit RGBA one); a reveal about
// twice the veiled PNG's decoded pixel and 2 to 3 more (5.6 for 8-bit RGB,
// 18.3 for 16-bit RGBA); a progressive JPEG keeps every coefficient until
// the end (16 a pixel, the whole put).
const (
	costGenerated      = 8
	costCoverExtra     = 3
	costJPEG           = 12
	costJPEGSecret     = 4 // a baseline JPEG only decoded, to check it is whole: its planes
	costJPEGProgessive = 18
	costGIF            = 8
)

// HideCost returns the bytes of memory a Hide of secret into cover (nil
// for a generated one) is budgeted at, from their headers, and what a
// Reveal of the veiled PNG it writes will be: a node that could not open
// that image should not make it. It fails as Hide would on a secret or a
// cover it would refuse from its header alone.
func HideCost(secret, cover []byte, opts Options) (hide, reveal int64, err error) {
	opts = opts.withDefaults()
	level, err := opts.Level.resolve()
	if err != nil {
		return 0, 0, err
	}
	hide, err = decodeCost(secret, opts.MaxPixels, "the secret", true)
	if err != nil {
		return 0, 0, err
	}
	if cover == nil {
		w, h := level.generatedSize(len(secret))
		px := int64(w) * int64(h)
		if px > int64(opts.MaxPixels) {
			return 0, 0, fmt.Errorf("%w: at the %s level a secret of %s bytes needs a %dx%d cover, over the limit of %s pixels",
				ErrPayloadTooLarge, level, commas(len(secret)), w, h, commas(opts.MaxPixels))
		}
		return max(hide, px*costGenerated), px * revealPerPixel(3), nil // generated covers are 8-bit RGB
	}
	cfg, format, err := decodeConfig(cover, opts.MaxPixels)
	if err != nil {
		return 0, 0, fmt.Errorf("the cover: %w", err)
	}
	px := int64(cfg.Width) * int64(cfg.Height)
	c, err := decodeCost(cover, opts.MaxPixels, "the cover", false)
	if err != nil {
		return 0, 0, err
	}
	depth := int64(4) // what a JPEG or GIF cover is veiled as: 8-bit RGBA at most
	if format == "png" {
		depth = pngBytesPerPixel(cover)
	}
	return max(hide, c), px * revealPerPixel(depth), nil
}

// revealPerPixel is a reveal's memory per pixel of a veiled PNG of depth
// bytes a pixel.
func revealPerPixel(depth int64) int64 { return 2*depth + 3 }

// RevealCost returns the bytes of memory a Reveal of veiled is budgeted
// at, from its header.
func RevealCost(veiled []byte, opts Options) (int64, error) {
	cfg, format, err := decodeConfig(veiled, opts.withDefaults().MaxPixels)
	if err != nil {
		return 0, fmt.Errorf("the image: %w", err)
	}
	depth := int64(4)
	if format == "png" {
		depth = pngBytesPerPixel(veiled)
	}
	return int64(cfg.Width) * int64(cfg.Height) * revealPerPixel(depth), nil
}

// decodeCost is the memory decoding data takes, from its header: as a
// secret, only decoded to be checked whole, or as a cover, decoded and
// worked on. what names the image in an error.
func decodeCost(data []byte, maxPixels int, what string, secret bool) (int64, error) {
	cfg, format, err := decodeConfig(data, maxPixels)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	px := int64(cfg.Width) * int64(cfg.Height)
	switch {
	case format == "png" && secret:
		return px * (pngBytesPerPixel(data) + 1), nil
	case format == "png":
		return px * (pngBytesPerPixel(data) + costCoverExtra), nil
	case format == "jpeg" && progressiveJPEG(data):
		return px * costJPEGProgessive, nil
	case format == "jpeg" && secret:
		return px * costJPEGSecret, nil
	case format == "jpeg":
		return px * costJPEG, nil
	case format == "gif" && secret:
		return px * 2, nil
	case format == "gif":
		return px * costGIF, nil
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
