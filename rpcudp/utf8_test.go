package rpcudp

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rpcudp/go-rpcudp/rpcudp/wire"
	"github.com/vmihailenco/msgpack/v5"
)

// A Python peer's decoder drops a whole datagram with a str that is not
// valid UTF-8 (InvalidStringException), so nothing leaves as a str unless
// it is valid UTF-8.

const badUTF8 = "caf\xe9" // Latin-1, not UTF-8

// TestBadArgumentFailsAtOnce: a call or notification whose method name or
// argument holds invalid UTF-8 fails with ErrInvalidUTF8 before anything
// is sent.
func TestBadArgumentFailsAtOnce(t *testing.T) {
	e := newTestEndpoint(t, "127.0.0.1:0")
	to := rawSocket(t).LocalAddr().(interface{ AddrPort() netip.AddrPort }).AddrPort()
	ctx := testCtx(t)
	tests := []struct {
		name   string
		method string
		args   []any
	}{
		{"string argument", "echo", []any{badUTF8}},
		{"second argument", "echo", []any{"ok", badUTF8}},
		{"nested in a slice", "echo", []any{[]any{1, []string{badUTF8}}}},
		{"map key", "echo", []any{map[string]int{badUTF8: 1}}},
		{"map value", "echo", []any{map[string]any{"k": badUTF8}}},
		{"method name", badUTF8, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.Stats().DatagramsOut
			_, err := e.Call(ctx, to, tt.method, tt.args...)
			if !errors.Is(err, ErrInvalidUTF8) {
				t.Fatalf("Call: err = %v, want ErrInvalidUTF8", err)
			}
			if err := e.Notify(ctx, to, tt.method, tt.args...); !errors.Is(err, ErrInvalidUTF8) {
				t.Fatalf("Notify: err = %v, want ErrInvalidUTF8", err)
			}
			if s := e.Stats(); s.DatagramsOut != before || s.Pending != 0 {
				t.Errorf("sent %d datagrams, %d pending", s.DatagramsOut-before, s.Pending)
			}
		})
	}
	// The same bytes as []byte (msgpack bin) are fine, and so is a
	// msgpack.RawMessage, sent as it is.
	if err := e.Notify(ctx, to, "echo", []byte(badUTF8)); err != nil {
		t.Errorf("bin argument: %v", err)
	}
	if err := e.Notify(ctx, to, "echo", msgpack.RawMessage{0xa1, 0xff}); err != nil {
		t.Errorf("raw argument: %v", err)
	}
}

// TestBadResultIsErrorReply: a handler's result holding invalid UTF-8,
// through every handler form, becomes an error reply; the datagram that
// leaves is valid.
func TestBadResultIsErrorReply(t *testing.T) {
	server := newTestEndpoint(t, "127.0.0.1:0")
	server.Handle("func1", func(_ context.Context, _ netip.AddrPort, s string) (string, error) { return s + badUTF8, nil })
	server.Handle("reflect", func(_ context.Context, _ netip.AddrPort) ([]any, error) { return []any{badUTF8}, nil })
	server.Handle("raw", HandlerFunc(func(context.Context, *Request) (any, error) { return map[string]int{badUTF8: 1}, nil }))
	client := newTestEndpoint(t, "127.0.0.1:0")
	ctx := testCtx(t)
	for _, m := range []string{"func1", "reflect", "raw"} {
		var err error
		if m == "func1" {
			_, err = client.Call(ctx, server.LocalAddr(), m, "x")
		} else {
			_, err = client.Call(ctx, server.LocalAddr(), m)
		}
		var re *RemoteError
		if !errors.As(err, &re) || !errors.Is(err, ErrHandler) || !strings.Contains(re.Message, "UTF-8") {
			t.Errorf("%s: err = %v, want a remote handler error about UTF-8", m, err)
		}
	}
	// The same through an interceptor: the typed handler does not pack it.
	ic := newTestEndpoint(t, "127.0.0.1:0", WithInterceptors(func(ctx context.Context, req *Request, next HandlerFunc) (any, error) {
		return next(ctx, req)
	}))
	ic.Handle("func1", func(_ context.Context, _ netip.AddrPort, s string) (string, error) { return s + badUTF8, nil })
	if _, err := client.Call(ctx, ic.LocalAddr(), "func1", "x"); !errors.Is(err, ErrHandler) {
		t.Errorf("with an interceptor: err = %v, want ErrHandler", err)
	}
}

// TestErrorRepliesAreValid: error messages and method names quoted in
// error replies are made valid UTF-8, whatever the handler's error or the
// peer's method name held.
func TestErrorRepliesAreValid(t *testing.T) {
	server := newTestEndpoint(t, "127.0.0.1:0")
	server.Handle("fail", func(context.Context, netip.AddrPort) error { return errors.New("no " + badUTF8) })
	server.Handle("long", func(context.Context, netip.AddrPort) error {
		return errors.New(strings.Repeat("é", maxErrorMessage)) // cut inside a character
	})
	raw := rawSocket(t)
	id := msgID{1, 2, 3}
	for _, method := range []string{"fail", "long", "no-such-" + badUTF8} {
		b := appendRequestHeader(nil, typeRequest, id, method, 0)
		send(t, raw, b, server.LocalAddr())
		reply := readDatagram(t, raw)
		if reply[0] != typeError || !wire.ValidUTF8(reply[headerLen:]) {
			t.Fatalf("%q: reply %x is not a valid error reply", method, reply)
		}
		rerr, err := parseErrorBody(reply[headerLen:])
		if err != nil || !utf8.ValidString(rerr.Message) || len(rerr.Message) > maxErrorMessage {
			t.Errorf("%q: %v, %+v", method, err, rerr)
		}
	}
}

func TestValidUTF8Cut(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"plain", 10, "plain"},
		{"plain", 3, "pla"},
		{"a\xffb", 10, "a\uFFFDb"},
		{"aé", 2, "a"}, // é is 2 bytes: not split
		{"日本", 4, "日"},
		{"日本", 2, ""},
	}
	for _, tt := range tests {
		if got := validUTF8(tt.in, tt.max); got != tt.want {
			t.Errorf("validUTF8(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
}
