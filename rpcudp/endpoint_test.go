package rpcudp

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name, addr string
	}{
		{"ipv4", "127.0.0.1:0"},
		{"ipv6", "[::1]:0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server := newTestEndpoint(t, tt.addr)
			if err := server.Handle("sayhi", sayhi); err != nil {
				t.Fatal(err)
			}
			client := newTestEndpoint(t, tt.addr)
			got, err := Invoke[string](testCtx(t), client, server.LocalAddr(), "sayhi", "Snake Plissken")
			if err != nil {
				t.Fatal(err)
			}
			if got != "Hello Snake Plissken" {
				t.Errorf("got %q", got)
			}
			if s := client.Stats(); s.CallsOK != 1 || s.Pending != 0 {
				t.Errorf("client stats %+v", s)
			}
		})
	}
}

// TestHandlerForms checks every handler form and argument shape.
// TestForgedReply: a reply with the right id from another socket is
// ignored and counted; the real reply still resolves the call.
func TestOversize(t *testing.T) {
	server := newTestEndpoint(t, "127.0.0.1:0")
	server.Handle("echo", func(_ context.Context, _ netip.AddrPort, b []byte) ([]byte, error) { return b, nil })
	server.Handle("big", func(_ context.Context, _ netip.AddrPort, n int) ([]byte, error) { return make([]byte, n), nil })
	client := newTestEndpoint(t, "127.0.0.1:0")
	ctx := testCtx(t)
	to := server.LocalAddr()

	t.Run("request refused at the sender", func(t *testing.T) {
		before := client.Stats().DatagramsOut
		_, err := client.Call(ctx, to, "echo", make([]byte, MaxBody))
		if !errors.Is(err, ErrMessageTooLarge) {
			t.Fatalf("err = %v, want ErrMessageTooLarge", err)
		}
		if client.Stats().DatagramsOut != before || client.Stats().Pending != 0 {
			t.Error("something was sent or left pending")
		}
	})
	t.Run("largest request that fits", func(t *testing.T) {
		// [ "echo", [ bin32 ] ] = 1 + 5 + 1 + 5 + n bytes
		n := MaxBody - 12
		if _, err := client.Call(ctx, to, "echo", make([]byte, n-100)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("reply too large is an error reply", func(t *testing.T) {
		_, err := client.Call(ctx, to, "big", MaxBody+1)
		if !errors.Is(err, ErrMessageTooLarge) {
			t.Fatalf("err = %v, want remote ErrMessageTooLarge", err)
		}
	})
	t.Run("oversize datagram dropped", func(t *testing.T) {
		raw := rawSocket(t)
		send(t, raw, make([]byte, maxDatagram+1), to)
		waitFor(t, "oversize drop", func() bool { return server.Stats().Drops.Oversize == 1 })
	})
}

func TestMalformedDatagrams(t *testing.T) {
	server := newTestEndpoint(t, "127.0.0.1:0")
	server.Handle("sayhi", sayhi)
	raw := rawSocket(t)
	id := bytes.Repeat([]byte{7}, idLen)
	dg := func(typ byte, body ...byte) []byte { return append(append([]byte{typ}, id...), body...) }
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"one byte", []byte{0}},
		{"header only", dg(typeRequest)},
		{"unknown type", dg(0x07, 0x92, 0xa1, 'x', 0x90)},
		{"not an array", dg(typeRequest, 0xc3)},
		{"array of 3", dg(typeRequest, 0x93, 0xa1, 'x', 0x90, 0xc0)},
		{"method as bin", dg(typeRequest, 0x92, 0xc4, 0x01, 'x', 0x90)},
		{"method as int", dg(typeRequest, 0x92, 0x01, 0x90)},
		{"truncated str", dg(typeRequest, 0x92, 0xa9, 's', 'a')},
		{"args not array", dg(typeRequest, 0x92, 0xa5, 's', 'a', 'y', 'h', 'i', 0xa1, 'x')},
		{"huge array32", dg(typeRequest, 0x92, 0xa5, 's', 'a', 'y', 'h', 'i', 0xdd, 0xff, 0xff, 0xff, 0xff)},
		{"bad error reply", dg(typeError, 0xc3)},
		{"bad msgpack in args", dg(typeRequest, 0x92, 0xa5, 's', 'a', 'y', 'h', 'i', 0x91, 0xc1)},
		{"truncated args", dg(typeRequest, 0x92, 0xa5, 's', 'a', 'y', 'h', 'i', 0x91, 0xa5, 'b', 'o')},
		{"trailing bytes", dg(typeRequest, 0x92, 0xa5, 's', 'a', 'y', 'h', 'i', 0x91, 0xa1, 'b', 0xc0)},
		{"args overrun", dg(typeRequest, 0x92, 0xa5, 's', 'a', 'y', 'h', 'i', 0xdc, 0x10, 0x00, 0xc0)},
		{"nested too deep", dg(typeRequest, append([]byte{0x92, 0xa5, 's', 'a', 'y', 'h', 'i', 0x91}, bytes.Repeat([]byte{0x91}, 100)...)...)},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			send(t, raw, tt.b, server.LocalAddr())
			waitFor(t, "malformed count", func() bool {
				s := server.Stats()
				return s.Drops.Malformed+s.Drops.UnknownID == uint64(i+1)
			})
		})
	}
	expectSilence(t, raw, 20*time.Millisecond) // Python-style: no answer to garbage
	// Well-formed arguments of the wrong shape reach the handler's
	// decoder: an error reply, no panic.
	send(t, raw, dg(typeRequest, 0x92, 0xa5, 's', 'a', 'y', 'h', 'i', 0x91, 0x92, 0x01, 0x02), server.LocalAddr())
	reply := readDatagram(t, raw)
	if reply[0] != typeError {
		t.Fatalf("reply %x, want an error reply", reply)
	}
	re, err := parseErrorBody(reply[headerLen:])
	if err != nil || re.Code != codeBadArgs {
		t.Fatalf("error reply %v, %v", re, err)
	}
}

