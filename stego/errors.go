package stego

import (
	"errors"
	"strconv"
)

// Errors a caller can act on. Functions of this package wrap them with
// details (sizes, names); test for them with errors.Is.
var (
	// ErrPayloadTooLarge: the secret does not fit the cover. Use a larger
	// cover, a smaller secret, or no cover (one of the right size is made).
	ErrPayloadTooLarge = errors.New("stego: payload too large for the cover")

	// ErrImageTooLarge: the image has more pixels than Options.MaxPixels
	// allows; it was refused before any pixel was decoded.
	ErrImageTooLarge = errors.New("stego: image too large")

	// ErrUnsupportedImage: the bytes are not a PNG, JPEG or GIF image this
	// package can decode, or the image is damaged or truncated.
	ErrUnsupportedImage = errors.New("stego: unsupported image")

	// ErrNoPayload: the image holds nothing sealed with this key. Either it
	// carries no payload or it was veiled with another key.
	ErrNoPayload = errors.New("stego: no payload for this key (not veiled, or veiled with another key)")

	// ErrTampered: a payload sealed with this key is there but it has been
	// changed since; nothing of it is returned.
	ErrTampered = errors.New("stego: payload tampered with")

	// ErrInvalidKey: the master key is malformed.
	ErrInvalidKey = errors.New("stego: invalid key")

	// ErrInvalidMeta: the metadata breaks a rule of Meta.Validate.
	ErrInvalidMeta = errors.New("stego: invalid metadata")

	// ErrInvalidLevel: the stealth level is none of Levels.
	ErrInvalidLevel = errors.New("stego: invalid stealth level")
)

// commas formats n with thousands separators, as error messages show sizes.
func commas(n int) string {
	s := strconv.Itoa(n)
	neg := ""
	if n < 0 {
		neg, s = "-", s[1:]
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return neg + s
}
