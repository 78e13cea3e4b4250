package rpcudp

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/rpcudp/go-rpcudp/rpcudp/wire"
	"github.com/vmihailenco/msgpack/v5"
)

// pyValue is one value from testdata/python-values.json: how Python's
// u-msgpack packs it.
type pyValue struct {
	Name    string          `json:"name"`
	Python  string          `json:"python"`
	Decoded json.RawMessage `json:"decoded"`
	Hex     *string         `json:"hex"`
}

// loadPyValues returns every value of testdata/python-values.json with its
// packed bytes; a value recorded without them (too large to list) is
// described in "decoded" ({"str_of_x": n}) and packed here.
func loadPyValues(t *testing.T) map[string][]byte {
	t.Helper()
	raw, err := os.ReadFile("testdata/python-values.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct{ Values []pyValue }
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, v := range file.Values {
		if v.Hex != nil {
			out[v.Name] = mustHex(t, *v.Hex)
			continue
		}
		var gen struct {
			StrOfX int `json:"str_of_x"`
		}
		if err := json.Unmarshal(v.Decoded, &gen); err != nil || gen.StrOfX == 0 {
			t.Fatalf("%s: no hex and no known description: %s", v.Name, v.Decoded)
		}
		out[v.Name] = wire.AppendStr(nil, strings.Repeat("x", gen.StrOfX))
	}
	if len(out) < 25 {
		t.Fatalf("only %d values", len(out))
	}
	return out
}

// canon describes one msgpack value by family and value, maps with their
// pairs sorted (Python compares dicts without order) and integers by value
// whatever their width, so that two encodings of the same Python value
// describe alike.
func canon(b []byte) (string, []byte, error) {
	if len(b) == 0 {
		return "", nil, fmt.Errorf("cut short")
	}
	switch k := wire.KindOf(b[0]); k {
	case wire.Array:
		n, rest, err := wire.ReadArrayLen(b)
		if err != nil {
			return "", nil, err
		}
		items := make([]string, n)
		for i := range items {
			if items[i], rest, err = canon(rest); err != nil {
				return "", nil, err
			}
		}
		return "[" + strings.Join(items, ",") + "]", rest, nil
	case wire.Map:
		n, rest, err := wire.ReadMapLen(b)
		if err != nil {
			return "", nil, err
		}
		pairs := make([]string, n)
		for i := range pairs {
			var k, v string
			if k, rest, err = canon(rest); err != nil {
				return "", nil, err
			}
			if v, rest, err = canon(rest); err != nil {
				return "", nil, err
			}
			pairs[i] = k + ":" + v
		}
		slices.Sort(pairs)
		return "{" + strings.Join(pairs, ",") + "}", rest, nil
	case wire.Float:
		v, rest, err := wire.ReadScalar(b)
		if err != nil {
			return "", nil, err
		}
		width := "f64"
		if b[0] == 0xca {
			width = "f32"
		}
		return fmt.Sprintf("%s:%x", width, math.Float64bits(v.(float64))), rest, nil
	default:
		v, rest, err := wire.ReadScalar(b)
		return fmt.Sprintf("%s:%#v", k, v), rest, err
	}
}

func mustCanon(t *testing.T, b []byte) string {
	t.Helper()
	s, rest, err := canon(b)
	if err != nil || len(rest) != 0 {
		t.Fatalf("canon(%x): %v (%d bytes left)", b, err, len(rest))
	}
	return s
}

// reencode packs v as a reply or argument is packed.
func reencode(t *testing.T, v any) []byte {
	t.Helper()
	var cp codecPool
	c := cp.get()
	b, err := c.encode(nil, v)
	if err != nil {
		t.Fatalf("encode %#v: %v", v, err)
	}
	return b
}

// TestPythonValuesReply: every value a Python peer may answer with decodes
// into an interface with Reply.Decode and packs back to the same value of
// the same msgpack families (bin keys, int, float, bool and nil keys
// included).
func TestPythonValuesReply(t *testing.T) {
	for name, b := range loadPyValues(t) {
		t.Run(name, func(t *testing.T) {
			var v any
			if err := Reply(b).Decode(&v); err != nil {
				t.Fatalf("Decode(%x): %v", b, err)
			}
			if got, want := mustCanon(t, reencode(t, v)), mustCanon(t, b); got != want {
				t.Errorf("round trip of %x:\n got %s\nwant %s", b, got, want)
			}
		})
	}
}

// TestPythonValuesArgs: every value a Python peer may pass as an argument
// reaches a handler decoding into an interface (DecodeArgs, a typed
// handler through reflection, Func1) and, sent back as the reply, arrives
// as the same value of the same msgpack families.
func TestPythonValuesArgs(t *testing.T) {
	server := newTestEndpoint(t, "127.0.0.1:0")
	server.Handle("decode_args", HandlerFunc(func(_ context.Context, req *Request) (any, error) {
		var v any
		err := req.DecodeArgs(&v)
		return v, err
	}))
	server.Handle("typed", func(_ context.Context, _ netip.AddrPort, v any) (any, error) { return v, nil })
	server.Handle("func1", func(_ context.Context, _ netip.AddrPort, v any) (any, error) { return v, nil })
	server.Handle("variadic", func(_ context.Context, _ netip.AddrPort, vs ...any) (any, error) { return vs[0], nil })
	client := newTestEndpoint(t, "127.0.0.1:0")
	ctx := testCtx(t)
	for name, b := range loadPyValues(t) {
		for _, m := range []string{"decode_args", "typed", "func1", "variadic"} {
			t.Run(name+"/"+m, func(t *testing.T) {
				reply, err := client.Call(ctx, server.LocalAddr(), m, msgpack.RawMessage(b))
				if err != nil {
					t.Fatal(err)
				}
				if got, want := mustCanon(t, reply), mustCanon(t, b); got != want {
					t.Errorf("round trip of %x:\n got %s\nwant %s", b, got, want)
				}
			})
		}
	}
}

// TestDecodeMapping checks the Go types maps decode into.
func TestDecodeMapping(t *testing.T) {
	vals := loadPyValues(t)
	decode := func(name string) any {
		var v any
		if err := Reply(vals[name]).Decode(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if m, ok := decode("map_str_keys").(map[string]any); !ok || len(m) != 2 {
		t.Errorf("str keys: %#v, want map[string]any", m)
	}
	if m, ok := decode("map_bytes_key").(map[any]any); !ok || m[Bin("k")] == nil {
		t.Errorf("bin key: %#v, want map[any]any with a Bin key", m)
	}
	if m, ok := decode("map_mixed_keys").(map[any]any); !ok || m["b"] == nil || m[Bin("c")] == nil || m[int8(1)] != "a" {
		t.Errorf("mixed keys: %#v", m)
	}
	if m, ok := decode("map_none_key").(map[any]any); !ok || m[nil] == nil {
		t.Errorf("nil key: %#v", m)
	}
	// A key Go cannot hash (a Python tuple) is an error, not a panic.
	var v any
	if err := Reply([]byte{0x81, 0x92, 0x01, 0x02, 0xc3}).Decode(&v); err == nil {
		t.Errorf("array key decoded as %#v", v)
	}
	// A Bin packs as bin, decodes from bin.
	b := reencode(t, Bin("k"))
	var back Bin
	if hex.EncodeToString(b) != "c4016b" || Reply(b).Decode(&back) != nil || back != "k" {
		t.Errorf("Bin packs as %x, decodes as %q", b, back)
	}
}
