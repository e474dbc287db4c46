// This file writes and reads format version 2: the envelope's stream in the
// ranked carriers of order.go, with the codes of matrix.go.

package stego

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
)

// The stream's header (salt and sealed length, headerSize bytes) goes first,
// into the most textured elements, with the 7-element code: the reader
// finds it without knowing anything of the body. The body follows with the
// largest code that the length it reads from the header allows (see
// bodyRoom), which is how the writer chose it too.

// bodyRoom is the number of elements the body of nbits may use after the
// header, and its code: the carriers that are not flat when the body fits
// them, all carriers otherwise. The largest code that fits spreads the body
// over most of the room it is given, so keeping flat carriers out of the
// room is what keeps changes off flat areas; it costs more changes per bit
// only in pictures that are largely flat. code is 0 when nothing fits.
func bodyRoom(order carrierOrder, textured, nbits int) (room, code int) {
	room = 3*textured - headerElements
	if room > 0 {
		if code = bodyCode(nbits, room); code > 0 {
			return room, code
		}
	}
	room = 3*len(order) - headerElements
	if room <= 0 {
		return 0, 0
	}
	return room, bodyCode(nbits, room)
}

// capacityFor is the secret bytes a w×h image holds in version 2: one bit
// per carrier element after the header (the code k = 1), less the body's tag
// and the largest metadata.
func capacityFor(w, h int) int {
	room := 3*carriersOf(w, h) - headerElements
	return max(0, room/8-tagSize-maxMetaSize)
}

// The body is embedded and extracted in ranges of rangeGroups groups, on
// different cores: a multiple of 8, so that every range starts on a byte
// of the stream. The directions of the changes in each range come from a
// generator of its own, seeded from the one seed Hide draws and the range's
// index, so the picture is the same whatever the parallelism.
const rangeGroups = 1 << 13

// coins is the generator of the directions of changes of range i of the
// body; the header's is i = -1, the seed itself.
func coins(seed [32]byte, i int) *rand.Rand {
	binary.LittleEndian.PutUint64(seed[24:], binary.LittleEndian.Uint64(seed[24:])^uint64(i+1))
	return rand.New(rand.NewChaCha8(seed))
}

// bodyRanges calls fn for each range of a body of n bytes at code k, on up
// to par goroutines, with the range's bytes and its first element counted
// from the body's first.
func bodyRanges(n, k, par int, fn func(r, from, to, first int)) {
	groups := (8*n + k - 1) / k
	bytesPer := rangeGroups * k / 8
	forEach((groups+rangeGroups-1)/rangeGroups, par, func(_, r int) {
		fn(r, r*bytesPer, min(n, (r+1)*bytesPer), r*rangeGroups*groupLen(k))
	})
}

// embed2 writes a sealed version 2 stream (header, then body) into c, on
// up to par goroutines. seed decides the direction of each change.
func embed2(c *canvas, k Key, stream []byte, seed [32]byte, par int) error {
	order, textured := newCarrierOrder(c, k, par)
	el := newElements(c, order)
	body := stream[headerSize:]
	room, code := bodyRoom(order, textured, 8*len(body))
	if code == 0 {
		return fmt.Errorf("%w: a %dx%d cover holds %s bytes of stream; this one is %s",
			ErrPayloadTooLarge, c.w, c.h, commas(room/8), commas(len(body)))
	}
	next, _ := el.embedBits(stream[:headerSize], 0, headerK, coins(seed, -1))
	bodyRanges(len(body), code, par, func(r, from, to, first int) {
		el.embedBits(body[from:to], next+first, code, coins(seed, r))
	})
	return nil
}

// reveal2 finds and opens a version 2 stream in c, on up to par
// goroutines.
func reveal2(c *canvas, k Key, par int) ([]byte, Meta, error) {
	order, textured := newCarrierOrder(c, k, par)
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
	_, code := bodyRoom(order, textured, 8*len(sealed))
	bodyRanges(len(sealed), code, par, func(_, from, to, first int) {
		el.extractBits(sealed[from:to], next+first, code)
	})
	pt, err := openBody(k, version2, aead, sealed)
	if err != nil {
		return nil, Meta{}, err
	}
	return decodeBody(pt)
}
