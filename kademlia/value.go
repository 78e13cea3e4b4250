package kademlia

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/vmihailenco/msgpack/v5"
)

// ErrValueType reports a value whose type cannot be stored in the DHT.
// Python's kademlia accepts only str, bytes, int, float and bool values, so
// those are the only types a Value may hold.
var ErrValueType = errors.New("kademlia: unsupported value type")

// Value is one DHT value held as its msgpack encoding, exactly as Python's
// u-msgpack-python packs it. Keeping the encoding (rather than a decoded Go
// value) means every value round-trips to the same Python type: str stays
// str, bytes stays bytes, int stays int, float stays float and bool stays
// bool.
//
// A Value is immutable; the zero Value holds nothing and is invalid for
// storage and encoding. Values are compared with Equal, not ==.
type Value struct {
	raw []byte
}

// Compile-time checks that Value plugs into msgpack directly, so it can be
// used as an RPC argument or return value.
var (
	_ msgpack.CustomEncoder = Value{}
	_ msgpack.CustomDecoder = (*Value)(nil)
)

// EncodeValue converts v into a Value. Accepted types are string (valid
// UTF-8), []byte, every Go integer kind, float64, float32 (widened to
// float64, as Python has only double floats) and bool. Any other type,
// including nil, returns an error wrapping ErrValueType.
//
// The encoding matches u-msgpack-python byte for byte: non-negative integers
// use positive fixint or the uint family, negative integers negative fixint
// or the int family, each in the smallest width; floats are float64 (0xcb);
// strings use fixstr/str8/str16/str32 and bytes bin8/bin16/bin32.
func EncodeValue(v any) (Value, error) {
	var b []byte
	switch x := v.(type) {
	case string:
		if !utf8.ValidString(x) {
			return Value{}, fmt.Errorf("%w: string is not valid UTF-8 (Python str requires it)", ErrValueType)
		}
		if uint64(len(x)) > math.MaxUint32 {
			return Value{}, fmt.Errorf("%w: string of %d bytes is too long for msgpack", ErrValueType, len(x))
		}
		b = valAppendStr(make([]byte, 0, len(x)+5), x)
	case []byte:
		if x == nil {
			// A nil slice is still bytes; encode it as b''.
			x = []byte{}
		}
		if uint64(len(x)) > math.MaxUint32 {
			return Value{}, fmt.Errorf("%w: byte slice of %d bytes is too long for msgpack", ErrValueType, len(x))
		}
		b = valAppendBin(make([]byte, 0, len(x)+5), x)
	case bool:
		b = valAppendBool(nil, x)
	case int:
		b = valAppendInt(nil, int64(x))
	case int8:
		b = valAppendInt(nil, int64(x))
	case int16:
		b = valAppendInt(nil, int64(x))
	case int32:
		b = valAppendInt(nil, int64(x))
	case int64:
		b = valAppendInt(nil, x)
	case uint:
		b = valAppendUint(nil, uint64(x))
	case uint8:
		b = valAppendUint(nil, uint64(x))
	case uint16:
		b = valAppendUint(nil, uint64(x))
	case uint32:
		b = valAppendUint(nil, uint64(x))
	case uint64:
		b = valAppendUint(nil, x)
	case uintptr:
		b = valAppendUint(nil, uint64(x))
	case float64:
		b = valAppendFloat(nil, x)
	case float32:
		b = valAppendFloat(nil, float64(x))
	case Value:
		if x.raw == nil {
			return Value{}, fmt.Errorf("%w: zero Value", ErrValueType)
		}
		return x, nil
	case nil:
		return Value{}, fmt.Errorf("%w: nil (Python kademlia accepts only str, bytes, int, float and bool)", ErrValueType)
	default:
		return Value{}, fmt.Errorf("%w: %T (Python kademlia accepts only str, bytes, int, float and bool)", ErrValueType, v)
	}
	return Value{raw: b}, nil
}

