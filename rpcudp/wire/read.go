package wire

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// head is the decoded type code and header of one value: its kind, n (the
// number of payload bytes that follow rest for a scalar, str, bin or ext
// (an ext's type byte included); the number of items of an array; the
// number of pairs of a map) and the data after the header.
type head struct {
	kind Kind
	n    int
	rest []byte
}

// readHead decodes the type code and length header at the front of b. It
// checks that the header itself is complete, not that the payload is.
func readHead(b []byte) (head, error) {
	if len(b) == 0 {
		return head{}, fmt.Errorf("%w: value cut short", ErrMalformed)
	}
	c, rest := b[0], b[1:]
	k := KindOf(c)
	switch {
	case msgpcode.IsFixedNum(c):
		return head{kind: Int, rest: rest}, nil
	case msgpcode.IsFixedMap(c):
		return head{kind: Map, n: int(c & msgpcode.FixedMapMask), rest: rest}, nil
	case msgpcode.IsFixedArray(c):
		return head{kind: Array, n: int(c & msgpcode.FixedArrayMask), rest: rest}, nil
	case msgpcode.IsFixedString(c):
		return head{kind: Str, n: int(c & msgpcode.FixedStrMask), rest: rest}, nil
	case msgpcode.IsFixedExt(c):
		return head{kind: Ext, n: 1 + 1<<(c-msgpcode.FixExt1), rest: rest}, nil
	case k == Invalid:
		return head{}, fmt.Errorf("%w: invalid code 0x%02x", ErrMalformed, c)
	}
	if size := fixedSize(c); size >= 0 {
		return head{kind: k, n: size, rest: rest}, nil
	}
	size := lengthSize(c)
	if len(rest) < size {
		return head{}, fmt.Errorf("%w: %s length cut short", ErrMalformed, k)
	}
	var n uint32
	switch size {
	case 1:
		n = uint32(rest[0])
	case 2:
		n = uint32(binary.BigEndian.Uint16(rest))
	default:
		n = binary.BigEndian.Uint32(rest)
	}
	h := head{kind: k, n: int(n), rest: rest[size:]}
	if k == Ext {
		h.n++ // the type byte
	}
	return h, nil
}

// fixedSize returns the payload size of a value whose code c fixes it (nil,
// bool, the sized integers and floats), or -1.
func fixedSize(c byte) int {
	switch c {
	case msgpcode.Nil, msgpcode.False, msgpcode.True:
		return 0
	case msgpcode.Uint8, msgpcode.Int8:
		return 1
	case msgpcode.Uint16, msgpcode.Int16:
		return 2
	case msgpcode.Uint32, msgpcode.Int32, msgpcode.Float:
		return 4
	case msgpcode.Uint64, msgpcode.Int64, msgpcode.Double:
		return 8
	}
	return -1
}

// lengthSize returns the size of the length header following code c of a
// str, bin, ext, array or map that is not in a fix form.
func lengthSize(c byte) int {
	switch c {
	case msgpcode.Str8, msgpcode.Bin8, msgpcode.Ext8:
		return 1
	case msgpcode.Str16, msgpcode.Bin16, msgpcode.Ext16, msgpcode.Array16, msgpcode.Map16:
		return 2
	}
	return 4
}

// Skip checks that b starts with one well-formed msgpack value and returns
// what follows it. It allocates nothing (but its error), refuses nesting
// deeper than MaxDepth and refuses any length that overruns b; errors wrap
// ErrMalformed.
func Skip(b []byte) ([]byte, error) { return skip(b, 0) }

// Validate checks that b is exactly one well-formed msgpack value, as Skip
// checks it, with nothing after it.
func Validate(b []byte) error {
	rest, err := skip(b, 0)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: %d bytes after the value", ErrMalformed, len(rest))
	}
	return nil
}

func skip(b []byte, depth int) ([]byte, error) {
	if depth > MaxDepth {
		return nil, fmt.Errorf("%w: nested deeper than %d", ErrMalformed, MaxDepth)
	}
	h, err := readHead(b)
	if err != nil {
		return nil, err
	}
	switch h.kind {
	case Array:
		return skipN(h.rest, h.n, depth)
	case Map:
		return skipN(h.rest, 2*h.n, depth)
	}
	if h.n < 0 || h.n > len(h.rest) {
		return nil, fmt.Errorf("%w: %s of %d bytes overruns the data", ErrMalformed, h.kind, h.n)
	}
	return h.rest[h.n:], nil
}

