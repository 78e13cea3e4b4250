package kademlia

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/rpcudp/go-rpcudp/rpcudp/wire"
	"github.com/vmihailenco/msgpack/v5"
)

// ErrValueType: a value or key of a type Python's kademlia does not take
// (it takes str, bytes, int, float and bool).
var ErrValueType = errors.New("kademlia: unsupported value type")

// Value is one DHT value held as its msgpack encoding, as Python's
// u-msgpack-python packs it, so every value round-trips to the same Python
// type. A Value is immutable; compare Values with Equal. The zero Value
// holds nothing and cannot be stored. A Value marshals and unmarshals with
// msgpack as the value it holds (a nil unmarshals to the zero Value).
type Value struct {
	raw []byte
}

// Compile-time checks that Value plugs into msgpack directly, so it can be
// used as an RPC argument or return value.
var (
	_ msgpack.CustomEncoder = Value{}
	_ msgpack.CustomDecoder = (*Value)(nil)
)

// EncodeValue converts v into a Value: string (valid UTF-8), []byte, any
// integer kind, float64, float32 (widened: Python has only doubles) or bool,
// encoded as u-msgpack-python does, byte for byte. Any other type,
// including nil, returns an error wrapping ErrValueType.
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
		b = wire.AppendStr(make([]byte, 0, len(x)+5), x)
	case []byte:
		if x == nil {
			// A nil slice is still bytes; encode it as b''.
			x = []byte{}
		}
		if uint64(len(x)) > math.MaxUint32 {
			return Value{}, fmt.Errorf("%w: byte slice of %d bytes is too long for msgpack", ErrValueType, len(x))
		}
		b = wire.AppendBin(make([]byte, 0, len(x)+5), x)
	case bool:
		b = wire.AppendBool(nil, x)
	case int:
		b = wire.AppendInt(nil, int64(x))
	case int8:
		b = wire.AppendInt(nil, int64(x))
	case int16:
		b = wire.AppendInt(nil, int64(x))
	case int32:
		b = wire.AppendInt(nil, int64(x))
	case int64:
		b = wire.AppendInt(nil, x)
	case uint:
		b = wire.AppendUint(nil, uint64(x))
	case uint8:
		b = wire.AppendUint(nil, uint64(x))
	case uint16:
		b = wire.AppendUint(nil, uint64(x))
	case uint32:
		b = wire.AppendUint(nil, uint64(x))
	case uint64:
		b = wire.AppendUint(nil, x)
	case uintptr:
		b = wire.AppendUint(nil, uint64(x))
	case float64:
		b = wire.AppendFloat(nil, x)
	case float32:
		b = wire.AppendFloat(nil, float64(x))
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

// valueFromMsgpack validates raw as exactly one msgpack value of an allowed
// type (str, bin, int or uint of any width, float32/float64, bool) and
// returns it as a Value. nil, arrays, maps, extension types, invalid UTF-8
// strings, truncated input and trailing bytes are rejected with an error
// wrapping ErrValueType.
//
// The result is re-encoded in the canonical form Python would use when it
// forwards the value (smallest integer width, float64), so a value received
// from any peer is stored and forwarded exactly as a Python node would. raw
// is not retained.
func valueFromMsgpack(raw []byte) (Value, error) {
	v, rest, err := decodeScalar(raw)
	if err != nil {
		return Value{}, err
	}
	if len(rest) != 0 {
		return Value{}, fmt.Errorf("%w: %d trailing bytes after msgpack value", ErrValueType, len(rest))
	}
	return EncodeValue(v)
}

// encoded returns a copy of the msgpack encoding of v (nil for the zero Value).
func (v Value) encoded() []byte {
	if v.raw == nil {
		return nil
	}
	return bytes.Clone(v.raw)
}

// Len returns the size of v's msgpack encoding (what storage bounds count).
func (v Value) Len() int { return len(v.raw) }

// IsZero reports whether v is the zero Value, which holds nothing.
func (v Value) IsZero() bool { return v.raw == nil }

// Equal reports whether v and o hold the same value of the same type (an
// int is not a float of equal magnitude, as in Python).
func (v Value) Equal(o Value) bool {
	return (v.raw == nil) == (o.raw == nil) && bytes.Equal(v.raw, o.raw)
}

// Interface decodes v: string, []byte, int64 (uint64 above MaxInt64),
// float64 or bool.
func (v Value) Interface() (any, error) {
	if v.raw == nil {
		return nil, fmt.Errorf("%w: zero Value", ErrValueType)
	}
	x, rest, err := decodeScalar(v.raw)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes after msgpack value", ErrValueType, len(rest))
	}
	return x, nil
}

// String formats v as Python's print() shows it: str bare, bytes as
// b'...', floats as Python's repr, bools as True or False, the zero Value as
// None.
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

// GoString implements fmt.GoStringer.
func (v Value) GoString() string {
	return fmt.Sprintf("kademlia.Value{%x}", v.raw)
}

