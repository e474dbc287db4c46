// Package stego hides a secret image, sealed with its metadata, in the least
// significant bits of a cover image, and gets it back byte for byte.
//
// It knows pixels and bytes only: no network, no cluster. Randomness and
// time come in through Options.
//
// # API
//
//	NewKey(r io.Reader) (Key, error)             a new random master key
//	ParseKey([]byte) (Key, error)                 a key from its text form
//	LoadKey(path string) (Key, error)             a key from a file
//	(Key) ID() string                             public id of a key
//	(Key) Valid() bool                            false for the zero Key
//	(Key) MarshalText() ([]byte, error)           the key file format
//	Hide(secret []byte, meta Meta, cover []byte, key Key, opts Options) ([]byte, Meta, error)
//	Reveal(veiled []byte, key Key, opts Options) (secret []byte, meta Meta, err error)
//	Capacity(cover []byte, opts Options) (int, error)
//	CapacityOf(width, height int) int
//	GenerateCover(width, height int, seed uint64) *image.RGBA
//	(Meta) Validate() error                       names, views, limits
//	(ImageID) String() string                     32 hex digits (also its JSON form)
//
// Errors a caller can act on are ErrPayloadTooLarge, ErrImageTooLarge,
// ErrUnsupportedImage, ErrNoPayload, ErrTampered, ErrInvalidKey and
// ErrInvalidMeta; they come wrapped with details and are tested with
// errors.Is.
//
// # What is hidden and where
//
// The secret is a PNG, JPEG or GIF file, kept as its bytes. With it go its
// Meta: a random 128-bit id, the owner, the viewers with the views each is
// given, and the creation time. Both are sealed into an envelope:
//
//	salt (16 random bytes) ‖ AES-256-GCM(body length) ‖ AES-256-GCM(meta ‖ secret)
//
// under a key derived for this image alone by HKDF-SHA256 from the master key,
// the salt and the format version; the format version and the master key's
// id are authenticated. Nothing embedded is plaintext: there is no magic number and
// no readable header, so an image with nothing hidden and an image veiled
// with another key look the same (ErrNoPayload), and a flipped bit in the
// embedded stream is either ErrNoPayload (it hit the salt or the header) or
// ErrTampered (it hit the body), never a wrong secret.
//
// # Where it goes (format version 2)
//
// Half the pixels, one colour of a checkerboard picked by the key, are
// carriers; their red, green and blue samples (never alpha) are the
// elements that hold the stream. The other half never changes, so the
// texture of each carrier, measured on its four neighbours, reads the same
// before and after hiding: carriers are used from the most textured to the
// flattest (a change is hardest to see where the picture is busy), and
// within a texture level in an order shuffled by a generator keyed with the
// master key, over runs of a few hundred pixels.
//
// Bits go in by matrix embedding with binary Hamming codes: a group of
// 2^k-1 elements carries k bits, as its syndrome, at the cost of at most
// one change. The 36-byte header (salt and sealed length) uses k = 3 in the
// most textured elements; the body uses the largest k, up to 10, that the
// picture has room for, which the reader derives from the length. An
// element that must change moves by +1 or -1 at random (LSB matching),
// never has its low bit set (LSB replacement): the structural attacks on
// replacement (sample pair analysis, RS analysis, weighted stego) see
// nothing to measure. Reading needs only the low bits and the order, so it
// is exact, and as fast as ranking the carriers.
//
// Images veiled by format version 1 (LSB replacement in every pixel, runs of
// 16-pixel blocks in a keyed order) still open: Reveal tries version 1,
// whose header is cheap to find, then version 2. The version is
// authenticated data of the envelope, so a header opens under its own
// version only.
//
// # Capacity
//
// A w×h cover holds CapacityOf(w, h) bytes of secret: one bit per carrier
// element (k = 1, which changes half of them: detectable), less the
// header, the body's tag and room for the largest metadata the limits allow
// (2,362 bytes: MaxViewers names of MaxNameLen bytes), so that what fits
// does not depend on the viewers. A 1920x1080 cover holds 386,338 bytes; a
// cover smaller than about 115x115 pixels holds nothing. It is computed from
// the image header before any pixel is decoded, and so is the pixel limit
// (Options.MaxPixels) that stops decompression bombs. The fewer of those
// bytes a secret uses, the larger k and the fewer samples change: at a
// quarter of capacity (k = 4) one sample in about 35 moves by one.
//
// # Covers and output
//
// Any PNG, JPEG or GIF cover is accepted: grey at 1 to 16 bits, paletted
// with or without transparency, RGB and RGBA at 8 and 16 bits, interlaced or
// not, of any size. The output is always a PNG, truecolour, at the cover's
// depth (16 bits stay 16 bits), with alpha if the cover has it. Without a
// cover, Hide generates one (GenerateCover) large enough that the payload
// fills at most a quarter of it, the default fill (half, if a quarter would
// take more than Options.MaxPixels): a picture painted as a
// camera records a scene, with texture at every scale and sensor noise at
// 12 bits before the sRGB curve, so that its low bits are as noisy as a
// photograph's. At that fill none of the detectors of the tests (sample pair
// analysis, RS analysis, weighted stego, Ker's calibrated adjacency HCF for
// LSB matching, the chi-square attack) tells veiled pictures from clean
// ones, on photographs or on generated covers.
//
// What the format does not hide: a grey or paletted cover comes out as a
// truecolour PNG whose carriers moved by one in single channels, so a grey
// picture gains a few pixels that are not grey and a paletted one colours
// off its palette; anyone who knows the cover was grey or paletted sees
// that. Photographs in colour, and generated covers, have no such tell.
//
// # PNG files
//
// The PNG writer and reader are this package's own; image/png was most of
// the time of a hide or a reveal. The writer judges the four filters of a
// row in one pass over an eighth of it, and deflates with
// klauspost/compress at a level chosen from a sample of the picture. The
// reader takes any non-interlaced truecolour or grey PNG at 8 or 16 bits:
// it inflates with klauspost/compress and unfilters each row straight
// into the pixel buffer, at 3 bytes a pixel for RGB where image/png makes
// 4. It checks every chunk's CRC and the zlib stream's Adler-32, takes
// only the rows the header announces, and refuses a damaged file as
// ErrUnsupportedImage; anything else (interlaced, paletted, under 8 bits,
// a tRNS or PLTE chunk) is read by image.Decode, as are JPEG and GIF.
//
// # Cores
//
// Hide and Reveal spread their work over Options.Parallelism goroutines
// (all of GOMAXPROCS by default): the cover is painted in bands of rows,
// carriers are ranked in bands of rows and dealt in shares of the keyed
// runs, the body goes in and out in ranges of Hamming groups, and the PNG
// is deflated in bands of about a megabyte, each band ending with a sync
// flush, as pigz does; the reader inflates those bands on every core too.
// Nothing depends on how the work is shared: each band of the cover and
// each range of the body draws its random numbers from a generator of its
// own, seeded from the one seed and its index, so the same Options.Rand
// and CoverSeed give the same file whatever the parallelism.
package stego