// ValueFromMsgpack validates raw as exactly one msgpack value of an allowed
// type (str, bin, int or uint of any width, float32/float64, bool) and
// returns it as a Value. nil, arrays, maps, extension types, invalid UTF-8
// strings, valTruncated input and trailing bytes are rejected with an error
// wrapping ErrValueType.
//
// The result is re-encoded in the canonical form Python would use when it
// forwards the value (smallest integer width, float64), so a value received
// from any peer is stored and forwarded exactly as a Python node would. raw
// is not retained.
func ValueFromMsgpack(raw []byte) (Value, error) {
	v, n, err := valDecodeScalar(raw)
	if err != nil {
		return Value{}, err
	}
	if n != len(raw) {
		return Value{}, fmt.Errorf("%w: %d trailing bytes after msgpack value", ErrValueType, len(raw)-n)
	}
	return EncodeValue(v)
}

// Raw returns a copy of the msgpack encoding of v (nil for the zero Value).
func (v Value) Raw() []byte {
	if v.raw == nil {
		return nil
	}
	return bytes.Clone(v.raw)
}

// Len returns the size in bytes of the msgpack encoding of v; storage bounds
// are accounted in these bytes.
func (v Value) Len() int { return len(v.raw) }

// IsZero reports whether v is the zero Value, which holds nothing.
func (v Value) IsZero() bool { return v.raw == nil }

// Equal reports whether v and o hold the same value with the same type.
// An int and a float of equal magnitude are different values, as in Python
// DHT storage.
func (v Value) Equal(o Value) bool {
	return (v.raw == nil) == (o.raw == nil) && bytes.Equal(v.raw, o.raw)
}

// Interface decodes v into a Go value: string, []byte, int64 (uint64 only
// for integers above math.MaxInt64), float64 or bool.
func (v Value) Interface() (any, error) {
	if v.raw == nil {
		return nil, fmt.Errorf("%w: zero Value", ErrValueType)
	}
	x, n, err := valDecodeScalar(v.raw)
	if err != nil {
		return nil, err
	}
	if n != len(v.raw) {
		return nil, fmt.Errorf("%w: %d trailing bytes after msgpack value", ErrValueType, len(v.raw)-n)
	}
	return x, nil
}

// String formats v the way Python's print() shows the decoded value: a str
// bare, bytes as a b'...' literal, integers in decimal, floats as Python's
// repr (3.25, 1.0, 1e+16, inf, nan) and bools as True or False. The zero
// Value prints as None.
func (v Value) String() string {
	if v.raw == nil {
		return "None"
	}
	x, err := v.Interface()
	if err != nil {
		return fmt.Sprintf("<invalid value %x>", v.raw)
	}
	switch x := x.(type) {
	case string:
		return x
	case []byte:
		return valBytesRepr(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case float64:
		return pyReprFloat(x)
	case bool:
		if x {
			return "True"
		}
		return "False"
	}
	return fmt.Sprintf("<invalid value %x>", v.raw)
}

// GoString implements fmt.GoStringer for %#v debugging output.
func (v Value) GoString() string {
	return fmt.Sprintf("kademlia.Value{%x}", v.raw)
}

// EncodeMsgpack implements msgpack.CustomEncoder by writing the stored
// encoding verbatim. Encoding the zero Value is an error.
func (v Value) EncodeMsgpack(enc *msgpack.Encoder) error {
	if v.raw == nil {
		return fmt.Errorf("%w: cannot encode the zero Value", ErrValueType)
	}
	return enc.Encode(msgpack.RawMessage(v.raw))
}

// DecodeMsgpack implements msgpack.CustomDecoder: it reads exactly one
// msgpack value and validates it as ValueFromMsgpack does.
//
// Note that the msgpack library handles a msgpack nil itself, without
// calling DecodeMsgpack, and leaves the zero Value: callers decoding a peer's
// value must check IsZero (Storage.Put rejects the zero Value).
func (v *Value) DecodeMsgpack(dec *msgpack.Decoder) error {
	raw, err := dec.DecodeRaw()
	if err != nil {
		return fmt.Errorf("kademlia: decoding value: %w", err)
	}
	nv, err := ValueFromMsgpack(raw)
	if err != nil {
		return err
	}
	*v = nv
	return nil
}

// --- encoding helpers (u-msgpack-python compatible) ---

func valAppendBool(b []byte, x bool) []byte {
	if x {
		return append(b, 0xc3)
	}
	return append(b, 0xc2)
}

func valAppendUint(b []byte, x uint64) []byte {
	switch {
	case x < 128:
		return append(b, byte(x))
	case x <= math.MaxUint8:
		return append(b, 0xcc, byte(x))
	case x <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xcd), uint16(x))
	case x <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(x))
	default:
		return binary.BigEndian.AppendUint64(append(b, 0xcf), x)
	}
}

