// This file writes and reads format version 2: the envelope's stream in the
// ranked carriers of order.go, with the codes of matrix.go.

package stego

import (
	"fmt"
	"math/rand/v2"
)

// The stream's header (salt and sealed length, headerSize bytes) goes first,
// into the most textured elements, with the 7-element code: the reader
// finds it without knowing anything of the body. The body follows with the
// largest code that the length it reads from the header allows, which is
// how the writer chose it too.

// capacityFor is the secret bytes a w×h image holds in version 2: one bit
// per carrier element after the header (the code k = 1), less the body's tag
// and the largest metadata.
func capacityFor(w, h int) int {
	room := 3*carriersOf(w, h) - headerElements
	return max(0, room/8-tagSize-maxMetaSize)
}

// embed2 writes a sealed version 2 stream (header, then body) into c.
// coins decides the direction of each change.
func embed2(c *canvas, k Key, stream []byte, coins *rand.Rand) error {
	order := newCarrierOrder(c, k)
	el := newElements(c, order)
	room := 3*len(order) - headerElements
	body := stream[headerSize:]
	code := bodyCode(8*len(body), room)
	if room < 0 || code == 0 {
		return fmt.Errorf("%w: a %dx%d cover holds %s bytes of stream; this one is %s",
			ErrPayloadTooLarge, c.w, c.h, commas(max(0, room/8)), commas(len(body)))
	}
	next, _ := el.embedBits(stream[:headerSize], 0, headerK, coins)
	el.embedBits(body, next, code, coins)
	return nil
}

// reveal2 finds and opens a version 2 stream in c.
func reveal2(c *canvas, k Key) ([]byte, Meta, error) {
	order := newCarrierOrder(c, k)
	room := 3*len(order) - headerElements
	if room < 8*overhead {
		return nil, Meta{}, ErrNoPayload
	}
	el := newElements(c, order)
	var hdr [headerSize]byte
	next := el.extractBits(hdr[:], 0, headerK)
	aead, n, err := openHeader(k, version2, hdr[:], headerSize+room/8)
	if err != nil {
		return nil, Meta{}, err
	}
	// n was checked against the room, so this allocation is bounded by the
	// pixels already decoded.
	sealed := make([]byte, n+tagSize)
	el.extractBits(sealed, next, bodyCode(8*len(sealed), room))
	pt, err := openBody(k, version2, aead, sealed)
	if err != nil {
		return nil, Meta{}, err
	}
	return decodeBody(pt)
}
