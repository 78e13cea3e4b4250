package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// server starts an in-process rpcudp server for the test.
func server(t *testing.T) string {
	t.Helper()
	e, err := rpcudp.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	e.Handle("echo", func(_ context.Context, _ netip.AddrPort, v any) (any, error) { return v, nil })
	e.Handle("sayhi", func(_ context.Context, _ netip.AddrPort, name string) (string, error) { return "Hello " + name, nil })
	e.Handle("fail", func(context.Context, netip.AddrPort) error { return errors.New("no luck") })
	e.Handle("hexarg", rpcudp.HandlerFunc(func(_ context.Context, req *rpcudp.Request) (any, error) {
		raw, err := req.RawArgs()
		if err != nil || len(raw) != 1 {
			return nil, errors.New("one argument")
		}
		return hex.EncodeToString(raw[0]), nil
	}))
	return e.LocalAddr().String()
}

// silent is a UDP socket that never answers (a dead or Python peer for -list).
func silent(t *testing.T) string {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.LocalAddr().String()
}

func call(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCall(t *testing.T) {
	addr, dead := server(t), silent(t)
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   string
		inStderr string
	}{
		{"string", []string{addr, "sayhi", `"Snake"`}, 0, "\"Hello Snake\"\n", ""},
		{"echo ints and floats", []string{addr, "echo", `[1, -33, 2.5, {"float": "3"}, 18446744073709551615]`}, 0, "[1,-33,2.5,3.0,18446744073709551615]\n", ""},
		{"echo bin", []string{addr, "echo", `{"bin": "00ff"}`}, 0, "{\"bin\":\"00ff\"}\n", ""},
		{"echo map with str keys", []string{addr, "echo", `{"b": [true, null], "a": "<x>"}`}, 0, "{\"a\":\"<x>\",\"b\":[true,null]}\n", ""},
		{"echo map with other keys", []string{addr, "echo", `{"map": [[{"bin": "6b"}, 1], [7, "seven"], ["s", {"float": "inf"}]]}`}, 0,
			"{\"map\":[[\"s\",{\"float\":\"inf\"}],[7,\"seven\"],[{\"bin\":\"6b\"},1]]}\n", ""},
		{"error reply", []string{addr, "fail"}, 1, "", "error 1: no luck"},
		{"unknown method", []string{addr, "nope"}, 1, "", "error 2: unknown method"},
		{"no response", []string{"-timeout", "100ms", dead, "sayhi", `"x"`}, 2, "No response received.\n", ""},
		{"no response with retries", []string{"-timeout", "100ms", "-retry", "20ms", dead, "sayhi", `"x"`}, 2, "No response received.\n", ""},
		{"list", []string{"-list", addr}, 0, "echo\nfail\nhexarg\nrpcudp.methods\nsayhi\n", ""},
		{"list on a Python peer", []string{"-list", "-timeout", "100ms", dead}, 2, "No response received.\n", ""},
		{"bad JSON", []string{addr, "echo", `{x}`}, 3, "", "argument 1: not JSON"},
		{"two values", []string{addr, "echo", `1 2`}, 3, "", "more than one JSON value"},
		{"bad hex", []string{addr, "echo", `{"bin": "zz"}`}, 3, "", "must be hex"},
		{"missing method", []string{addr}, 3, "", "METHOD are required"},
		{"bad address", []string{"nowhere", "m"}, 3, "", "call:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := call(tt.args...)
			if code != tt.code || stdout != tt.stdout || !strings.Contains(stderr, tt.inStderr) {
				t.Errorf("call %q = %d\nstdout %q\nstderr %q\nwant %d, %q, stderr with %q", tt.args, code, stdout, stderr, tt.code, tt.stdout, tt.inStderr)
			}
		})
	}
}

// TestPythonNotation: every recorded Python value, written in the
// notation of python-values.json's "decoded" field, is sent packed as
// Python packs it.
func TestPythonNotation(t *testing.T) {
	addr := server(t)
	raw, err := os.ReadFile("../../rpcudp/testdata/python-values.json")
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
	multiKey := map[string]bool{"map_str_keys": true, "map_mixed_keys": true} // Go packs map pairs in any order
	for _, v := range file.Values {
		if v.Hex == nil {
			continue
		}
		t.Run(v.Name, func(t *testing.T) {
			code, stdout, stderr := call(addr, "hexarg", string(v.Decoded))
			var got string
			if code != 0 || json.Unmarshal([]byte(stdout), &got) != nil {
				t.Fatalf("exit %d, %q %q", code, stdout, stderr)
			}
			if multiKey[v.Name] && len(got) == len(*v.Hex) || got == *v.Hex {
				return
			}
			t.Errorf("%s sent as %s, Python packs %s", v.Decoded, got, *v.Hex)
		})
	}
}
