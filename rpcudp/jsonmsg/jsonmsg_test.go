package jsonmsg

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"reflect"
	"testing"

	"github.com/rpcudp/go-rpcudp/rpcudp"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want any
	}{
		{`"plain"`, "plain"},
		{`-33`, int64(-33)},
		{`18446744073709551615`, uint64(math.MaxUint64)},
		{`1.5`, 1.5},
		{`1e3`, 1000.0},
		{`{"float": "3"}`, 3.0},
		{`{"float": "-inf"}`, math.Inf(-1)},
		{`true`, true},
		{`null`, nil},
		{`{"bin": "00ff"}`, []byte{0, 0xff}},
		{`[1, "a", [null]]`, []any{int64(1), "a", []any{nil}}},
		{`{"a": 1}`, map[string]any{"a": int64(1)}},
		{`{"map": [[1, "a"], [{"bin": "6b"}, 2]]}`, map[any]any{int64(1): "a", rpcudp.Bin("k"): int64(2)}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Parse(%s) = %#v, %v; want %#v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{`hello`, `1 2`, `{"bin": "xyz"}`, `{"map": [[1]]}`, `{"map": [[[1], 2]]}`, `{"float": "x"}`} {
		if v, err := Parse(in); err == nil {
			t.Errorf("Parse(%s) = %#v, want an error", in, v)
		}
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		in   any
		want string
	}{
		{"a<b", `"a<b"`},
		{int64(7), `7`},
		{2.0, `2.0`},
		{float32(0.5), `0.5`},
		{math.NaN(), `{"float":"nan"}`},
		{math.Inf(1), `{"float":"inf"}`},
		{[]byte("hi"), `{"bin":"6869"}`},
		{map[any]any{"b": 2, int64(1): rpcudp.Bin("k")}, `{"map":[["b",2],[1,{"bin":"6b"}]]}`},
		{[]any{nil, true}, `[null,true]`},
	}
	for _, tt := range tests {
		if got, err := Format(tt.in); err != nil || got != tt.want {
			t.Errorf("Format(%#v) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

// TestRoundTrip reads every recorded Python value's notation, writes it
// and reads it back.
func TestRoundTrip(t *testing.T) {
	raw, err := os.ReadFile("../testdata/python-values.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Values []struct {
			Name    string
			Decoded json.RawMessage
			Hex     *string
		}
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, v := range file.Values {
		if v.Hex == nil {
			continue // described, not listed
		}
		parsed, err := Parse(string(v.Decoded))
		if err != nil {
			t.Errorf("%s: Parse(%s): %v", v.Name, v.Decoded, err)
			continue
		}
		out, err := Format(parsed)
		if err != nil {
			t.Errorf("%s: Format: %v", v.Name, err)
			continue
		}
		again, err := Parse(out)
		if err != nil || !sameValue(again, parsed) {
			t.Errorf("%s: %s read back as %#v, want %#v", v.Name, out, again, parsed)
		}
		checked++
	}
	if checked < 10 {
		t.Fatalf("only %d recorded values checked", checked)
	}
}

// sameValue is reflect.DeepEqual with NaN equal to itself.
func sameValue(a, b any) bool {
	if x, ok := a.(float64); ok && math.IsNaN(x) {
		y, ok := b.(float64)
		return ok && math.IsNaN(y)
	}
	return reflect.DeepEqual(a, b)
}

func ExampleParse() {
	v, err := Parse(`{"map": [[{"bin": "01"}, 1.5], ["n", 2]]}`)
	if err != nil {
		panic(err)
	}
	s, _ := Format(v)
	fmt.Println(s)
	// Output: {"map":[["n",2],[{"bin":"01"},1.5]]}
}
