package kademlia

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func mustValue(t testing.TB, v any) Value {
	t.Helper()
	val, err := EncodeValue(v)
	if err != nil {
		t.Fatalf("EncodeValue(%#v): %v", v, err)
	}
	return val
}

// TestValueEncodeExactBytes checks EncodeValue against u-msgpack-python's
// encoding, byte for byte.
func TestValueEncodeExactBytes(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want string
	}{
		// The vectors recorded from Python (see testdata).
		{"int 42", 42, "2a"},
		{"int -7", -7, "f9"},
		{"big int", int64(1099511627779), "cf0000010000000003"},
		{"float 3.25", 3.25, "cb400a000000000000"},
		{"true", true, "c3"},
		{"str", "my awesome value", "b06d7920617765736f6d652076616c7565"},
		{"bytes", []byte{0, 1, 0xfe, 0xff}, "c4040001feff"},
		// Integer width boundaries (positive: uint family, negative: int family).
		{"zero", 0, "00"},
		{"127", 127, "7f"},
		{"128", 128, "cc80"},
		{"255", uint8(255), "ccff"},
		{"256", int16(256), "cd0100"},
		{"65535", uint16(65535), "cdffff"},
		{"65536", int32(65536), "ce00010000"},
		{"2^32-1", uint32(math.MaxUint32), "ceffffffff"},
		{"2^32", int64(1) << 32, "cf0000000100000000"},
		{"max int64", int64(math.MaxInt64), "cf7fffffffffffffff"},
		{"max uint64", uint64(math.MaxUint64), "cfffffffffffffffff"},
		{"uint", uint(300), "cd012c"},
		{"uintptr", uintptr(5), "05"},
		{"-1 int8", int8(-1), "ff"},
		{"-32", -32, "e0"},
		{"-33", -33, "d0df"},
		{"-128", -128, "d080"},
		{"-129", -129, "d1ff7f"},
		{"-32768", -32768, "d18000"},
		{"-32769", -32769, "d2ffff7fff"},
		{"min int32", int32(math.MinInt32), "d280000000"},
		{"min int32 - 1", int64(math.MinInt32) - 1, "d3ffffffff7fffffff"},
		{"min int64", int64(math.MinInt64), "d38000000000000000"},
		// Floats are always float64; float32 is widened.
		{"1.0", 1.0, "cb3ff0000000000000"},
		{"float32 1.5", float32(1.5), "cb3ff8000000000000"},
		{"-0.0", math.Copysign(0, -1), "cb8000000000000000"},
		{"false", false, "c2"},
		// String and bytes length boundaries.
		{"empty str", "", "a0"},
		{"str 31", strings.Repeat("a", 31), "bf" + strings.Repeat("61", 31)},
		{"str 32", strings.Repeat("a", 32), "d920" + strings.Repeat("61", 32)},
		{"str 256", strings.Repeat("a", 256), "da0100" + strings.Repeat("61", 256)},
		{"str utf8", "é", "a2c3a9"},
		{"empty bytes", []byte{}, "c400"},
		{"nil bytes", []byte(nil), "c400"},
		{"bytes 256", make([]byte, 256), "c50100" + strings.Repeat("00", 256)},
		{"bytes 65536", make([]byte, 65536), "c600010000" + strings.Repeat("00", 65536)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := mustValue(t, tt.in)
			if got := hex.EncodeToString(v.encoded()); got != tt.want {
				t.Fatalf("EncodeValue(%v) = %s, want %s", tt.in, got, tt.want)
			}
			if v.Len() != len(tt.want)/2 {
				t.Fatalf("Len = %d, want %d", v.Len(), len(tt.want)/2)
			}
			// Canonical encodings survive validation unchanged.
			back, err := valueFromMsgpack(v.encoded())
			if err != nil {
				t.Fatalf("valueFromMsgpack: %v", err)
			}
			if !back.Equal(v) {
				t.Fatalf("valueFromMsgpack changed %x to %x", v.encoded(), back.encoded())
			}
		})
	}
}

func TestValueEncodeRejectsTypes(t *testing.T) {
	type point struct{ X int }
	x := 1
	tests := []struct {
		name string
		in   any
	}{
		{"nil", nil},
		{"map", map[string]any{"a": 1}},
		{"slice", []any{1, 2}},
		{"int slice", []int{1}},
		{"string slice", []string{"a"}},
		{"struct", point{1}},
		{"pointer", &x},
		{"complex", complex(1, 2)},
		{"invalid utf8", string([]byte{0xff, 0xfe})},
		{"zero Value", Value{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := EncodeValue(tt.in)
			if !errors.Is(err, ErrValueType) {
				t.Fatalf("EncodeValue(%#v) error = %v, want ErrValueType", tt.in, err)
			}
			if !v.IsZero() {
				t.Fatalf("EncodeValue returned non-zero Value on error")
			}
		})
	}
}

