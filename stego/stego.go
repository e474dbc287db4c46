package stego

import (
	"bytes"
	crand "crypto/rand"
	"errors"
	"fmt"
	"image"
	"io"
	"time"
)

// DefaultMaxPixels is the default Options.MaxPixels: 50 megapixels.
const DefaultMaxPixels = 50_000_000

// Options tunes Hide, Reveal and Capacity. The zero value means defaults.
type Options struct {
	// MaxPixels refuses images with more pixels, judged from their header
	// before any pixel is decoded (decompression bombs). 0 means
	// DefaultMaxPixels.
	MaxPixels int

	// Rand is the source of salts, image ids and cover seeds; nil means
	// crypto/rand.Reader.
	Rand io.Reader

	// Now gives the creation time of a Meta that has none; nil means
	// time.Now.
	Now func() time.Time

	// Level is the stealth level; 0 means DefaultLevel.
	Level Level

	// CoverSeed, when not 0, is the seed of the cover Hide makes when given
	// none; the same seed gives the same cover. 0 draws a seed from Rand.
	CoverSeed uint64

	// Parallelism is how many goroutines one Hide or Reveal may keep busy;
	// 0 (or less) means runtime.GOMAXPROCS(0), 1 runs it all on the
	// caller's goroutine. A node that runs several jobs at once limits it.
	// The bytes Hide writes do not depend on it.
	Parallelism int
}

