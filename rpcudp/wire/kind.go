package wire

import (
	"errors"

	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// MaxDepth bounds the nesting of arrays and maps that Skip and Validate
// accept: the outermost value is at depth 0.
const MaxDepth = 64

// Sentinel errors; the errors this package returns wrap one of them.
var (
	// ErrMalformed: the data is not well-formed msgpack (cut short, a
	// length that overruns the data, the unused code 0xc1, nested deeper
	// than MaxDepth, invalid UTF-8 in a str being decoded).
	ErrMalformed = errors.New("wire: malformed msgpack")
	// ErrType: the data is well-formed msgpack, but not of the kind asked
	// for (for example a map where an array was wanted).
	ErrType = errors.New("wire: unexpected msgpack type")
)

// Kind is the family of a msgpack value, as its type code tells it.
type Kind uint8

// The kinds of msgpack values. Int covers every integer code (positive and
// negative fixint, uint8 to uint64, int8 to int64); Float covers float32
// and float64; Invalid is the unused code 0xc1.
const (
	Invalid Kind = iota
	Nil
	Bool
	Int
	Float
	Str
	Bin
	Array
	Map
	Ext
)

var kindNames = [...]string{"invalid", "nil", "bool", "int", "float", "str", "bin", "array", "map", "ext"}

// String returns the kind's msgpack name ("array", "str", ...).
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "invalid"
}

// KindOf returns the kind of the value that starts with type code c.
func KindOf(c byte) Kind {
	switch {
	case msgpcode.IsFixedNum(c):
		return Int
	case msgpcode.IsFixedMap(c):
		return Map
	case msgpcode.IsFixedArray(c):
		return Array
	case msgpcode.IsString(c):
		return Str
	case msgpcode.IsBin(c):
		return Bin
	case msgpcode.IsExt(c):
		return Ext
	}
	switch c {
	case msgpcode.Nil:
		return Nil
	case msgpcode.False, msgpcode.True:
		return Bool
	case msgpcode.Float, msgpcode.Double:
		return Float
	case msgpcode.Uint8, msgpcode.Uint16, msgpcode.Uint32, msgpcode.Uint64,
		msgpcode.Int8, msgpcode.Int16, msgpcode.Int32, msgpcode.Int64:
		return Int
	case msgpcode.Array16, msgpcode.Array32:
		return Array
	case msgpcode.Map16, msgpcode.Map32:
		return Map
	}
	return Invalid
}