func TestValueFromMsgpack(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string // canonical encoding; "" means an error is expected
		errText string
	}{
		{"fixint", "2a", "2a", ""},
		{"negative fixint", "f9", "f9", ""},
		{"str", "a3616263", "a3616263", ""},
		{"bin", "c4020102", "c4020102", ""},
		{"true", "c3", "c3", ""},
		{"false", "c2", "c2", ""},
		{"float64", "cb400a000000000000", "cb400a000000000000", ""},
		{"big uint64", "cfffffffffffffffff", "cfffffffffffffffff", ""},
		// Non-canonical forms are re-encoded as Python would forward them.
		{"int8 42", "d02a", "2a", ""},
		{"uint16 1", "cd0001", "01", ""},
		{"int64 -1", "d3ffffffffffffffff", "ff", ""},
		{"int32 positive", "d200010000", "ce00010000", ""},
		{"float32", "ca3fc00000", "cb3ff8000000000000", ""},
		{"str8 short", "d903616263", "a3616263", ""},
		{"str16", "da0001" + "61", "a161", ""},
		{"str32", "db00000001" + "61", "a161", ""},
		{"bin16", "c5000101", "c40101", ""},
		{"bin32", "c60000000101", "c40101", ""},
		// Rejections.
		{"empty", "", "", "empty"},
		{"nil", "c0", "", "nil"},
		{"never used", "c1", "", "invalid msgpack code"},
		{"fixarray", "9101", "", "array"},
		{"empty array", "90", "", "array"},
		{"array16", "dc0000", "", "array"},
		{"array32", "dd00000000", "", "array"},
		{"fixmap", "80", "", "map"},
		{"map16", "de0000", "", "map"},
		{"map32", "df00000000", "", "map"},
		{"fixext1", "d40100", "", "extension"},
		{"ext8", "c70101ff", "", "extension"},
		{"timestamp ext", "d6ff00000000", "", "extension"},
		{"trailing bytes", "2a2a", "", "trailing"},
		{"trailing after str", "a161c0", "", "trailing"},
		{"truncated uint8", "cc", "", "truncated"},
		{"truncated uint16", "cd00", "", "truncated"},
		{"truncated uint64", "cf00000000000000", "", "truncated"},
		{"truncated int32", "d2ffff", "", "truncated"},
		{"truncated float32", "ca3fc000", "", "truncated"},
		{"truncated float64", "cb0000", "", "truncated"},
		{"truncated fixstr", "a36162", "", "truncated"},
		{"truncated str8 header", "d9", "", "truncated"},
		{"truncated str8", "d90561", "", "truncated"},
		{"truncated str32 header", "db0000", "", "truncated"},
		{"truncated bin8", "c40500", "", "truncated"},
		{"truncated bin32 huge", "c6ffffffff00", "", "truncated"},
		{"invalid utf8 str", "a1ff", "", "UTF-8"},
		{"surrogate str", "a3eda080", "", "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := mustHex(t, tt.in)
			v, err := valueFromMsgpack(in)
			if tt.want == "" {
				if !errors.Is(err, ErrValueType) {
					t.Fatalf("valueFromMsgpack(%s) error = %v, want ErrValueType", tt.in, err)
				}
				if !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("error %q does not mention %q", err, tt.errText)
				}
				return
			}
			if err != nil {
				t.Fatalf("valueFromMsgpack(%s): %v", tt.in, err)
			}
			if got := hex.EncodeToString(v.encoded()); got != tt.want {
				t.Fatalf("valueFromMsgpack(%s) = %s, want %s", tt.in, got, tt.want)
			}
			// The input buffer is not retained.
			for i := range in {
				in[i] = 0xc0
			}
			if got := hex.EncodeToString(v.encoded()); got != tt.want {
				t.Fatalf("value aliases the input buffer: %s", got)
			}
		})
	}
}

func TestValueInterface(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want any
	}{
		{"str", "hi", "hi"},
		{"bytes", []byte{1, 2}, []byte{1, 2}},
		{"small int", 42, int64(42)},
		{"negative", int8(-7), int64(-7)},
		{"uint32", uint32(1 << 31), int64(1 << 31)},
		{"max int64", uint64(math.MaxInt64), int64(math.MaxInt64)},
		{"uint64 above int64", uint64(math.MaxUint64), uint64(math.MaxUint64)},
		{"min int64", int64(math.MinInt64), int64(math.MinInt64)},
		{"float", 3.25, 3.25},
		{"float32", float32(0.5), 0.5},
		{"bool", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mustValue(t, tt.in).Interface()
			if err != nil {
				t.Fatal(err)
			}
			switch w := tt.want.(type) {
			case []byte:
				g, ok := got.([]byte)
				if !ok || !bytes.Equal(g, w) {
					t.Fatalf("Interface() = %#v, want %#v", got, w)
				}
			default:
				if got != tt.want {
					t.Fatalf("Interface() = %#v (%T), want %#v (%T)", got, got, tt.want, tt.want)
				}
			}
		})
	}
	if _, err := (Value{}).Interface(); !errors.Is(err, ErrValueType) {
		t.Fatalf("zero Value Interface error = %v", err)
	}
}

