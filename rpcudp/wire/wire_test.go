package wire

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// compact encodes v with vmihailenco/msgpack set up the way Python packs
// integers (smallest form), the reference for the Append functions.
func compact(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestAppendMatchesMsgpack(t *testing.T) {
	ints := []int64{0, 1, 127, 128, 255, 256, 65535, 65536, math.MaxUint32, math.MaxUint32 + 1, math.MaxInt64,
		-1, -32, -33, -128, -129, -32768, -32769, math.MinInt32, math.MinInt32 - 1, math.MinInt64}
	for _, x := range ints {
		if got, want := AppendInt(nil, x), compact(t, x); !bytes.Equal(got, want) {
			t.Errorf("AppendInt(%d) = %x, want %x", x, got, want)
		}
	}
	for _, x := range []uint64{0, 127, 128, math.MaxUint8 + 1, math.MaxUint64} {
		if got, want := AppendUint(nil, x), compact(t, x); !bytes.Equal(got, want) {
			t.Errorf("AppendUint(%d) = %x, want %x", x, got, want)
		}
	}
	for _, n := range []int{0, 1, 31, 32, 255, 256, 65535, 65536} {
		s := strings.Repeat("x", n)
		if got, want := AppendStr(nil, s), compact(t, s); !bytes.Equal(got, want) {
			t.Errorf("AppendStr(%d bytes) = %x..., want %x...", n, got[:min(len(got), 6)], want[:min(len(want), 6)])
		}
		p := []byte(s)
		if got, want := AppendBin(nil, p), compact(t, p); !bytes.Equal(got, want) {
			t.Errorf("AppendBin(%d bytes) = %x..., want %x...", n, got[:min(len(got), 6)], want[:min(len(want), 6)])
		}
	}
	for _, n := range []int{0, 15, 16, 65535, 65536} {
		a := make([]any, n)
		for i := range a {
			a[i] = nil
		}
		if got, want := AppendArrayLen(nil, n), compact(t, a); !bytes.HasPrefix(want, got) || len(want)-len(got) != n {
			t.Errorf("AppendArrayLen(%d) = %x, want the header of %x...", n, got, want[:min(len(want), 6)])
		}
	}
	for _, n := range []int{0, 15, 16, 65536} {
		m := make(map[int]bool, n)
		for i := range n {
			m[i] = true
		}
		want := compact(t, m)
		if got := AppendMapLen(nil, n); !bytes.Equal(got, want[:len(got)]) {
			t.Errorf("AppendMapLen(%d) = %x, want the header of %x...", n, got, want[:6])
		}
	}
	for _, f := range []float64{0, 1.5, math.Inf(-1)} {
		if got, want := AppendFloat(nil, f), compact(t, f); !bytes.Equal(got, want) {
			t.Errorf("AppendFloat(%v) = %x, want %x", f, got, want)
		}
	}
	for _, tc := range []struct {
		got, want []byte
	}{
		{AppendNil(nil), []byte{0xc0}},
		{AppendBool(nil, false), []byte{0xc2}},
		{AppendBool(nil, true), []byte{0xc3}},
		{AppendBin(nil, nil), []byte{0xc4, 0}},
	} {
		if !bytes.Equal(tc.got, tc.want) {
			t.Errorf("got %x, want %x", tc.got, tc.want)
		}
	}
}

func TestAppendAllocatesNothing(t *testing.T) {
	b := make([]byte, 0, 256)
	allocs := testing.AllocsPerRun(100, func() {
		b = AppendArrayLen(b[:0], 3)
		b = AppendInt(b, -1000)
		b = AppendStr(b, "hello")
		b = AppendBin(b, []byte{1, 2, 3})
		b = AppendFloat(b, 2.5)
	})
	if allocs != 0 {
		t.Errorf("%v allocations", allocs)
	}
}

func TestSkip(t *testing.T) {
	good := [][]byte{
		{0x00}, {0x7f}, {0xe0}, {0xc0}, {0xc2}, {0xc3},
		{0xcc, 1}, {0xcd, 1, 2}, {0xce, 1, 2, 3, 4}, {0xcf, 1, 2, 3, 4, 5, 6, 7, 8},
		{0xd0, 1}, {0xd1, 1, 2}, {0xd2, 1, 2, 3, 4}, {0xd3, 1, 2, 3, 4, 5, 6, 7, 8},
		{0xca, 1, 2, 3, 4}, {0xcb, 1, 2, 3, 4, 5, 6, 7, 8},
		{0xa1, 'x'}, {0xd9, 1, 'x'}, {0xda, 0, 1, 'x'}, {0xdb, 0, 0, 0, 1, 'x'},
		{0xc4, 1, 9}, {0xc5, 0, 1, 9}, {0xc6, 0, 0, 0, 1, 9},
		{0xd4, 1, 9}, {0xd5, 1, 9, 9}, {0xd6, 1, 9, 9, 9, 9}, {0xd8, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		{0xc7, 1, 5, 9}, {0xc8, 0, 1, 5, 9}, {0xc9, 0, 0, 0, 1, 5, 9},
		{0x92, 0x01, 0xa1, 'x'}, {0xdc, 0, 1, 0xc0}, {0xdd, 0, 0, 0, 1, 0xc0},
		{0x81, 0xa1, 'k', 0x01}, {0xde, 0, 1, 0x01, 0x02}, {0xdf, 0, 0, 0, 1, 0x01, 0x02},
		append(bytes.Repeat([]byte{0x91}, MaxDepth), 0xc0), // the deepest nesting accepted
	}
	for _, b := range good {
		if err := Validate(b); err != nil {
			t.Errorf("%x: %v", b, err)
		}
		if rest, err := Skip(append(b, 0x2a)); err != nil || !bytes.Equal(rest, []byte{0x2a}) {
			t.Errorf("Skip(%x 2a) = %x, %v", b, rest, err)
		}
	}
	bad := [][]byte{
		{}, {0xc1}, {0xcc}, {0xcd, 1}, {0xa2, 'x'}, {0xd9}, {0xc4, 2, 1}, {0xd4, 1},
		{0xc7, 2, 5, 9}, {0x92, 0x01}, {0xdc, 0xff, 0xff}, {0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0},
		{0x81, 0xa1, 'k'}, {0xdf, 0xff, 0xff, 0xff, 0xff}, {0x01, 0x02},
		bytes.Repeat([]byte{0x91}, MaxDepth+2),
	}
	for _, b := range bad {
		if err := Validate(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%x: err = %v, want ErrMalformed", b, err)
		}
	}
}

func TestSkipAllocatesNothing(t *testing.T) {
	b := []byte{0x93, 0xa3, 'a', 'b', 'c', 0x92, 0xcd, 1, 2, 0xc4, 2, 0, 0, 0x81, 0xa1, 'k', 0xc3}
	if allocs := testing.AllocsPerRun(100, func() { _, _ = Skip(b) }); allocs != 0 {
		t.Errorf("%v allocations", allocs)
	}
}

func TestRead(t *testing.T) {
	b := AppendArrayLen(nil, 2)
	b = AppendStr(b, "m")
	b = AppendMapLen(b, 1)
	b = AppendBin(b, []byte{7})
	b = AppendNil(b)
	n, rest, err := ReadArrayLen(b)
	if err != nil || n != 2 {
		t.Fatalf("ReadArrayLen = %d, %v", n, err)
	}
	s, rest, err := ReadStr(rest)
	if err != nil || string(s) != "m" {
		t.Fatalf("ReadStr = %q, %v", s, err)
	}
	if _, _, err := ReadArrayLen(rest); !errors.Is(err, ErrType) {
		t.Fatalf("ReadArrayLen on a map: %v, want ErrType", err)
	}
	n, rest, err = ReadMapLen(rest)
	if err != nil || n != 1 {
		t.Fatalf("ReadMapLen = %d, %v", n, err)
	}
	p, rest, err := ReadBin(rest)
	if err != nil || !bytes.Equal(p, []byte{7}) {
		t.Fatalf("ReadBin = %x, %v", p, err)
	}
	if !bytes.Equal(rest, []byte{0xc0}) {
		t.Fatalf("rest = %x", rest)
	}
	for _, b := range [][]byte{{}, {0xa2, 'x'}, {0xd9}, {0xc1}} {
		if _, _, err := ReadStr(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("ReadStr(%x): %v, want ErrMalformed", b, err)
		}
	}
	if _, _, err := ReadBin([]byte{0xa1, 'x'}); !errors.Is(err, ErrType) {
		t.Errorf("ReadBin(str): %v, want ErrType", err)
	}
}

func TestReadScalar(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want any
	}{
		{AppendNil(nil), nil},
		{AppendBool(nil, true), true},
		{AppendBool(nil, false), false},
		{AppendInt(nil, -1), int64(-1)},
		{AppendInt(nil, 127), int64(127)},
		{AppendInt(nil, -129), int64(-129)},
		{AppendInt(nil, math.MinInt64), int64(math.MinInt64)},
		{AppendUint(nil, math.MaxInt64), int64(math.MaxInt64)},
		{AppendUint(nil, math.MaxUint64), uint64(math.MaxUint64)},
		{[]byte{0xd0, 0x05}, int64(5)},
		{AppendFloat(nil, 2.5), 2.5},
		{[]byte{0xca, 0x40, 0x20, 0, 0}, 2.5},
		{AppendStr(nil, "héllo"), "héllo"},
		{AppendBin(nil, []byte{1, 2}), []byte{1, 2}},
		{AppendBin(nil, nil), []byte{}},
	} {
		v, rest, err := ReadScalar(append(tc.in, 0x01))
		if err != nil || !bytes.Equal(rest, []byte{0x01}) {
			t.Errorf("ReadScalar(%x) rest %x, %v", tc.in, rest, err)
			continue
		}
		if p, ok := tc.want.([]byte); ok {
			if q, ok := v.([]byte); !ok || !bytes.Equal(p, q) || q == nil {
				t.Errorf("ReadScalar(%x) = %#v, want %#v", tc.in, v, tc.want)
			}
		} else if v != tc.want {
			t.Errorf("ReadScalar(%x) = %#v, want %#v", tc.in, v, tc.want)
		}
	}
	for _, tc := range []struct {
		in   []byte
		want error
	}{
		{nil, ErrMalformed}, {[]byte{0xc1}, ErrMalformed}, {[]byte{0xcb, 1}, ErrMalformed},
		{[]byte{0xa2, 'x'}, ErrMalformed}, {[]byte{0xa1, 0xff}, ErrMalformed}, {[]byte{0xc4, 3, 1}, ErrMalformed},
		{[]byte{0x90}, ErrType}, {[]byte{0x80}, ErrType}, {[]byte{0xd4, 1, 2}, ErrType}, {[]byte{0xdc, 0, 0}, ErrType},
	} {
		if _, _, err := ReadScalar(tc.in); !errors.Is(err, tc.want) {
			t.Errorf("ReadScalar(%x): %v, want %v", tc.in, err, tc.want)
		}
	}
}

func TestKindOf(t *testing.T) {
	want := map[Kind][]byte{
		Int:     {0x00, 0x7f, 0xe0, 0xff, 0xcc, 0xcf, 0xd0, 0xd3},
		Nil:     {0xc0},
		Bool:    {0xc2, 0xc3},
		Float:   {0xca, 0xcb},
		Str:     {0xa0, 0xbf, 0xd9, 0xda, 0xdb},
		Bin:     {0xc4, 0xc5, 0xc6},
		Array:   {0x90, 0x9f, 0xdc, 0xdd},
		Map:     {0x80, 0x8f, 0xde, 0xdf},
		Ext:     {0xd4, 0xd8, 0xc7, 0xc8, 0xc9},
		Invalid: {0xc1},
	}
	for k, codes := range want {
		for _, c := range codes {
			if got := KindOf(c); got != k {
				t.Errorf("KindOf(0x%02x) = %s, want %s", c, got, k)
			}
		}
	}
	if Kind(200).String() != "invalid" {
		t.Error("out-of-range Kind")
	}
}

func TestValidUTF8(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		want bool
	}{
		{"empty", nil, true},
		{"ascii", []byte{0xa2, 'h', 'i'}, true},
		{"unicode", []byte{0xa3, 0xe6, 0x97, 0xa5}, true},
		{"bad str", []byte{0xa1, 0xff}, false},
		{"bad str8", []byte{0xd9, 2, 'x', 0xc3}, false},
		{"bin is not checked", []byte{0xc4, 1, 0xff}, true},
		{"bad map key", []byte{0x81, 0xa1, 0xfe, 0x01}, false},
		{"bad nested", []byte{0x92, 0x01, 0x91, 0xa1, 0x80}, false},
		{"good nested", []byte{0x92, 0x01, 0x91, 0xa1, 'x'}, true},
		{"ext payload not checked", []byte{0xd4, 1, 0xff}, true},
		{"several values", []byte{0x01, 0xa1, 'x', 0xa1, 0xff}, false},
		{"cut short: not checked", []byte{0xa3, 'x', 0xff}, true},
		{"invalid code ends the check", []byte{0xc1, 0xa1, 0xff}, true},
		{"bad str before bad data", []byte{0xa1, 0xff, 0xc1}, false},
	}
	for _, tt := range tests {
		if got := ValidUTF8(tt.b); got != tt.want {
			t.Errorf("%s: ValidUTF8(%x) = %v, want %v", tt.name, tt.b, got, tt.want)
		}
	}
	if allocs := testing.AllocsPerRun(100, func() { ValidUTF8([]byte{0x92, 0xa1, 'x', 0xc4, 1, 0}) }); allocs != 0 {
		t.Errorf("%v allocations", allocs)
	}
}
