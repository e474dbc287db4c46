package stego

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func sealedStream(t testing.TB, k Key, meta Meta, secret []byte) []byte {
	body := appendMeta(nil, meta)
	n := len(body) + len(secret)
	stream := make([]byte, streamLen(n))
	copy(stream, "0123456789abcdef") // salt
	copy(stream[headerSize:], body)
	copy(stream[headerSize+len(body):], secret)
	seal(k, version2, stream, n)
	return stream
}

func TestEnvelopeOpensWithItsKeyOnly(t *testing.T) {
	meta := testMeta()
	meta.ID = ImageID{9}
	meta.Created = time.Unix(1700000000, 5).UTC()
	secret := []byte("not an image, but the envelope does not care")
	stream := sealedStream(t, testKey(t, 1), meta, secret)
	got, gotMeta, err := openStream(testKey(t, 1), version2, stream)
	if err != nil || !bytes.Equal(got, secret) || gotMeta.ID != meta.ID || !gotMeta.Created.Equal(meta.Created) {
		t.Fatalf("openStream = %q, %+v, %v", got, gotMeta, err)
	}
	if _, _, err := openStream(testKey(t, 2), version2, stream); !errors.Is(err, ErrNoPayload) {
		t.Fatalf("other key: err = %v, want ErrNoPayload", err)
	}
}

func TestEnvelopeHasNoPlaintext(t *testing.T) {
	meta := Meta{Owner: "plaintextowner", Viewers: map[string]int{"plaintextviewer": 1}}
	secret := bytes.Repeat([]byte("SECRET"), 50)
	stream := sealedStream(t, testKey(t, 1), meta, secret)
	for _, s := range []string{"plaintextowner", "plaintextviewer", "SECRET", "veil", "stego"} {
		if bytes.Contains(stream, []byte(s)) {
			t.Errorf("the stream contains %q in clear", s)
		}
	}
}

func TestEnvelopeLengthIsCheckedAgainstTheRoom(t *testing.T) {
	stream := sealedStream(t, testKey(t, 1), testMeta(), make([]byte, 1000))
	// The same header in an image too small for its body: cut down.
	if _, _, err := openHeader(testKey(t, 1), version2, stream[:headerSize], len(stream)-100); !errors.Is(err, ErrTampered) {
		t.Fatalf("err = %v, want ErrTampered", err)
	}
}

func TestMetaDecoderRefusesWhatTheEncoderCannotWrite(t *testing.T) {
	good := appendMeta(nil, Meta{Owner: "o", Viewers: map[string]int{"a": 1, "b": 2}, Created: fixedNow()})
	if _, rest, err := decodeMeta(good); err != nil || len(rest) != 0 {
		t.Fatalf("decodeMeta(good) = %v, %d bytes left", err, len(rest))
	}
	// Offsets: id 16, created 8, owner length at 24, "o" at 25, count at 26,
	// first viewer length at 27, name at 28, views 29..31, second at 32.
	for _, tc := range []struct {
		name string
		edit func(b []byte) []byte
	}{
		{"empty", func(b []byte) []byte { return nil }},
		{"cut in the owner", func(b []byte) []byte { return b[:25] }},
		{"cut in the viewers", func(b []byte) []byte { return b[:30] }},
		{"empty owner", func(b []byte) []byte { b[24] = 0; return b }},
		{"viewers out of order", func(b []byte) []byte { b[28], b[33] = 'b', 'a'; return b }},
		{"duplicate viewer", func(b []byte) []byte { b[33] = 'a'; return b }},
		{"zero views", func(b []byte) []byte { b[29], b[30], b[31] = 0, 0, 0; return b }},
		{"too many views", func(b []byte) []byte { b[29] = 0xff; return b }},
		{"viewer count over the limit", func(b []byte) []byte { b[26] = MaxViewers + 1; return b }},
		{"bad character", func(b []byte) []byte { b[25] = '/'; return b }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := decodeMeta(tc.edit(bytes.Clone(good))); !errors.Is(err, ErrTampered) {
				t.Fatalf("err = %v, want ErrTampered", err)
			}
		})
	}
}

func TestMaxMetaSizeBoundsEveryEncoding(t *testing.T) {
	m := Meta{Owner: string(bytes.Repeat([]byte("o"), MaxNameLen)), Viewers: map[string]int{}}
	for i := 0; i < MaxViewers; i++ {
		m.Viewers[string(bytes.Repeat([]byte{'a' + byte(i%26), 'A' + byte(i/26)}, MaxNameLen/2))] = MaxViews
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	if n := len(appendMeta(nil, m)); n != maxMetaSize {
		t.Fatalf("largest metadata is %d bytes, maxMetaSize says %d", n, maxMetaSize)
	}
}