func valAppendInt(b []byte, x int64) []byte {
	switch {
	case x >= 0:
		return valAppendUint(b, uint64(x))
	case x >= -32:
		return append(b, byte(x))
	case x >= math.MinInt8:
		return append(b, 0xd0, byte(x))
	case x >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(b, 0xd1), uint16(x))
	case x >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(b, 0xd2), uint32(x))
	default:
		return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(x))
	}
}

func valAppendFloat(b []byte, x float64) []byte {
	return binary.BigEndian.AppendUint64(append(b, 0xcb), math.Float64bits(x))
}

// valAppendLen appends a length header: fix (when fixBase != 0 and n < 32),
// then the 8/16/32-bit forms with the given codes.
func valAppendLen(b []byte, n int, fixBase, c8, c16, c32 byte) []byte {
	switch {
	case fixBase != 0 && n < 32:
		return append(b, fixBase|byte(n))
	case n <= math.MaxUint8:
		return append(b, c8, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, c16), uint16(n))
	default:
		return binary.BigEndian.AppendUint32(append(b, c32), uint32(n))
	}
}

func valAppendStr(b []byte, s string) []byte {
	return append(valAppendLen(b, len(s), 0xa0, 0xd9, 0xda, 0xdb), s...)
}

func valAppendBin(b []byte, p []byte) []byte {
	return append(valAppendLen(b, len(p), 0, 0xc4, 0xc5, 0xc6), p...)
}

// --- decoding ---

// valDecodeScalar decodes one allowed msgpack value from the start of b and
// returns it with the number of bytes consumed. It never panics and never
// allocates more than len(b).
func valDecodeScalar(b []byte) (any, int, error) {
	if len(b) == 0 {
		return nil, 0, fmt.Errorf("%w: empty msgpack input", ErrValueType)
	}
	c := b[0]
	switch {
	case c <= 0x7f:
		return int64(c), 1, nil
	case c >= 0xe0:
		return int64(int8(c)), 1, nil
	case c >= 0xa0 && c <= 0xbf:
		return valDecodeStr(b, 1, int(c&0x1f))
	case c >= 0x80 && c <= 0x8f:
		return nil, 0, fmt.Errorf("%w: msgpack map (Python kademlia accepts only str, bytes, int, float and bool)", ErrValueType)
	case c >= 0x90 && c <= 0x9f:
		return nil, 0, fmt.Errorf("%w: msgpack array (Python kademlia accepts only str, bytes, int, float and bool)", ErrValueType)
	}
	switch c {
	case 0xc0:
		return nil, 0, fmt.Errorf("%w: msgpack nil (Python kademlia accepts only str, bytes, int, float and bool)", ErrValueType)
	case 0xc2:
		return false, 1, nil
	case 0xc3:
		return true, 1, nil
	case 0xc4, 0xc5, 0xc6:
		n, hdr, err := valReadLen(b, c-0xc4)
		if err != nil {
			return nil, 0, err
		}
		if uint64(len(b)-hdr) < n {
			return nil, 0, valTruncated("bin")
		}
		end := hdr + int(n)
		return bytes.Clone(b[hdr:end:end]), end, nil
	case 0xca:
		if len(b) < 5 {
			return nil, 0, valTruncated("float32")
		}
		return float64(math.Float32frombits(binary.BigEndian.Uint32(b[1:]))), 5, nil
	case 0xcb:
		if len(b) < 9 {
			return nil, 0, valTruncated("float64")
		}
		return math.Float64frombits(binary.BigEndian.Uint64(b[1:])), 9, nil
	case 0xcc, 0xcd, 0xce, 0xcf:
		size := 1 << (c - 0xcc)
		if len(b) < 1+size {
			return nil, 0, valTruncated("uint")
		}
		u := valReadUint(b[1 : 1+size])
		if u > math.MaxInt64 {
			return u, 1 + size, nil
		}
		return int64(u), 1 + size, nil
	case 0xd0, 0xd1, 0xd2, 0xd3:
		size := 1 << (c - 0xd0)
		if len(b) < 1+size {
			return nil, 0, valTruncated("int")
		}
		u := valReadUint(b[1 : 1+size])
		// Sign-extend from size bytes.
		shift := 64 - 8*uint(size)
		return int64(u<<shift) >> shift, 1 + size, nil
	case 0xd9, 0xda, 0xdb:
		n, hdr, err := valReadLen(b, c-0xd9)
		if err != nil {
			return nil, 0, err
		}
		if uint64(len(b)-hdr) < n {
			return nil, 0, valTruncated("str")
		}
		return valDecodeStr(b, hdr, int(n))
	case 0xdc, 0xdd:
		return nil, 0, fmt.Errorf("%w: msgpack array (Python kademlia accepts only str, bytes, int, float and bool)", ErrValueType)
	case 0xde, 0xdf:
		return nil, 0, fmt.Errorf("%w: msgpack map (Python kademlia accepts only str, bytes, int, float and bool)", ErrValueType)
	case 0xc7, 0xc8, 0xc9, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		return nil, 0, fmt.Errorf("%w: msgpack extension type (Python kademlia accepts only str, bytes, int, float and bool)", ErrValueType)
	}
	return nil, 0, fmt.Errorf("%w: invalid msgpack code 0x%02x", ErrValueType, c)
}