// EncodeMsgpack implements msgpack.CustomEncoder (the zero Value is an
// error).
func (v Value) EncodeMsgpack(enc *msgpack.Encoder) error {
	if v.raw == nil {
		return fmt.Errorf("%w: cannot encode the zero Value", ErrValueType)
	}
	return enc.Encode(msgpack.RawMessage(v.raw))
}

// DecodeMsgpack implements msgpack.CustomDecoder: it reads one value of a
// type EncodeValue accepts (else an error wrapping ErrValueType).
func (v *Value) DecodeMsgpack(dec *msgpack.Decoder) error {
	raw, err := dec.DecodeRaw()
	if err != nil {
		return fmt.Errorf("kademlia: decoding value: %w", err)
	}
	nv, err := valueFromMsgpack(raw)
	if err != nil {
		return err
	}
	*v = nv
	return nil
}

// --- decoding ---

// notPython explains a rejected msgpack type.
const notPython = "(Python kademlia accepts only str, bytes, int, float and bool)"

// decodeScalar decodes one allowed msgpack value from the front of b and
// returns it with what follows. It never panics and never allocates more
// than len(b).
func decodeScalar(b []byte) (any, []byte, error) {
	if len(b) == 0 {
		return nil, nil, fmt.Errorf("%w: empty msgpack input", ErrValueType)
	}
	switch k := wire.KindOf(b[0]); k {
	case wire.Nil, wire.Array, wire.Map:
		return nil, nil, fmt.Errorf("%w: msgpack %s %s", ErrValueType, k, notPython)
	case wire.Ext:
		return nil, nil, fmt.Errorf("%w: msgpack extension type %s", ErrValueType, notPython)
	case wire.Invalid:
		return nil, nil, fmt.Errorf("%w: invalid msgpack code 0x%02x", ErrValueType, b[0])
	}
	v, rest, err := wire.ReadScalar(b)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: truncated or malformed msgpack: %w", ErrValueType, err)
	}
	return v, rest, nil
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

// --- namespaced values (envelopes) ---

// envelopeMagic and envelopeVersion begin a namespaced value's bytes
// (PROTOCOL.md, "Namespaced values").
const (
	envelopeMagic   = "KDHT"
	envelopeVersion = 1
	// maxNamespaceLen bounds a namespace's length in bytes.
	maxNamespaceLen = 32
)

// EnvelopeValue returns body as a value of namespace (1 to 32 printable
// ASCII characters), checked at Go nodes by its Validator (PROTOCOL.md).
func EnvelopeValue(namespace string, body []byte) (Value, error) {
	if err := checkNamespace(namespace); err != nil {
		return Value{}, err
	}
	b := make([]byte, 0, len(envelopeMagic)+2+len(namespace)+len(body))
	b = append(b, envelopeMagic...)
	b = append(b, envelopeVersion, byte(len(namespace)))
	b = append(b, namespace...)
	b = append(b, body...)
	v, err := EncodeValue(b)
	if err == nil && v.Len() > MaxValueSize {
		err = fmt.Errorf("kademlia: envelope: %w: the value takes %d bytes, at most %d fit a store request",
			rpcudp.ErrMessageTooLarge, v.Len(), MaxValueSize)
	}
	return v, err
}

// checkNamespace refuses empty, long or non-printable namespaces.
func checkNamespace(ns string) error {
	if len(ns) == 0 || len(ns) > maxNamespaceLen {
		return fmt.Errorf("%w: namespace %q: 1 to %d characters", ErrValueType, ns, maxNamespaceLen)
	}
	for i := range len(ns) {
		if ns[i] <= ' ' || ns[i] > '~' {
			return fmt.Errorf("%w: namespace %q: printable ASCII only", ErrValueType, ns)
		}
	}
	return nil
}

// Envelope returns the namespace and body of a namespaced value (ok false
// for any other); body shares v's memory.
func (v Value) Envelope() (namespace string, body []byte, ok bool) {
	ns, body, err := v.envelope()
	return ns, body, err == nil && ns != ""
}

// envelope splits a namespaced value. A plain value (not a bin, or a bin
// without the magic and version) returns "" and no error; a bin with the
// magic and version but a malformed header returns an error wrapping
// ErrBadRecord.
func (v Value) envelope() (string, []byte, error) {
	if len(v.raw) == 0 || wire.KindOf(v.raw[0]) != wire.Bin {
		return "", nil, nil
	}
	b, _, err := wire.ReadBin(v.raw)
	if err != nil || len(b) < len(envelopeMagic)+1 || string(b[:len(envelopeMagic)]) != envelopeMagic ||
		b[len(envelopeMagic)] != envelopeVersion {
		return "", nil, nil
	}
	b = b[len(envelopeMagic)+1:]
	if len(b) < 1 || int(b[0]) > len(b)-1 {
		return "", nil, fmt.Errorf("%w: truncated envelope header", ErrBadRecord)
	}
	ns := string(b[1 : 1+int(b[0])])
	if err := checkNamespace(ns); err != nil {
		return "", nil, fmt.Errorf("%w: %w", ErrBadRecord, err)
	}
	return ns, b[1+len(ns):], nil
}