func TestValueStringPythonPrint(t *testing.T) {
	tests := []struct {
		in   any
		want string
	}{
		{"my awesome value", "my awesome value"},
		{"", ""},
		{[]byte{0, 1, 0xfe, 0xff}, `b'\x00\x01\xfe\xff'`},
		{[]byte{}, `b''`},
		{[]byte("hello"), `b'hello'`},
		{[]byte("it's"), `b"it's"`},
		{[]byte(`it's "x"`), `b'it\'s "x"'`},
		{[]byte(`say "hi"`), `b'say "hi"'`},
		{[]byte("a\\b\t\n\r\x7f~ "), `b'a\\b\t\n\r\x7f~ '`},
		{42, "42"},
		{-7, "-7"},
		{int64(1099511627779), "1099511627779"},
		{uint64(math.MaxUint64), "18446744073709551615"},
		{int64(math.MinInt64), "-9223372036854775808"},
		{3.25, "3.25"},
		{1.0, "1.0"},
		{0.1, "0.1"},
		{-2.5, "-2.5"},
		{0.0, "0.0"},
		{math.Copysign(0, -1), "-0.0"},
		{1e15, "1000000000000000.0"},
		{1e16, "1e+16"},
		{1.2345678901234568e+17, "1.2345678901234568e+17"},
		{0.0001, "0.0001"},
		{0.00001, "1e-05"},
		{1.5e300, "1.5e+300"},
		{5e-324, "5e-324"},
		{math.Inf(1), "inf"},
		{math.Inf(-1), "-inf"},
		{math.NaN(), "nan"},
		{float32(0.1), "0.10000000149011612"},
		{true, "True"},
		{false, "False"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := mustValue(t, tt.in).String(); got != tt.want {
				t.Fatalf("String(%#v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	if got := (Value{}).String(); got != "None" {
		t.Fatalf("zero Value String = %q", got)
	}
}

func TestValueEqual(t *testing.T) {
	a, b := mustValue(t, 1), mustValue(t, 1.0)
	if a.Equal(b) {
		t.Fatal("int 1 and float 1.0 must differ")
	}
	if !a.Equal(mustValue(t, uint8(1))) {
		t.Fatal("int 1 and uint8 1 must be equal")
	}
	if !(Value{}).Equal(Value{}) || (Value{}).Equal(a) {
		t.Fatal("zero Value equality")
	}
	if !mustValue(t, "").Equal(mustValue(t, "")) || mustValue(t, "").Equal(mustValue(t, []byte{})) {
		t.Fatal("empty str vs empty bytes")
	}
	// Raw returns a copy.
	r := a.encoded()
	r[0] = 0x7f
	if !a.Equal(mustValue(t, 1)) {
		t.Fatal("Raw must return a copy")
	}
}

// TestValueMsgpackArgs round-trips Values through msgpack inside an RPC
// argument list and compares the bytes with the datagrams recorded from
// Python's kademlia (store requests).
func TestValueMsgpackArgs(t *testing.T) {
	raw, err := os.ReadFile("testdata/python-reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Vectors []struct {
			Name string `json:"name"`
			Hex  string `json:"hex"`
		} `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	datagrams := map[string][]byte{}
	for _, v := range ref.Vectors {
		if v.Hex != "" {
			datagrams[v.Name] = mustHex(t, v.Hex)
		}
	}
	sender := mustHex(t, "14dc69de2a1e6087529f02b62fd2888c90d741d3")
	key := mustHex(t, "61ba747fe2f5b3d513c40550084c6284fbbc1094")
	tests := []struct {
		vector string
		in     any
	}{
		{"store_str", "my awesome value"},
		{"store_bytes", []byte{0, 1, 0xfe, 0xff}},
		{"store_int", 42},
		{"store_negative_int", -7},
		{"store_big_int", int64(1099511627779)},
		{"store_float", 3.25},
		{"store_bool", true},
	}
	for _, tt := range tests {
		t.Run(tt.vector, func(t *testing.T) {
			dg, ok := datagrams[tt.vector]
			if !ok {
				t.Fatalf("vector %s missing from testdata", tt.vector)
			}
			wantPayload := dg[21:] // type byte + 20-byte message id
			v := mustValue(t, tt.in)

			got, err := msgpack.Marshal([]any{"store", []any{sender, key, v}})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, wantPayload) {
				t.Fatalf("encoded %x\nwant    %x", got, wantPayload)
			}

			// Decode through the CustomDecoder, field by field.
			var outer []msgpack.RawMessage
			if err := msgpack.Unmarshal(wantPayload, &outer); err != nil || len(outer) != 2 {
				t.Fatalf("outer: %v (%d)", err, len(outer))
			}
			var args []msgpack.RawMessage
			if err := msgpack.Unmarshal(outer[1], &args); err != nil || len(args) != 3 {
				t.Fatalf("args: %v (%d)", err, len(args))
			}
			var dv Value
			if err := msgpack.Unmarshal(args[2], &dv); err != nil {
				t.Fatal(err)
			}
			if !dv.Equal(v) {
				t.Fatalf("decoded %x, want %x", dv.encoded(), v.encoded())
			}

			// Decode into an as_array struct holding a Value field.
			type storeArgs struct {
				_msgpack struct{} `msgpack:",as_array"`
				Sender   []byte
				Key      []byte
				Value    Value
			}
			var sa storeArgs
			if err := msgpack.Unmarshal(outer[1], &sa); err != nil {
				t.Fatal(err)
			}
			if !sa.Value.Equal(v) || !bytes.Equal(sa.Key, key) {
				t.Fatalf("struct decode: %x", sa.Value.encoded())
			}

			// Generic decoding to []any, then EncodeValue, gives the same Value.
			var generic []any
			if err := msgpack.Unmarshal(wantPayload, &generic); err != nil {
				t.Fatal(err)
			}
			gv, err := EncodeValue(generic[1].([]any)[2])
			if err != nil {
				t.Fatal(err)
			}
			if !gv.Equal(v) {
				t.Fatalf("generic decode re-encoded to %x, want %x", gv.encoded(), v.encoded())
			}
		})
	}
}

func TestValueMsgpackErrors(t *testing.T) {
	if _, err := msgpack.Marshal([]any{Value{}}); !errors.Is(err, ErrValueType) {
		t.Fatalf("encoding zero Value: %v", err)
	}
	var v Value
	// msgpack nil never reaches DecodeMsgpack: the library leaves the zero
	// Value, which Storage.Put rejects.
	if err := msgpack.Unmarshal(mustHex(t, "c0"), &v); err != nil || !v.IsZero() {
		t.Fatalf("decoding nil: %v, zero=%v", err, v.IsZero())
	}
	for _, in := range []string{"9101", "80", "d40100"} {
		if err := msgpack.Unmarshal(mustHex(t, in), &v); !errors.Is(err, ErrValueType) {
			t.Fatalf("decoding %s: %v, want ErrValueType", in, err)
		}
	}
	if err := msgpack.Unmarshal(mustHex(t, "cd00"), &v); err == nil {
		t.Fatal("decoding truncated input succeeded")
	}
	var vs []Value
	if err := msgpack.Unmarshal(mustHex(t, "922a90"), &vs); !errors.Is(err, ErrValueType) {
		t.Fatalf("decoding [42, []] into []Value: %v", err)
	}
}

func FuzzValueFromMsgpack(f *testing.F) {
	for _, s := range []string{
		"2a", "f9", "cf0000010000000003", "cb400a000000000000", "c3", "c2",
		"b06d7920617765736f6d652076616c7565", "c4040001feff", "c0", "90", "80",
		"d02a", "ca3fc00000", "d90161", "c6ffffffff", "a1ff", "2a2a", "",
		"dc0000", "d40100", "c70101ff", "db0000000161",
	} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		v, err := valueFromMsgpack(raw)
		if err != nil {
			if !errors.Is(err, ErrValueType) {
				t.Fatalf("error %v does not wrap ErrValueType", err)
			}
			if !v.IsZero() {
				t.Fatal("non-zero Value returned with an error")
			}
			return
		}
		// Canonical form is a fixed point.
		again, err := valueFromMsgpack(v.encoded())
		if err != nil || !again.Equal(v) {
			t.Fatalf("canonical %x not stable: %x, %v", v.encoded(), again.encoded(), err)
		}
		x, err := v.Interface()
		if err != nil {
			t.Fatalf("Interface: %v", err)
		}
		re, err := EncodeValue(x)
		if err != nil || !re.Equal(v) {
			t.Fatalf("EncodeValue(Interface()) = %x, %v; want %x", re.encoded(), err, v.encoded())
		}
		_ = v.String()
		// Round trip through the msgpack CustomEncoder/CustomDecoder.
		enc, err := msgpack.Marshal([]any{v})
		if err != nil {
			t.Fatal(err)
		}
		var back []Value
		if err := msgpack.Unmarshal(enc, &back); err != nil || len(back) != 1 || !back[0].Equal(v) {
			t.Fatalf("msgpack round trip: %v", err)
		}
	})
}
