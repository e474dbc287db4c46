// This file holds the sealed envelope: the byte stream that is spread over
// the carrier bits. It is the same in both format versions:
//
//	salt    16 random bytes
//	header  AES-256-GCM(length of body, 4 bytes) + 16-byte tag     = 20 bytes
//	body    AES-256-GCM(metadata ‖ secret)       + 16-byte tag
//
// Both seals use a key derived by HKDF-SHA256 from the master key and the
// salt and the format version, so every image has its own key and fixed
// nonces (0 for the header, 1 for the body) are never reused under one key.
// The version and the master key's id are authenticated data: an envelope of
// another version or key fails to open as if it were noise. Nothing in the
// stream is plaintext; the salt is random and everything else is
// ciphertext. Version 1 pads the stream with random bytes to whole blocks;
// version 2 writes no padding; version 3 pads as version 1, to its own
// blocks.

package stego

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
)

// The format versions. Version 1 is LSB replacement over keyed runs of
// blocks (layout.go, carrier.go); version 2 is matrix embedding with LSB
// matching over ranked carriers (order.go, matrix.go). Hide writes version
// 2; Reveal reads both.
const (
	version1 = 1
	version2 = 2
	version3 = 3 // the dense format of the Compact level (format3.go)
)

const (
	saltSize   = 16
	tagSize    = 16
	headerSize = saltSize + 4 + tagSize // bytes before the sealed body
	overhead   = headerSize + tagSize   // stream bytes that are not the body
)

// additionalData binds an envelope to the format version and the key id.
func additionalData(k Key, ver byte) []byte {
	ad := make([]byte, 0, 11+8)
	ad = append(ad, "veil/stego"...)
	ad = append(ad, ver)
	return append(ad, k.id[:]...)
}

func imageAEAD(k Key, salt []byte, ver byte) cipher.AEAD {
	label := "veil/stego v1 seal"
	switch ver {
	case version2:
		label = "veil/stego v2 seal"
	case version3:
		label = "veil/stego v3 seal"
	}
	block, err := aes.NewCipher(derive(k.master[:], salt, label, 32))
	if err != nil {
		panic(err) // a 32-byte key is always accepted
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return aead
}

func nonce(n byte) []byte {
	b := make([]byte, 12)
	b[11] = n
	return b
}

// streamLen is the length of the stream for a body of n bytes, rounded up to
// whole blocks.
func streamLen(body int) int {
	n := overhead + body
	return (n + blockBytes - 1) / blockBytes * blockBytes
}

// seal finishes a stream of format version ver in place. buf holds a random
// salt, room for the header, the n-byte body, room for its tag and, in
// version 1, random padding; the header and the body are encrypted where
// they stand.
func seal(k Key, ver byte, buf []byte, n int) {
	aead := imageAEAD(k, buf[:saltSize], ver)
	ad := additionalData(k, ver)
	var l [4]byte
	binary.BigEndian.PutUint32(l[:], uint32(n))
	aead.Seal(buf[saltSize:saltSize], nonce(0), l[:], ad)
	pt := buf[headerSize : headerSize+n]
	aead.Seal(pt[:0], nonce(1), pt, ad)
}

// openHeader opens the first headerSize bytes of a stream. It returns the
// cipher for the body and the body's length, which it checks against room,
// the stream bytes the image can hold.
func openHeader(k Key, ver byte, hdr []byte, room int) (cipher.AEAD, int, error) {
	aead := imageAEAD(k, hdr[:saltSize], ver)
	var n [4]byte
	if _, err := aead.Open(n[:0], nonce(0), hdr[saltSize:headerSize], additionalData(k, ver)); err != nil {
		return nil, 0, ErrNoPayload
	}
	body := binary.BigEndian.Uint32(n[:])
	if uint64(body)+overhead > uint64(room) {
		// Only the key holder can write a header, so an impossible length
		// means the image was cut down after it was veiled.
		return nil, 0, fmt.Errorf("%w: payload of %s bytes cannot fit this image", ErrTampered, commas(int(body)))
	}
	return aead, int(body), nil
}

// openBody decrypts the sealed body (ciphertext and tag) in place.
func openBody(k Key, ver byte, aead cipher.AEAD, sealed []byte) ([]byte, error) {
	pt, err := aead.Open(sealed[:0], nonce(1), sealed, additionalData(k, ver))
	if err != nil {
		return nil, ErrTampered
	}
	return pt, nil
}

// openStream opens a whole stream held in memory: the envelope decoder of
// outside bytes, used by Reveal's tests and fuzz target as the oracle of
// what the carrier path must do.
func openStream(k Key, ver byte, stream []byte) ([]byte, Meta, error) {
	if len(stream) < headerSize {
		return nil, Meta{}, ErrNoPayload
	}
	aead, n, err := openHeader(k, ver, stream[:headerSize], len(stream))
	if err != nil {
		return nil, Meta{}, err
	}
	sealed := append([]byte(nil), stream[headerSize:headerSize+n+tagSize]...)
	pt, err := openBody(k, ver, aead, sealed)
	if err != nil {
		return nil, Meta{}, err
	}
	return decodeBody(pt)
}

// decodeBody splits an opened body into metadata and secret.
func decodeBody(pt []byte) ([]byte, Meta, error) {
	m, secret, err := decodeMeta(pt)
	if err != nil {
		return nil, Meta{}, err
	}
	return secret, m, nil
}
