package wire

import (
	"encoding/binary"
	"math"

	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// AppendNil appends a msgpack nil.
func AppendNil(b []byte) []byte { return append(b, msgpcode.Nil) }

// AppendBool appends a msgpack bool.
func AppendBool(b []byte, x bool) []byte {
	if x {
		return append(b, msgpcode.True)
	}
	return append(b, msgpcode.False)
}

// AppendUint appends a non-negative integer in its smallest form: positive
// fixint, then uint8, uint16, uint32, uint64.
func AppendUint(b []byte, x uint64) []byte {
	switch {
	case x <= uint64(msgpcode.PosFixedNumHigh):
		return append(b, byte(x))
	case x <= math.MaxUint8:
		return append(b, msgpcode.Uint8, byte(x))
	case x <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, msgpcode.Uint16), uint16(x))
	case x <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, msgpcode.Uint32), uint32(x))
	default:
		return binary.BigEndian.AppendUint64(append(b, msgpcode.Uint64), x)
	}
}

// AppendInt appends an integer in its smallest form, as Python packs it:
// a non-negative one as AppendUint does, a negative one as negative
// fixint, then int8, int16, int32, int64.
func AppendInt(b []byte, x int64) []byte {
	switch {
	case x >= 0:
		return AppendUint(b, uint64(x))
	case x >= -32:
		return append(b, byte(x))
	case x >= math.MinInt8:
		return append(b, msgpcode.Int8, byte(x))
	case x >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(b, msgpcode.Int16), uint16(x))
	case x >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(b, msgpcode.Int32), uint32(x))
	default:
		return binary.BigEndian.AppendUint64(append(b, msgpcode.Int64), uint64(x))
	}
}

// AppendFloat appends a float64 (Python has only double floats).
func AppendFloat(b []byte, x float64) []byte {
	return binary.BigEndian.AppendUint64(append(b, msgpcode.Double), math.Float64bits(x))
}

// AppendStr appends a msgpack str in its smallest form: fixstr, str8,
// str16, str32. s should be valid UTF-8 for a Python peer to decode it.
func AppendStr(b []byte, s string) []byte {
	return append(appendLen(b, len(s), msgpcode.FixedStrLow, 32, msgpcode.Str8, msgpcode.Str16, msgpcode.Str32), s...)
}

// AppendBin appends a msgpack bin in its smallest form: bin8, bin16,
// bin32.
func AppendBin(b []byte, p []byte) []byte {
	return append(appendLen(b, len(p), 0, 0, msgpcode.Bin8, msgpcode.Bin16, msgpcode.Bin32), p...)
}

// AppendArrayLen appends the header of an array of n items in its smallest
// form: fixarray, array16, array32. The items follow it.
func AppendArrayLen(b []byte, n int) []byte {
	return appendLen(b, n, msgpcode.FixedArrayLow, 16, 0, msgpcode.Array16, msgpcode.Array32)
}

// AppendMapLen appends the header of a map of n key/value pairs in its
// smallest form: fixmap, map16, map32. The pairs follow it.
func AppendMapLen(b []byte, n int) []byte {
	return appendLen(b, n, msgpcode.FixedMapLow, 16, 0, msgpcode.Map16, msgpcode.Map32)
}

// appendLen appends a length header: the fix form (code fix|n) when
// n < fixLimit, then the 8-bit form when c8 != 0, then the 16- and 32-bit
// forms.
func appendLen(b []byte, n int, fix byte, fixLimit int, c8, c16, c32 byte) []byte {
	switch {
	case n < fixLimit:
		return append(b, fix|byte(n))
	case c8 != 0 && n <= math.MaxUint8:
		return append(b, c8, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, c16), uint16(n))
	default:
		return binary.BigEndian.AppendUint32(append(b, c32), uint32(n))
	}
}
