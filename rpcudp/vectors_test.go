package rpcudp

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// vector is one recorded datagram from testdata/python-reference.json.
type vector struct {
	Name       string          `json:"name"`
	Kind       string          `json:"kind"`
	Hex        string          `json:"hex"`
	RequestHex string          `json:"request_hex"`
	Type       int             `json:"type"`
	MsgID      string          `json:"msgid"`
	Decoded    json.RawMessage `json:"decoded"`
}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	raw, err := os.ReadFile("testdata/python-reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct{ Vectors []vector }
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Vectors) < 20 {
		t.Fatalf("only %d vectors", len(file.Vectors))
	}
	return file.Vectors
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fromJSON turns the vectors' JSON notation into the Go values a msgpack
// encoder packs the same way: {"bin": hex} -> []byte, {"map": pairs} ->
// map[string]any, {"float": x} -> float64, whole numbers -> int64.
func fromJSON(t *testing.T, raw json.RawMessage) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return convertJSON(t, v)
}

func convertJSON(t *testing.T, v any) any {
	switch v := v.(type) {
	case json.Number:
		i, err := v.Int64()
		if err != nil {
			t.Fatalf("number %s: %v", v, err)
		}
		return i
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = convertJSON(t, x)
		}
		return out
	case map[string]any:
		switch {
		case v["bin"] != nil:
			b, err := hex.DecodeString(v["bin"].(string))
			if err != nil {
				t.Fatal(err)
			}
			return b
		case v["float"] != nil:
			f, err := v["float"].(json.Number).Float64()
			if err != nil {
				t.Fatal(err)
			}
			return f
		case v["map"] != nil:
			m := map[string]any{}
			for _, kv := range v["map"].([]any) {
				pair := kv.([]any)
				m[pair[0].(string)] = convertJSON(t, pair[1])
			}
			return m
		}
		t.Fatalf("unknown JSON notation %v", v)
	}
	return v
}

// normalize msgpack-decoded values to the same shapes as convertJSON.
func normalizeDecoded(v any) any {
	switch v := v.(type) {
	case int8:
		return int64(v)
	case int16:
		return int64(v)
	case int32:
		return int64(v)
	case uint8:
		return int64(v)
	case uint16:
		return int64(v)
	case uint32:
		return int64(v)
	case uint64:
		return int64(v)
	case float32:
		return float64(v)
	case []any:
		for i := range v {
			v[i] = normalizeDecoded(v[i])
		}
	case map[string]any:
		for k := range v {
			v[k] = normalizeDecoded(v[k])
		}
	}
	return v
}

func decodeBody(t *testing.T, body []byte) any {
	t.Helper()
	var v any
	if err := msgpack.Unmarshal(body, &v); err != nil {
		t.Fatalf("decode body %x: %v", body, err)
	}
	return normalizeDecoded(v)
}

// TestVectorsDecode decodes every recorded datagram with this package's
// parser and checks the decoded values.
func TestVectorsDecode(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			switch v.Kind {
			case "request":
				b := mustHex(t, v.Hex)
				h, body, err := parseHeader(b)
				if err != nil {
					t.Fatal(err)
				}
				if h.typ != typeRequest || hex.EncodeToString(h.id[:]) != v.MsgID && v.MsgID != "" {
					t.Fatalf("header = %x/%x, want 0/%s", h.typ, h.id, v.MsgID)
				}
				method, nargs, args, err := parseRequest(body)
				if err != nil {
					t.Fatal(err)
				}
				want := fromJSON(t, v.Decoded).([]any)
				if string(method) != want[0].(string) {
					t.Errorf("method = %q, want %q", method, want[0])
				}
				wantArgs := want[1].([]any)
				if nargs != len(wantArgs) {
					t.Fatalf("nargs = %d, want %d", nargs, len(wantArgs))
				}
				req := &Request{Method: string(method), nargs: nargs, args: args, codecs: &codecPool{}}
				got := make([]any, nargs)
				ptrs := make([]any, nargs)
				for i := range got {
					ptrs[i] = &got[i]
				}
				if err := req.DecodeArgs(ptrs...); err != nil {
					t.Fatal(err)
				}
				if g := normalizeDecoded(got); !reflect.DeepEqual(g, wantArgs) {
					t.Errorf("args = %#v, want %#v", g, wantArgs)
				}
			case "response":
				b := mustHex(t, v.Hex)
				h, body, err := parseHeader(b)
				if err != nil {
					t.Fatal(err)
				}
				if h.typ != typeResponse {
					t.Fatalf("type = %x", h.typ)
				}
				req := mustHex(t, v.RequestHex)
				if !bytes.Equal(req[1:headerLen], h.id[:]) {
					t.Errorf("reply id %x does not match request id %x", h.id, req[1:headerLen])
				}
				if got, want := decodeBody(t, body), fromJSON(t, v.Decoded); !reflect.DeepEqual(got, want) {
					t.Errorf("body = %#v, want %#v", got, want)
				}
			case "no-answer":
				b := mustHex(t, v.RequestHex)
				h, body, err := parseHeader(b)
				if err != nil {
					return // short datagram: dropped, as Python does
				}
				if h.typ == typeRequest {
					if _, _, _, err := parseRequest(body); err != nil {
						t.Fatal(err)
					}
				}
			}
		})
	}
}

