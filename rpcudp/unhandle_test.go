package rpcudp

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// TestUnhandle: a removed method is answered as unknown and leaves the
// introspection list; removing what is not there reports false.
func TestUnhandle(t *testing.T) {
	tests := []struct {
		name       string
		register   []string // before
		remove     string
		want       bool     // Unhandle's result
		stillServe []string // methods that must still answer
	}{
		{"registered", []string{"sayhi", "other"}, "sayhi", true, []string{"other"}},
		{"absent", []string{"other"}, "sayhi", false, []string{"other"}},
		{"only one", []string{"sayhi"}, "sayhi", true, nil},
		{"introspection", []string{"sayhi"}, methodsMethod, true, []string{"sayhi"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server := newTestEndpoint(t, "127.0.0.1:0")
			client := newTestEndpoint(t, "127.0.0.1:0")
			for _, n := range tt.register {
				if err := server.Handle(n, sayhi); err != nil {
					t.Fatal(err)
				}
			}
			if got := server.Unhandle(tt.remove); got != tt.want {
				t.Errorf("Unhandle(%q) = %v, want %v", tt.remove, got, tt.want)
			}
			if server.Unhandle(tt.remove) {
				t.Errorf("second Unhandle(%q) = true", tt.remove)
			}
			if slices.Contains(server.Methods(), tt.remove) {
				t.Errorf("Methods() = %v still lists %q", server.Methods(), tt.remove)
			}
			ctx := testCtx(t)
			_, err := client.Call(ctx, server.LocalAddr(), tt.remove, "x")
			if !errors.Is(err, ErrUnknownMethod) {
				t.Errorf("call %s after Unhandle: %v, want ErrUnknownMethod", tt.remove, err)
			}
			for _, n := range tt.stillServe {
				if _, err := client.Call(ctx, server.LocalAddr(), n, "x"); err != nil {
					t.Errorf("call %s: %v", n, err)
				}
			}
			// Handle again after Unhandle serves again.
			if err := server.Handle(tt.remove, sayhi); err != nil {
				t.Fatal(err)
			}
			if got, err := Invoke[string](ctx, client, server.LocalAddr(), tt.remove, "x"); err != nil || got != "Hello x" {
				t.Errorf("after Handle again: %q, %v", got, err)
			}
		})
	}
}

// TestAsHandlerNewRequest runs handlers Handle accepts on requests made
// outside an endpoint.
func TestAdapt(t *testing.T) {
	raw := func(v any) msgpack.RawMessage {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	from := netip.MustParseAddrPort("127.0.0.1:7")
	tests := []struct {
		name    string
		fn      any
		args    []msgpack.RawMessage
		want    any
		wantErr error
	}{
		{"typed", sayhi, []msgpack.RawMessage{raw("x")}, "Hello x", nil},
		{"variadic", func(_ context.Context, _ netip.AddrPort, a int, rest ...int) (int, error) {
			for _, r := range rest {
				a += r
			}
			return a, nil
		}, []msgpack.RawMessage{raw(1), raw(2), raw(3)}, 6, nil},
		{"from", func(_ context.Context, f netip.AddrPort) netip.AddrPort { return f }, nil, from, nil},
		{"HandlerFunc", HandlerFunc(func(_ context.Context, r *Request) (any, error) { return r.Method, nil }), nil, "m", nil},
		{"reflection", func(_ context.Context, _ netip.AddrPort, name string) string { return "Hello " + name }, []msgpack.RawMessage{raw("y")}, "Hello y", nil},
		{"too few", sayhi, nil, nil, ErrBadArgs},
		{"wrong type", sayhi, []msgpack.RawMessage{raw(1)}, nil, ErrBadArgs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := Adapt(tt.fn)
			if err != nil {
				t.Fatal(err)
			}
			got, err := h(context.Background(), &Request{From: from, Method: "outer"}, "m", tt.args)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if err == nil && got != tt.want {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
	for _, bad := range []any{nil, 3, func() {}, func(context.Context, netip.AddrPort) (int, int) { return 0, 0 }} {
		if _, err := Adapt(bad); !errors.Is(err, ErrBadHandler) {
			t.Errorf("Adapt(%T): %v, want ErrBadHandler", bad, err)
		}
	}
}
