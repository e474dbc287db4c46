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
// under a key derived for this image alone by HKDF-SHA256 from the master key
// and the salt; the format version and the master key's id are
// authenticated. Nothing embedded is plaintext: there is no magic number and
// no readable header, so an image with nothing hidden and an image veiled
// with another key look the same (ErrNoPayload), and a flipped bit in the
// embedded stream is either ErrNoPayload (it hit the salt or the header) or
// ErrTampered (it hit the body), never a wrong secret.
//
// The stream goes into the low bit of red, green and blue of each pixel,
// never alpha. Pixels are taken 16 at a time (a block: 48 carrier bits, 6
// bytes of stream, a few machine words that are written and read whole).
// The stream is cut into runs of consecutive blocks, and the runs are laid
// over the picture in an order shuffled by a generator keyed with the master
// key (about 4096 runs per picture, fewer and of one block in small ones):
// the payload is spread evenly over the whole image, whoever lacks the key
// does not know where it is, and embedding still streams through memory.
// Translucent pixels keep their colour: images are never converted through
// premultiplied alpha.
//
// # Capacity
//
// A w×h cover holds CapacityOf(w, h) bytes of secret: 6 bytes per 16
// pixels (in whole runs), less the envelope (52 bytes) and room for the
// largest metadata the limits allow (2,362 bytes: MaxViewers names of
// MaxNameLen bytes), so that what fits does not depend on the viewers. A
// cover smaller than about 80x80 pixels holds nothing. It is computed from the image header before
// any pixel is decoded, and so is the pixel limit (Options.MaxPixels) that
// stops decompression bombs.
//
// # Covers and output
//
// Any PNG, JPEG or GIF cover is accepted: grey at 1 to 16 bits, paletted
// with or without transparency, RGB and RGBA at 8 and 16 bits, interlaced or
// not, of any size. The output is always a PNG, truecolour, at the cover's
// depth (16 bits stay 16 bits), with alpha if the cover has it. Without a
// cover, Hide generates one (GenerateCover) large enough that the payload
// fills at most half of it: a chi-square attack cannot tell such an image
// from a clean one.
//
// The PNG writer is this package's own: image/png at its default level is
// several times slower than the whole rest of Hide.
package stego