func (o Options) withDefaults() Options {
	if o.MaxPixels <= 0 {
		o.MaxPixels = DefaultMaxPixels
	}
	if o.Rand == nil {
		o.Rand = crand.Reader
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// CapacityOf is how many bytes of secret a width×height cover holds.
func CapacityOf(width, height int) int {
	if width <= 0 || height <= 0 {
		return 0
	}
	return capacityFor(width, height)
}

// Capacity is how many bytes of secret the encoded cover image holds at
// opts.Level. Only the image header is read.
func Capacity(cover []byte, opts Options) (int, error) {
	opts = opts.withDefaults()
	level, err := opts.Level.resolve()
	if err != nil {
		return 0, err
	}
	cfg, _, err := decodeConfig(cover, opts.MaxPixels)
	if err != nil {
		return 0, err
	}
	return level.capacity(cfg.Width, cfg.Height), nil
}

// Hide seals secret and meta with key and hides them in cover, returning the
// veiled image as PNG and the metadata as stored (with its id and creation
// time filled in when they were zero).
//
// The secret must be a PNG, JPEG or GIF file; it is kept byte for byte.
// Options.Level decides the format and, without a cover, the cover's size:
// a nil cover means one is generated, as small as the level allows (see
// Level). At Balanced and Stealthy, red, green and blue samples of half the
// pixels move by one at most, and few of them (format version 2, see the
// package doc); at Compact the two low bits of every sample are replaced
// (format version 3). Alpha never changes.
func Hide(secret []byte, meta Meta, cover []byte, key Key, opts Options) ([]byte, Meta, error) {
	opts = opts.withDefaults()
	level, err := opts.Level.resolve()
	if err != nil {
		return nil, Meta{}, err
	}
	if !key.Valid() {
		return nil, Meta{}, fmt.Errorf("%w: zero key", ErrInvalidKey)
	}
	if err := checkSecret(secret, opts.MaxPixels); err != nil {
		return nil, Meta{}, err
	}
	if err := meta.Validate(); err != nil {
		return nil, Meta{}, err
	}
	if meta.ID.IsZero() {
		if _, err := io.ReadFull(opts.Rand, meta.ID[:]); err != nil {
			return nil, Meta{}, fmt.Errorf("stego: drawing an image id: %w", err)
		}
	}
	if meta.Created.IsZero() {
		meta.Created = opts.Now()
	}
	// What is stored is nanoseconds in UTC; return exactly that.
	meta.Created = time.Unix(0, meta.Created.UnixNano()).UTC()

	var c canvas
	if cover == nil {
		if c, err = generatedCover(len(secret), level, opts); err != nil {
			return nil, Meta{}, err
		}
	} else {
		cfg, _, err := decodeConfig(cover, opts.MaxPixels)
		if err != nil {
			return nil, Meta{}, err
		}
		if room := level.capacity(cfg.Width, cfg.Height); len(secret) > room {
			return nil, Meta{}, fmt.Errorf("%w: cover %dx%d holds %s bytes at the %s level; secret is %s",
				ErrPayloadTooLarge, cfg.Width, cfg.Height, commas(room), level, commas(len(secret)))
		}
		if c, err = decodeCanvas(cover, opts.MaxPixels, opts.parallelism()); err != nil {
			return nil, Meta{}, err
		}
	}

	body := appendMeta(make([]byte, 0, maxMetaSize), meta)
	size := len(body) + len(secret)
	n := overhead + size
	if level == Compact {
		n = denseStreamLen(size)
	}
	stream := make([]byte, n)
	// A random salt in front, and random padding after: every bit of the
	// stream is indistinguishable from noise.
	if _, err := io.ReadFull(opts.Rand, stream[:saltSize]); err != nil {
		return nil, Meta{}, fmt.Errorf("stego: drawing a salt: %w", err)
	}
	if _, err := io.ReadFull(opts.Rand, stream[overhead+size:]); err != nil {
		return nil, Meta{}, fmt.Errorf("stego: drawing padding: %w", err)
	}
	var seed [32]byte
	if _, err := io.ReadFull(opts.Rand, seed[:]); err != nil {
		return nil, Meta{}, fmt.Errorf("stego: drawing the directions of changes: %w", err)
	}
	copy(stream[headerSize+copy(stream[headerSize:], body):], secret)
	if level == Compact {
		seal(key, version3, stream, size)
		err = embed3(&c, key, stream)
	} else {
		seal(key, version2, stream, size)
		err = embed2(&c, key, stream, seed, opts.parallelism())
	}
	if err != nil {
		return nil, Meta{}, err
	}
	return encodePNG(&c, opts.parallelism()), meta, nil
}

// generatedCover paints the cover for a secret of n bytes at the level.
func generatedCover(n int, level Level, opts Options) (canvas, error) {
	seed := opts.CoverSeed
	if seed == 0 {
		var b [8]byte
		if _, err := io.ReadFull(opts.Rand, b[:]); err != nil {
			return canvas{}, fmt.Errorf("stego: drawing a cover seed: %w", err)
		}
		for _, v := range b {
			seed = seed<<8 | uint64(v)
		}
	}
	w, h := level.generatedSize(n)
	if int64(w)*int64(h) > int64(opts.MaxPixels) {
		return canvas{}, fmt.Errorf("%w: at the %s level a secret of %s bytes needs a %dx%d cover, over the limit of %s pixels; the largest secret is %s bytes at this level%s",
			ErrPayloadTooLarge, level, commas(n), w, h, commas(opts.MaxPixels), commas(MaxSecret(level, opts)), cheaper(level))
	}
	// The dense format replaces the low bits: the sensor's noise there
	// would only cost bytes.
	return generate(w, h, seed, fmtRGB8, level != Compact, opts.parallelism()), nil
}

// cheaper names the levels that take larger secrets, for an error message.
func cheaper(l Level) string {
	switch l {
	case Stealthy:
		return " (balanced and compact take more)"
	case Balanced:
		return " (compact takes more)"
	}
	return ""
}

// capacity is how many bytes of secret a w×h cover of the caller's holds
// at this level.
func (l Level) capacity(w, h int) int {
	if l == Compact {
		return denseCapacity(w, h)
	}
	return capacityFor(w, h)
}

// Reveal finds, checks and opens what Hide put in the veiled image and
// returns the secret, byte for byte, and its metadata. It fails with
// ErrNoPayload when nothing was hidden with this key and ErrTampered when
// something was but has changed since. Any image format is read, though only
// a lossless one can keep a payload. Images veiled by every format version
// open.
func Reveal(veiled []byte, key Key, opts Options) ([]byte, Meta, error) {
	opts = opts.withDefaults()
	if !key.Valid() {
		return nil, Meta{}, fmt.Errorf("%w: zero key", ErrInvalidKey)
	}
	if _, _, err := decodeConfig(veiled, opts.MaxPixels); err != nil {
		return nil, Meta{}, err
	}
	c, err := decodeCanvas(veiled, opts.MaxPixels, opts.parallelism())
	if err != nil {
		return nil, Meta{}, err
	}
	return revealCanvas(&c, key, opts.parallelism())
}

// revealCanvas tries versions 1 and 3 first: their headers are a few blocks
// away, where version 2 must rank the whole picture before it reads
// anything. A header opens only under its own version (the version is
// authenticated), so at most one of them finds a payload. Version 2 works
// on up to par goroutines.
func revealCanvas(c *canvas, key Key, par int) ([]byte, Meta, error) {
	for _, reveal := range []func(*canvas, Key) ([]byte, Meta, error){reveal1, reveal3} {
		secret, meta, err := reveal(c, key)
		if !errors.Is(err, ErrNoPayload) {
			return secret, meta, err
		}
	}
	return reveal2(c, key, par)
}

// reveal1 finds and opens a version 1 stream.
func reveal1(c *canvas, key Key) ([]byte, Meta, error) {
	return revealBlocks(c, key, version1, blockBytes, extract)
}

// revealBlocks finds and opens a stream of a format that lays whole blocks
// of blockBytes along the keyed walk (versions 1 and 3): the header in the
// first blocks, then the body; extract reads stream blocks [from, to).
func revealBlocks(c *canvas, key Key, ver byte, blockBytes int, extract func(c *canvas, w *walk, dst []byte, from, to int)) ([]byte, Meta, error) {
	headerBlocks := (headerSize + blockBytes - 1) / blockBytes
	blocks := usableBlocks(c.blocks())
	if blocks < headerBlocks+1 {
		return nil, Meta{}, ErrNoPayload
	}
	w := newWalk(key, c.blocks())
	hdr := make([]byte, headerBlocks*blockBytes)
	extract(c, w, hdr, 0, headerBlocks)
	aead, n, err := openHeader(key, ver, hdr, blocks*blockBytes)
	if err != nil {
		return nil, Meta{}, err
	}
	// n was checked against the image's capacity, so this allocation is
	// bounded by the pixels already decoded.
	total := (overhead + n + blockBytes - 1) / blockBytes * blockBytes
	stream := make([]byte, total)
	copy(stream, hdr)
	extract(c, w, stream[len(hdr):], headerBlocks, total/blockBytes)
	pt, err := openBody(key, ver, aead, stream[headerSize:headerSize+n+tagSize])
	if err != nil {
		return nil, Meta{}, err
	}
	return decodeBody(pt)
}

// checkSecret accepts PNG, JPEG and GIF files of at most maxPixels, as
// covers are, and only whole ones: the secret is decoded once, so that one
// cut short or damaged is refused here rather than veiled and given back
// to its viewers as it is.
func checkSecret(b []byte, maxPixels int) error {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("%w: the secret must be a PNG, JPEG or GIF file", ErrUnsupportedImage)
	}
	switch format {
	case "png", "jpeg", "gif":
	default:
		return fmt.Errorf("%w: the secret is %s; it must be a PNG, JPEG or GIF file", ErrUnsupportedImage, format)
	}
	if int64(cfg.Width)*int64(cfg.Height) > int64(maxPixels) {
		return fmt.Errorf("%w: the secret is %dx%d, %s pixels; the limit is %s",
			ErrImageTooLarge, cfg.Width, cfg.Height, commas(cfg.Width*cfg.Height), commas(maxPixels))
	}
	if _, _, err := image.Decode(bytes.NewReader(b)); err != nil {
		return fmt.Errorf("%w: the secret is a damaged or truncated %s file: %v", ErrUnsupportedImage, format, err)
	}
	return nil
}