// TestVectorsEncode encodes the same calls and replies and checks the bytes
// equal Python's (every vector is in msgpack's canonical smallest form).
func TestVectorsEncode(t *testing.T) {
	e := New(&nopConn{})
	defer e.Close()
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			switch v.Kind {
			case "request":
				want := mustHex(t, v.Hex)
				call := fromJSON(t, v.Decoded).([]any)
				var id msgID
				copy(id[:], want[1:headerLen])
				got, err := e.encodeRequest(nil, typeRequest, id, call[0].(string), call[1].([]any))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("encoded\n %x\nwant\n %x", got, want)
				}
			case "response":
				want := mustHex(t, v.Hex)
				c := e.codecs.get()
				defer e.codecs.put(c)
				got, err := c.encode(append([]byte(nil), want[:headerLen]...), fromJSON(t, v.Decoded))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("encoded\n %x\nwant\n %x", got, want)
				}
			}
		})
	}
}

// TestVectorsServe sends every recorded request datagram to a live
// endpoint whose handlers record their arguments, and checks what they saw;
// the no-answer vectors get no Python-style reply.
func TestVectorsServe(t *testing.T) {
	vecs := loadVectors(t)
	server := newTestEndpoint(t, "127.0.0.1:0")
	seen := make(chan []any, 1)
	record := func(_ context.Context, req *Request) (any, error) {
		args, err := req.RawArgs()
		if err != nil {
			return nil, err
		}
		out := make([]any, len(args))
		for i, a := range args {
			var v any
			if err := msgpack.Unmarshal(a, &v); err != nil {
				return nil, err
			}
			out[i] = normalizeDecoded(v)
		}
		seen <- append([]any{req.Method}, out...)
		return true, nil
	}
	for _, m := range []string{"sayhi", "ping", "stun", "find_node", "find_value", "store", "status", "complex"} {
		if err := server.Handle(m, HandlerFunc(record)); err != nil {
			t.Fatal(err)
		}
	}
	client := rawSocket(t)
	for _, v := range vecs {
		if v.Kind != "request" {
			continue
		}
		t.Run(v.Name, func(t *testing.T) {
			send(t, client, mustHex(t, v.Hex), server.LocalAddr())
			reply := readDatagram(t, client)
			if reply[0] != typeResponse || !bytes.Equal(reply[1:headerLen], mustHex(t, v.Hex)[1:headerLen]) || reply[headerLen] != 0xc3 {
				t.Errorf("reply %x, want response true under the same id", reply)
			}
			got := <-seen
			want := fromJSON(t, v.Decoded).([]any)
			if got[0] != want[0] || !reflect.DeepEqual(got[1:], want[1].([]any)) && !(len(got) == 1 && len(want[1].([]any)) == 0) {
				t.Errorf("handler saw %#v, want %#v", got, want)
			}
		})
	}
}

func (v vector) String() string { return fmt.Sprintf("%s(%s)", v.Name, v.Kind) }

var _ = netip.AddrPort{}