// valReadLen reads a 1, 2 or 4 byte big-endian length following the code byte;
// width selects 0 -> 1 byte, 1 -> 2 bytes, 2 -> 4 bytes.
func valReadLen(b []byte, width byte) (n uint64, hdr int, err error) {
	size := 1 << width
	if len(b) < 1+size {
		return 0, 0, valTruncated("length header")
	}
	return valReadUint(b[1 : 1+size]), 1 + size, nil
}

func valReadUint(p []byte) uint64 {
	var u uint64
	for _, c := range p {
		u = u<<8 | uint64(c)
	}
	return u
}

func valDecodeStr(b []byte, hdr, n int) (any, int, error) {
	if len(b)-hdr < n {
		return nil, 0, valTruncated("str")
	}
	s := b[hdr : hdr+n]
	if !utf8.Valid(s) {
		return nil, 0, fmt.Errorf("%w: msgpack str is not valid UTF-8", ErrValueType)
	}
	return string(s), hdr + n, nil
}

func valTruncated(what string) error {
	return fmt.Errorf("%w: truncated msgpack %s", ErrValueType, what)
}

// --- Python-style formatting ---

// valBytesRepr mirrors CPython's bytes.__repr__.
func valBytesRepr(p []byte) string {
	quote := byte('\'')
	if bytes.IndexByte(p, '\'') >= 0 && bytes.IndexByte(p, '"') < 0 {
		quote = '"'
	}
	var sb strings.Builder
	sb.Grow(len(p) + 3)
	sb.WriteByte('b')
	sb.WriteByte(quote)
	const hexdigits = "0123456789abcdef"
	for _, c := range p {
		switch {
		case c == quote || c == '\\':
			sb.WriteByte('\\')
			sb.WriteByte(c)
		case c == '\t':
			sb.WriteString(`\t`)
		case c == '\n':
			sb.WriteString(`\n`)
		case c == '\r':
			sb.WriteString(`\r`)
		case c < 0x20 || c >= 0x7f:
			sb.WriteString(`\x`)
			sb.WriteByte(hexdigits[c>>4])
			sb.WriteByte(hexdigits[c&0xf])
		default:
			sb.WriteByte(c)
		}
	}
	sb.WriteByte(quote)
	return sb.String()
}