// TestRetries runs calls over a link that loses datagrams: with retries on
// every call succeeds, and each request runs its handler once however many
// copies arrive.
func TestIPv4MappedSender(t *testing.T) {
	// A dual-stack server sees an IPv4 client as ::ffff:127.0.0.1; the
	// handler must see plain 127.0.0.1, and the reply must match.
	server := newTestEndpoint(t, "[::]:0")
	server.Handle("who", func(_ context.Context, from netip.AddrPort) (string, error) {
		return from.Addr().String(), nil
	})
	client := newTestEndpoint(t, "127.0.0.1:0")
	to := netip.AddrPortFrom(netip.MustParseAddr("::ffff:127.0.0.1"), server.LocalAddr().Port())
	got, err := Invoke[string](testCtx(t), client, to, "who")
	if err != nil {
		t.Fatal(err)
	}
	if got != "127.0.0.1" {
		t.Errorf("handler saw %s", got)
	}
}

func TestClose(t *testing.T) {
	t.Run("fails pending calls", func(t *testing.T) {
		silent := rawSocket(t)
		e, err := Listen(context.Background(), "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		c := e.Go(context.Background(), silent.LocalAddr().(*net.UDPAddr).AddrPort(), "x")
		readDatagram(t, silent)
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := wait(c); !errors.Is(err, ErrClosed) {
			t.Fatalf("pending call: %v, want ErrClosed", err)
		}
		if _, err := e.Call(context.Background(), silent.LocalAddr().(*net.UDPAddr).AddrPort(), "x"); !errors.Is(err, ErrClosed) {
			t.Fatalf("call after close: %v", err)
		}
		if err := e.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
	t.Run("waits for handlers, which still reply", func(t *testing.T) {
		release := make(chan struct{})
		server, err := Listen(context.Background(), "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		server.Handle("slow", func(context.Context, netip.AddrPort) (string, error) { <-release; return "done", nil })
		client := newTestEndpoint(t, "127.0.0.1:0")
		c := client.Go(testCtx(t), server.LocalAddr(), "slow")
		waitFor(t, "handler running", func() bool { return server.Stats().Running == 1 })
		closed := make(chan error)
		go func() { closed <- server.Close() }()
		select {
		case <-closed:
			t.Fatal("Close returned with a handler running")
		case <-time.After(20 * time.Millisecond):
		}
		close(release)
		if err := <-closed; err != nil {
			t.Fatal(err)
		}
		if _, err := wait(c); err != nil {
			t.Fatalf("the running handler's reply was lost: %v", err)
		}
	})
	t.Run("bounded by ctx", func(t *testing.T) {
		server, err := Listen(context.Background(), "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		server.Handle("stuck", func(ctx context.Context, _ netip.AddrPort) (bool, error) { <-ctx.Done(); return false, ctx.Err() })
		client := newTestEndpoint(t, "127.0.0.1:0", WithTimeout(time.Second))
		client.Go(testCtx(t), server.LocalAddr(), "stuck")
		waitFor(t, "handler running", func() bool { return server.Stats().Running == 1 })
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if err := server.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown: %v", err)
		}
	})
}

// TestManyEndpoints opens and closes endpoints repeatedly; goleak in
// TestMain checks nothing is left behind.
func TestManyEndpoints(t *testing.T) {
	for range 200 {
		e, err := Listen(context.Background(), "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
