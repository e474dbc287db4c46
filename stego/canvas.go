// This file turns decoded images into canvases: packed pixel buffers in one
// of the formats of carrier.go, sharing the decoder's memory where the layout
// already fits.

package stego

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	_ "image/gif" // covers and secrets may be GIF
	_ "image/jpeg"
	_ "image/png"
)

// A canvas is a packed pixel buffer: row after row, no padding.
type canvas struct {
	pix  []byte
	w, h int
	f    *pixelFormat
}

func (c *canvas) blocks() int { return c.w * c.h / blockPixels }

// capacityV1 is the secret bytes a w×h image holds in version 1: its whole
// blocks, less the envelope and the largest metadata.
func capacityV1(w, h int) int {
	return max(0, usableBlocks(w*h/blockPixels)*blockBytes-overhead-maxMetaSize)
}

// decodeConfig sizes an image from its header and applies the pixel limit.
func decodeConfig(data []byte, maxPixels int) (image.Config, string, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return cfg, "", fmt.Errorf("%w: %v (want PNG, JPEG or GIF)", ErrUnsupportedImage, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return cfg, "", fmt.Errorf("%w: %s of %dx%d pixels", ErrUnsupportedImage, format, cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > int64(maxPixels) {
		return cfg, "", fmt.Errorf("%w: %dx%d is %s pixels, the limit is %s",
			ErrImageTooLarge, cfg.Width, cfg.Height, commas(cfg.Width*cfg.Height), commas(maxPixels))
	}
	return cfg, format, nil
}

// decodeCanvas decodes an image whose config passed decodeConfig with
// maxPixels: PNGs that readPNG takes with it, on up to par goroutines, the
// others with image.Decode.
func decodeCanvas(data []byte, maxPixels, par int) (canvas, error) {
	if c, err := readPNG(data, maxPixels, par); err != errNotMine {
		return c, err
	}
	img, format, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return canvas{}, fmt.Errorf("%w: damaged or truncated image: %v", ErrUnsupportedImage, err)
	}
	c := toCanvas(img)
	if c.w*c.h == 0 {
		return canvas{}, fmt.Errorf("%w: empty %s image", ErrUnsupportedImage, format)
	}
	return c, nil
}

// toCanvas converts any image. Colours are never premultiplied on the way:
// translucent and transparent pixels keep their colour bits.
func toCanvas(img image.Image) canvas {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	switch m := img.(type) {
	case *image.RGBA:
		if m.Opaque() {
			return share(m.Pix, m.Stride, w, h, fmtRGBX8)
		}
	case *image.NRGBA:
		return share(m.Pix, m.Stride, w, h, fmtRGBA8)
	case *image.RGBA64:
		if m.Opaque() {
			return share(m.Pix, m.Stride, w, h, fmtRGBX16)
		}
	case *image.NRGBA64:
		return share(m.Pix, m.Stride, w, h, fmtRGBA16)
	case *image.Gray:
		c := newCanvas(w, h, fmtRGB8)
		for y := 0; y < h; y++ {
			dst := c.pix[y*w*3 : (y+1)*w*3]
			for x, v := range m.Pix[y*m.Stride : y*m.Stride+w] {
				dst[3*x], dst[3*x+1], dst[3*x+2] = v, v, v
			}
		}
		return c
	case *image.Gray16:
		c := newCanvas(w, h, fmtRGB16)
		for y := 0; y < h; y++ {
			src, dst := m.Pix[y*m.Stride:y*m.Stride+2*w], c.pix[y*w*6:(y+1)*w*6]
			for x := 0; x < w; x++ {
				hi, lo := src[2*x], src[2*x+1]
				dst[6*x], dst[6*x+1], dst[6*x+2], dst[6*x+3], dst[6*x+4], dst[6*x+5] = hi, lo, hi, lo, hi, lo
			}
		}
		return c
	case *image.Paletted:
		return paletted(m, w, h)
	case *image.YCbCr:
		c := newCanvas(w, h, fmtRGB8)
		for y := 0; y < h; y++ {
			dst := c.pix[y*w*3:]
			for x := 0; x < w; x++ {
				yi, ci := m.YOffset(b.Min.X+x, b.Min.Y+y), m.COffset(b.Min.X+x, b.Min.Y+y)
				dst[3*x], dst[3*x+1], dst[3*x+2] = color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
			}
		}
		return c
	case *image.CMYK:
		c := newCanvas(w, h, fmtRGB8)
		for y := 0; y < h; y++ {
			src, dst := m.Pix[y*m.Stride:], c.pix[y*w*3:]
			for x := 0; x < w; x++ {
				dst[3*x], dst[3*x+1], dst[3*x+2] = color.CMYKToRGB(src[4*x], src[4*x+1], src[4*x+2], src[4*x+3])
			}
		}
		return c
	}
	// Anything else, including premultiplied images with translucent pixels
	// (no decoder of this package returns those), goes through 16-bit
	// non-premultiplied colour, which loses nothing an 8-bit source has.
	c := newCanvas(w, h, fmtRGBA16)
	for y := 0; y < h; y++ {
		dst := c.pix[y*w*8:]
		for x := 0; x < w; x++ {
			p := color.NRGBA64Model.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA64)
			put16(dst[8*x:], p.R, p.G, p.B, p.A)
		}
	}
	return c
}

func put16(d []byte, r, g, b, a uint16) {
	d[0], d[1], d[2], d[3] = byte(r>>8), byte(r), byte(g>>8), byte(g)
	d[4], d[5], d[6], d[7] = byte(b>>8), byte(b), byte(a>>8), byte(a)
}

func newCanvas(w, h int, f *pixelFormat) canvas {
	return canvas{pix: make([]byte, w*h*f.bpp), w: w, h: h, f: f}
}

// share uses a decoder's buffer as it is when it has no row padding.
func share(pix []byte, stride, w, h int, f *pixelFormat) canvas {
	rb := w * f.bpp
	if stride == rb {
		return canvas{pix: pix[:rb*h], w: w, h: h, f: f}
	}
	c := newCanvas(w, h, f)
	for y := 0; y < h; y++ {
		copy(c.pix[y*rb:(y+1)*rb], pix[y*stride:])
	}
	return c
}

func paletted(m *image.Paletted, w, h int) canvas {
	f := fmtRGB8
	pal := make([][4]byte, 256)
	for i, c := range m.Palette {
		p := color.NRGBAModel.Convert(c).(color.NRGBA)
		pal[i] = [4]byte{p.R, p.G, p.B, p.A}
		if p.A != 0xff {
			f = fmtRGBA8
		}
	}
	c := newCanvas(w, h, f)
	for y := 0; y < h; y++ {
		dst := c.pix[y*w*f.bpp:]
		for x, i := range m.Pix[y*m.Stride : y*m.Stride+w] {
			copy(dst[x*f.bpp:x*f.bpp+f.bpp], pal[i][:])
		}
	}
	return c
}
