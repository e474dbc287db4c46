package registry

import (
	"encoding/binary"
	"fmt"
)

// The binary forms (commands, snapshots, log entries) share these pieces:
// fixed-width big-endian integers, and strings as a 2-byte length and the
// bytes. The appenders assume validated values; reader checks everything
// and keeps the first error.

func appendU16(b []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(b, v) }
func appendU32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }
func appendU64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

func appendStr(b []byte, s string) []byte {
	b = appendU16(b, uint16(len(s)))
	return append(b, s...)
}

// reader decodes a binary form. After the first failure every read returns
// zero values and err stays the first error, which wraps ErrMalformed.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: at byte %d: %s", ErrMalformed, r.off, fmt.Sprintf(format, args...))
	}
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b)-r.off < n {
		r.fail("truncated: %d bytes wanted, %d left", n, len(r.b)-r.off)
		return nil
	}
	p := r.b[r.off : r.off+n]
	r.off += n
	return p
}

func (r *reader) u8() uint8 {
	p := r.bytes(1)
	if p == nil {
		return 0
	}
	return p[0]
}

func (r *reader) u16() uint16 {
	p := r.bytes(2)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint16(p)
}

func (r *reader) u32() uint32 {
	p := r.bytes(4)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint32(p)
}

func (r *reader) u64() uint64 {
	p := r.bytes(8)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint64(p)
}

func (r *reader) str() string { return string(r.bytes(int(r.u16()))) }

// count reads a 4-byte count of items that take at least minSize bytes each,
// and refuses a count the remaining bytes cannot hold, so that a forged
// count cannot make the decoder allocate more than the input's size.
func (r *reader) count(minSize int) int {
	n := int(r.u32())
	if r.err == nil && n > (len(r.b)-r.off)/minSize {
		r.fail("count %d does not fit in %d bytes", n, len(r.b)-r.off)
		return 0
	}
	return n
}

// done fails unless every byte was read.
func (r *reader) done() {
	if r.err == nil && r.off != len(r.b) {
		r.fail("%d trailing bytes", len(r.b)-r.off)
	}
}