// skipN skips n values nested one level below depth.
func skipN(b []byte, n, depth int) ([]byte, error) {
	if n < 0 || n > len(b) { // every value takes at least a byte
		return nil, fmt.Errorf("%w: %d items overrun the data", ErrMalformed, n)
	}
	var err error
	for range n {
		if b, err = skip(b, depth+1); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// readHeadOf reads a header that must be of kind want.
func readHeadOf(b []byte, want Kind) (head, error) {
	h, err := readHead(b)
	if err != nil {
		return head{}, fmt.Errorf("%w (want %s)", err, want)
	}
	if h.kind != want {
		return head{}, fmt.Errorf("%w: want %s, got %s (code 0x%02x)", ErrType, want, h.kind, b[0])
	}
	return h, nil
}

// ReadArrayLen reads an array header at the front of b and returns the
// number of items and what follows the header (the items). The items are
// not checked.
func ReadArrayLen(b []byte) (n int, rest []byte, err error) {
	h, err := readHeadOf(b, Array)
	return h.n, h.rest, err
}

// ReadMapLen reads a map header at the front of b and returns the number of
// key/value pairs and what follows the header. The pairs are not checked.
func ReadMapLen(b []byte) (n int, rest []byte, err error) {
	h, err := readHeadOf(b, Map)
	return h.n, h.rest, err
}

// ReadStr reads a str at the front of b and returns its bytes (a sub-slice
// of b, not a copy, not checked for UTF-8) and what follows it.
func ReadStr(b []byte) (s, rest []byte, err error) { return readBytes(b, Str) }

// ReadBin reads a bin at the front of b and returns its bytes (a sub-slice
// of b, not a copy) and what follows it.
func ReadBin(b []byte) (p, rest []byte, err error) { return readBytes(b, Bin) }

func readBytes(b []byte, want Kind) ([]byte, []byte, error) {
	h, err := readHeadOf(b, want)
	if err != nil {
		return nil, nil, err
	}
	if h.n > len(h.rest) {
		return nil, nil, fmt.Errorf("%w: %s of %d bytes overruns the data", ErrMalformed, want, h.n)
	}
	return h.rest[:h.n:h.n], h.rest[h.n:], nil
}

// ReadScalar decodes the scalar at the front of b and returns it with what
// follows it: nil for nil, bool, int64 for an integer (uint64 only above
// math.MaxInt64), float64 for either float (float32 widened), string for a
// str (which must be valid UTF-8, as Python requires) and []byte (a copy)
// for a bin. An array, map or ext is an error wrapping ErrType. It never
// allocates more than len(b).
func ReadScalar(b []byte) (v any, rest []byte, err error) {
	h, err := readHead(b)
	if err != nil {
		return nil, nil, err
	}
	switch h.kind {
	case Array, Map, Ext:
		return nil, nil, fmt.Errorf("%w: msgpack %s is not a scalar", ErrType, h.kind)
	}
	if h.n > len(h.rest) {
		return nil, nil, fmt.Errorf("%w: %s of %d bytes overruns the data", ErrMalformed, h.kind, h.n)
	}
	p, rest := h.rest[:h.n], h.rest[h.n:]
	switch h.kind {
	case Nil:
		return nil, rest, nil
	case Bool:
		return b[0] == msgpcode.True, rest, nil
	case Int:
		return decodeInt(b[0], p), rest, nil
	case Float:
		if b[0] == msgpcode.Float {
			return float64(math.Float32frombits(binary.BigEndian.Uint32(p))), rest, nil
		}
		return math.Float64frombits(binary.BigEndian.Uint64(p)), rest, nil
	case Str:
		if !utf8.Valid(p) {
			return nil, nil, fmt.Errorf("%w: str is not valid UTF-8", ErrMalformed)
		}
		return string(p), rest, nil
	}
	return bytes.Clone(p[:len(p):len(p)]), rest, nil // Bin
}

// decodeInt decodes an integer with code c and big-endian payload p.
func decodeInt(c byte, p []byte) any {
	if len(p) == 0 {
		return int64(int8(c)) // fixint: 0x00-0x7f and 0xe0-0xff
	}
	var u uint64
	for _, x := range p {
		u = u<<8 | uint64(x)
	}
	if c >= msgpcode.Int8 && c <= msgpcode.Int64 {
		shift := 64 - 8*uint(len(p)) // sign-extend
		return int64(u<<shift) >> shift
	}
	if u > math.MaxInt64 {
		return u
	}
	return int64(u)
}

// ValidUTF8 reports whether every str in b, a sequence of msgpack values
// (map keys and nested values included), is valid UTF-8, as Python's
// decoder demands of every str it reads. It allocates nothing. It checks
// strings only: data that is not well-formed ends the check (Validate is
// the check for that), and the strings before it count.
func ValidUTF8(b []byte) bool {
	for len(b) > 0 {
		h, err := readHead(b)
		if err != nil {
			return true
		}
		if h.kind == Array || h.kind == Map {
			b = h.rest // the items follow the header
			continue
		}
		if h.n > len(h.rest) {
			return true
		}
		if h.kind == Str && !utf8.Valid(h.rest[:h.n]) {
			return false
		}
		b = h.rest[h.n:]
	}
	return true
}
