package rpcudp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"
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
type greeter struct{ prefix string }

func (g *greeter) RPCSayhi(_ context.Context, _ netip.AddrPort, name string) (string, error) {
	return g.prefix + name, nil
}
func (g *greeter) RPCAddAll(_ context.Context, _ netip.AddrPort, xs ...int) int {
	s := 0
	for _, x := range xs {
		s += x
	}
	return s
}
func (g *greeter) RPCWhoAmI(_ context.Context, from netip.AddrPort) ([]any, error) {
	return []any{from.Addr().String(), from.Port()}, nil
}
func (g *greeter) RPCFail(_ context.Context, _ netip.AddrPort) error { return errors.New("no luck") }
func (g *greeter) RPCPanic(_ context.Context, _ netip.AddrPort)      { panic("boom") }
func (g *greeter) Helper() string                                    { return "not exposed" }

func TestHandlerForms(t *testing.T) {
	server := newTestEndpoint(t, "127.0.0.1:0")
	if err := server.Register(&greeter{prefix: "hi "}); err != nil {
		t.Fatal(err)
	}
	if err := server.Handle("bytes", Func1(func(_ context.Context, _ netip.AddrPort, b []byte) ([]byte, error) {
		return append(b, '!'), nil
	})); err != nil {
		t.Fatal(err)
	}
	if err := server.Handle("none", func(context.Context, netip.AddrPort) {}); err != nil {
		t.Fatal(err)
	}
	client := newTestEndpoint(t, "127.0.0.1:0")
	ctx := testCtx(t)
	to := server.LocalAddr()

	tests := []struct {
		method  string
		args    []any
		want    any // decoded into a value of the same type
		wantErr error
	}{
		{"sayhi", []any{"bob"}, "hi bob", nil},
		{"add_all", []any{1, 2, 3}, 6, nil},
		{"add_all", nil, 0, nil},
		{"who_am_i", nil, []any{"127.0.0.1", uint16(client.LocalAddr().Port())}, nil},
		{"bytes", []any{[]byte("x")}, []byte("x!"), nil},
		{"none", nil, nil, nil},
		{"fail", nil, nil, ErrHandler},
		{"panic", nil, nil, ErrHandlerPanic},
		{"sayhi", nil, nil, ErrBadArgs},
		{"sayhi", []any{"a", "b"}, nil, ErrBadArgs},
		{"sayhi", []any{42}, nil, ErrBadArgs},
		{"nope", nil, nil, ErrUnknownMethod},
		{MethodsMethod, nil, []any{"add_all", "bytes", "fail", "none", "panic", MethodsMethod, "sayhi", "who_am_i"}, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.method, tt.args), func(t *testing.T) {
			r, err := client.Call(ctx, to, tt.method, tt.args...)
			if tt.wantErr != nil {
				var re *RemoteError
				if !errors.Is(err, tt.wantErr) || !errors.As(err, &re) || re.Method != tt.method {
					t.Fatalf("err = %v, want a *RemoteError for %s matching %v", err, tt.method, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == nil {
				if !r.IsNil() {
					t.Errorf("reply %x, want nil", r)
				}
				return
			}
			var got any
			if err := r.Decode(&got); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(normalizeDecoded(got)) != fmt.Sprint(tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	// The server kept serving through the panic.
	if _, err := client.Call(ctx, to, "sayhi", "again"); err != nil {
		t.Fatal(err)
	}
}

func TestBadHandlers(t *testing.T) {
	e := newTestEndpoint(t, "127.0.0.1:0")
	bad := []struct {
		name string
		fn   any
	}{
		{"nil", nil},
		{"not a func", 42},
		{"no ctx", func(netip.AddrPort, string) {}},
		{"no from", func(context.Context, string) {}},
		{"bad second result", func(context.Context, netip.AddrPort) (int, int) { return 0, 0 }},
		{"three results", func(context.Context, netip.AddrPort) (int, int, error) { return 0, 0, nil }},
	}
	for _, tt := range bad {
		if err := e.Handle("x", tt.fn); !errors.Is(err, ErrBadHandler) {
			t.Errorf("%s: err = %v, want ErrBadHandler", tt.name, err)
		}
	}
	if err := e.Handle("", sayhi); !errors.Is(err, ErrBadHandler) {
		t.Errorf("empty name: %v", err)
	}
	if err := e.Register(struct{}{}); !errors.Is(err, ErrBadHandler) {
		t.Errorf("Register without methods: %v", err)
	}
}

func TestWireName(t *testing.T) {
	for goName, want := range map[string]string{
		"RPCFindNode":      "find_node",
		"RPCSayhi":         "sayhi",
		"RPCSayhiQuickly":  "sayhi_quickly",
		"RPCGetHTTPStatus": "get_http_status",
		"RPCStun":          "stun",
		"RPCFindValue2":    "find_value2",
		"RPCID":            "id",
	} {
		if got := WireName(goName); got != want {
			t.Errorf("WireName(%s) = %s, want %s", goName, got, want)
		}
	}
}

func TestTimeout(t *testing.T) {
	silent := rawSocket(t) // never answers
	to := silent.LocalAddr().(*net.UDPAddr).AddrPort()
	tests := []struct {
		name    string
		opts    []Option
		call    CallOptions
		ctx     func() (context.Context, context.CancelFunc)
		wantErr []error
	}{
		{"endpoint timeout", []Option{WithTimeout(30 * time.Millisecond)}, CallOptions{}, nil, []error{ErrTimeout}},
		{"per-call timeout", nil, CallOptions{Timeout: 30 * time.Millisecond}, nil, []error{ErrTimeout}},
		{"ctx deadline wins", nil, CallOptions{}, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 30*time.Millisecond)
		}, []error{ErrTimeout, context.DeadlineExceeded}},
		{"ctx cancelled", nil, CallOptions{}, func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, []error{context.Canceled}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEndpoint(t, "127.0.0.1:0", tt.opts...)
			ctx := context.Background()
			if tt.ctx != nil {
				var cancel context.CancelFunc
				ctx, cancel = tt.ctx()
				defer cancel()
			}
			_, err := e.CallWith(ctx, tt.call, to, "sayhi", "x")
			for _, want := range tt.wantErr {
				if !errors.Is(err, want) {
					t.Errorf("err = %v, want %v", err, want)
				}
			}
			if s := e.Stats(); s.Pending != 0 {
				t.Errorf("pending = %d after the call ended", s.Pending)
			}
		})
	}
}

func TestCancelWhileWaiting(t *testing.T) {
	silent := rawSocket(t)
	e := newTestEndpoint(t, "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	c := e.Go(ctx, silent.LocalAddr().(*net.UDPAddr).AddrPort(), "sayhi", "x")
	readDatagram(t, silent) // the request is out
	cancel()
	if _, err := c.Wait(); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// TestForgedReply: a reply with the right id from another socket is
// ignored and counted; the real reply still resolves the call.
func TestForgedReply(t *testing.T) {
	peer := rawSocket(t)
	forger := rawSocket(t)
	e := newTestEndpoint(t, "127.0.0.1:0")
	c := e.Go(testCtx(t), peer.LocalAddr().(*net.UDPAddr).AddrPort(), "ping")
	req := readDatagram(t, peer)
	forged := append([]byte{TypeResponse}, req[1:HeaderLen]...)
	forged = append(forged, 0xa6, 'f', 'o', 'r', 'g', 'e', 'd')
	send(t, forger, forged, e.LocalAddr())
	waitFor(t, "wrong-sender drop", func() bool { return e.Stats().Drops.WrongSender == 1 })
	select {
	case <-c.Done():
		t.Fatal("the forged reply resolved the call")
	default:
	}
	real := append([]byte{TypeResponse}, req[1:HeaderLen]...)
	real = append(real, 0xa4, 'r', 'e', 'a', 'l')
	send(t, peer, real, e.LocalAddr())
	r, err := c.Wait()
	if err != nil {
		t.Fatal(err)
	}
	var s string
	if err := r.Decode(&s); err != nil || s != "real" {
		t.Fatalf("reply %q, %v", s, err)
	}
	// A second copy of the real reply now has no pending call.
	send(t, peer, real, e.LocalAddr())
	waitFor(t, "unknown-id drop", func() bool { return e.Stats().Drops.UnknownID == 1 })
}

func TestOversize(t *testing.T) {
	server := newTestEndpoint(t, "127.0.0.1:0")
	server.Handle("echo", Func1(func(_ context.Context, _ netip.AddrPort, b []byte) ([]byte, error) { return b, nil }))
	server.Handle("big", Func1(func(_ context.Context, _ netip.AddrPort, n int) ([]byte, error) { return make([]byte, n), nil }))
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
		send(t, raw, make([]byte, MaxDatagram+1), to)
		waitFor(t, "oversize drop", func() bool { return server.Stats().Drops.Oversize == 1 })
	})
}

func TestMalformedDatagrams(t *testing.T) {
	server := newTestEndpoint(t, "127.0.0.1:0")
	server.Handle("sayhi", sayhi)
	raw := rawSocket(t)
	id := bytes.Repeat([]byte{7}, IDLen)
	dg := func(typ byte, body ...byte) []byte { return append(append([]byte{typ}, id...), body...) }
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"one byte", []byte{0}},
		{"header only", dg(TypeRequest)},
		{"unknown type", dg(0x07, 0x92, 0xa1, 'x', 0x90)},
		{"not an array", dg(TypeRequest, 0xc3)},
		{"array of 3", dg(TypeRequest, 0x93, 0xa1, 'x', 0x90, 0xc0)},
		{"method as bin", dg(TypeRequest, 0x92, 0xc4, 0x01, 'x', 0x90)},
		{"method as int", dg(TypeRequest, 0x92, 0x01, 0x90)},
		{"truncated str", dg(TypeRequest, 0x92, 0xa9, 's', 'a')},
		{"args not array", dg(TypeRequest, 0x92, 0xa5, 's', 'a', 'y', 'h', 'i', 0xa1, 'x')},
		{"huge array32", dg(TypeRequest, 0x92, 0xa5, 's', 'a', 'y', 'h', 'i', 0xdd, 0xff, 0xff, 0xff, 0xff)},
		{"bad error reply", dg(TypeError, 0xc3)},
		{"bad msgpack in args", dg(TypeRequest, 0x92, 0xa5, 's', 'a', 'y', 'h', 'i', 0x91, 0xc1)},
		{"truncated args", dg(TypeRequest, 0x92, 0xa5, 's', 'a', 'y', 'h', 'i', 0x91, 0xa5, 'b', 'o')},
		{"trailing bytes", dg(TypeRequest, 0x92, 0xa5, 's', 'a', 'y', 'h', 'i', 0x91, 0xa1, 'b', 0xc0)},
		{"args overrun", dg(TypeRequest, 0x92, 0xa5, 's', 'a', 'y', 'h', 'i', 0xdc, 0x10, 0x00, 0xc0)},
		{"nested too deep", dg(TypeRequest, append([]byte{0x92, 0xa5, 's', 'a', 'y', 'h', 'i', 0x91}, bytes.Repeat([]byte{0x91}, 100)...)...)},
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
	send(t, raw, dg(TypeRequest, 0x92, 0xa5, 's', 'a', 'y', 'h', 'i', 0x91, 0x92, 0x01, 0x02), server.LocalAddr())
	reply := readDatagram(t, raw)
	if reply[0] != TypeError {
		t.Fatalf("reply %x, want an error reply", reply)
	}
	re, err := parseErrorBody(reply[HeaderLen:])
	if err != nil || re.Code != CodeBadArgs {
		t.Fatalf("error reply %v, %v", re, err)
	}
}

// TestRetries runs calls over a link that loses datagrams: with retries on
// every call succeeds, and each request runs its handler once however many
// copies arrive.
func TestRetries(t *testing.T) {
	var runs atomic.Int64
	sconn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// The server loses every other reply, the client every third request.
	server := New(&lossyConn{PacketConn: sconn, drop: func(n int64) bool { return n%2 == 1 }})
	defer server.Close()
	server.Handle("count", Func0(func(context.Context, netip.AddrPort) (int64, error) { return runs.Add(1), nil }))
	cconn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	client := New(&lossyConn{PacketConn: cconn, drop: func(n int64) bool { return n%3 == 1 }},
		WithRetry(RetryPolicy{Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond}))
	defer client.Close()
	const calls = 30
	for i := range calls {
		r, err := client.Call(testCtx(t), server.LocalAddr(), "count")
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		var n int64
		if err := r.Decode(&n); err != nil || n != int64(i+1) {
			t.Fatalf("call %d ran the handler as run %d (%v)", i, n, err)
		}
	}
	if got := runs.Load(); got != calls {
		t.Errorf("handler ran %d times for %d calls", got, calls)
	}
	if client.Stats().Retransmits == 0 || server.Stats().CacheHits == 0 {
		t.Errorf("no retransmits or cache hits: client %+v server %+v", client.Stats(), server.Stats())
	}
}

func TestRetriesOffByDefault(t *testing.T) {
	silent := rawSocket(t)
	e := newTestEndpoint(t, "127.0.0.1:0", WithTimeout(50*time.Millisecond))
	e.Call(context.Background(), silent.LocalAddr().(*net.UDPAddr).AddrPort(), "x")
	readDatagram(t, silent)
	expectSilence(t, silent, 60*time.Millisecond)
}

func TestReplyCacheDuplicate(t *testing.T) {
	release := make(chan struct{})
	var runs atomic.Int64
	server := newTestEndpoint(t, "127.0.0.1:0")
	server.Handle("slow", Func0(func(context.Context, netip.AddrPort) (int64, error) {
		<-release
		return runs.Add(1), nil
	}))
	raw := rawSocket(t)
	req := append([]byte{TypeRequest}, bytes.Repeat([]byte{9}, IDLen)...)
	req = append(req, 0x92, 0xa4, 's', 'l', 'o', 'w', 0x90)
	send(t, raw, req, server.LocalAddr())
	waitFor(t, "handler running", func() bool { return server.Stats().Running == 1 })
	send(t, raw, req, server.LocalAddr()) // while running: dropped
	waitFor(t, "duplicate drop", func() bool { return server.Stats().Drops.Duplicate == 1 })
	close(release)
	first := readDatagram(t, raw)
	send(t, raw, req, server.LocalAddr()) // after: answered from cache
	second := readDatagram(t, raw)
	if !bytes.Equal(first, second) || runs.Load() != 1 {
		t.Fatalf("replies %x / %x, runs %d", first, second, runs.Load())
	}
}

func TestHandlerSlotsOverload(t *testing.T) {
	release := make(chan struct{})
	server := newTestEndpoint(t, "127.0.0.1:0", WithHandlerSlots(2))
	server.Handle("block", Func0(func(context.Context, netip.AddrPort) (bool, error) { <-release; return true, nil }))
	client := newTestEndpoint(t, "127.0.0.1:0", WithTimeout(10*time.Second))
	var calls []*Call
	for range 2 {
		calls = append(calls, client.Go(testCtx(t), server.LocalAddr(), "block"))
	}
	waitFor(t, "two running", func() bool { return server.Stats().Running == 2 })
	extra := client.GoWith(testCtx(t), CallOptions{Timeout: 50 * time.Millisecond}, server.LocalAddr(), "block")
	if _, err := extra.Wait(); !errors.Is(err, ErrTimeout) {
		t.Fatalf("third call: %v, want a timeout (dropped)", err)
	}
	if d := server.Stats().Drops.Overload; d != 1 {
		t.Errorf("overload drops = %d", d)
	}
	close(release)
	for _, c := range calls {
		if _, err := c.Wait(); err != nil {
			t.Error(err)
		}
	}
}

func TestRateLimitInterceptor(t *testing.T) {
	var seen []string
	var mu sync.Mutex
	record := func(ctx context.Context, req *Request, next HandlerFunc) (any, error) {
		mu.Lock()
		seen = append(seen, req.Method)
		mu.Unlock()
		return next(ctx, req)
	}
	server := newTestEndpoint(t, "127.0.0.1:0", WithInterceptors(record, RateLimit(rate.Every(time.Hour), 3, 0)))
	server.Handle("sayhi", sayhi)
	client := newTestEndpoint(t, "127.0.0.1:0", WithTimeout(100*time.Millisecond))
	var ok, limited int
	for range 5 {
		if _, err := client.Call(context.Background(), server.LocalAddr(), "sayhi", "x"); err == nil {
			ok++
		} else if errors.Is(err, ErrTimeout) {
			limited++
		}
	}
	if ok != 3 || limited != 2 || server.Stats().Drops.RateLimited != 2 {
		t.Errorf("ok %d limited %d stats %+v", ok, limited, server.Stats().Drops)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 5 {
		t.Errorf("outer interceptor saw %d requests", len(seen))
	}
}

func TestNotify(t *testing.T) {
	got := make(chan string, 1)
	server := newTestEndpoint(t, "127.0.0.1:0")
	server.Handle("note", Func1(func(_ context.Context, _ netip.AddrPort, s string) (any, error) {
		got <- s
		return "ignored", nil
	}))
	client := newTestEndpoint(t, "127.0.0.1:0")
	if err := client.Notify(testCtx(t), server.LocalAddr(), "note", "hello"); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "hello" {
		t.Fatalf("got %q", s)
	}
	waitFor(t, "notification counted", func() bool { return server.Stats().Notifications == 1 })
	if client.Stats().DatagramsIn != 0 {
		t.Error("a notification was answered")
	}
}

func TestIntrospectionOff(t *testing.T) {
	server := newTestEndpoint(t, "127.0.0.1:0", WithoutIntrospection())
	client := newTestEndpoint(t, "127.0.0.1:0")
	if _, err := client.Call(testCtx(t), server.LocalAddr(), MethodsMethod); !errors.Is(err, ErrUnknownMethod) {
		t.Fatalf("err = %v", err)
	}
}

func TestGoManyAndCallAll(t *testing.T) {
	var servers []netip.AddrPort
	for range 4 {
		s := newTestEndpoint(t, "127.0.0.1:0")
		s.Handle("sayhi", sayhi)
		servers = append(servers, s.LocalAddr())
	}
	dead := rawSocket(t).LocalAddr().(*net.UDPAddr).AddrPort()
	client := newTestEndpoint(t, "127.0.0.1:0", WithTimeout(200*time.Millisecond))
	ctx := testCtx(t)
	var calls []*Call
	for i := range 100 {
		calls = append(calls, client.Go(ctx, servers[i%len(servers)], "sayhi", fmt.Sprint(i)))
	}
	for i, c := range calls {
		r, err := c.Wait()
		var s string
		if err != nil || r.Decode(&s) != nil || s != fmt.Sprint("Hello ", i) {
			t.Fatalf("call %d: %q %v", i, s, err)
		}
	}
	res := client.CallAll(ctx, append(servers, dead), 2, "sayhi", "all")
	for i, r := range res {
		if i == len(servers) {
			if !errors.Is(r.Err, ErrTimeout) || r.Addr != dead {
				t.Errorf("dead peer: %+v", r)
			}
			continue
		}
		if r.Err != nil || r.Addr != servers[i] {
			t.Errorf("result %d: %+v", i, r)
		}
	}
}

func TestTooManyPending(t *testing.T) {
	silent := rawSocket(t)
	to := silent.LocalAddr().(*net.UDPAddr).AddrPort()
	e := newTestEndpoint(t, "127.0.0.1:0", WithMaxPending(2))
	ctx, cancel := context.WithCancel(context.Background())
	a, b := e.Go(ctx, to, "x"), e.Go(ctx, to, "x")
	if _, err := e.Call(ctx, to, "x"); !errors.Is(err, ErrTooManyPending) {
		t.Fatalf("err = %v, want ErrTooManyPending", err)
	}
	cancel()
	a.Wait()
	b.Wait()
}

func TestInvalidAddress(t *testing.T) {
	e := newTestEndpoint(t, "127.0.0.1:0")
	if _, err := e.Call(testCtx(t), netip.AddrPort{}, "x"); err == nil || !strings.Contains(err.Error(), "invalid address") {
		t.Fatalf("err = %v", err)
	}
}

func TestIPv4MappedSender(t *testing.T) {
	// A dual-stack server sees an IPv4 client as ::ffff:127.0.0.1; the
	// handler must see plain 127.0.0.1, and the reply must match.
	server := newTestEndpoint(t, "[::]:0")
	server.Handle("who", Func0(func(_ context.Context, from netip.AddrPort) (string, error) {
		return from.Addr().String(), nil
	}))
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
		if _, err := c.Wait(); !errors.Is(err, ErrClosed) {
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
		server.Handle("slow", Func0(func(context.Context, netip.AddrPort) (string, error) { <-release; return "done", nil }))
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
		if _, err := c.Wait(); err != nil {
			t.Fatalf("the running handler's reply was lost: %v", err)
		}
	})
	t.Run("bounded by ctx", func(t *testing.T) {
		server, err := Listen(context.Background(), "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		server.Handle("stuck", Func0(func(ctx context.Context, _ netip.AddrPort) (bool, error) { <-ctx.Done(); return false, ctx.Err() }))
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

func TestReplyCacheBounds(t *testing.T) {
	e := New(&nopConn{})
	defer e.Close()
	from := netip.MustParseAddrPort("127.0.0.1:1")
	c := newReplyCache(4, time.Minute, 100)
	id := func(i byte) MsgID { return MsgID{i} }
	for i := range byte(6) {
		st, ref := c.begin(id(i), from, nil, e)
		if st != cacheNew {
			t.Fatalf("request %d: state %d", i, st)
		}
		c.finish(ref, make([]byte, 40))
	}
	// The ring holds 4 entries and 100 bytes: only the last two replies
	// (80 bytes) remain.
	if c.bytes > 100 || len(c.idx) != 2 {
		t.Fatalf("bytes %d, entries %d", c.bytes, len(c.idx))
	}
	for i, want := range []cacheState{cacheNew, cacheNew, cacheNew, cacheNew, cacheAnswered, cacheAnswered} {
		if i >= 4 {
			if st, _ := c.begin(id(byte(i)), from, nil, e); st != want {
				t.Errorf("request %d: state %d, want %d", i, st, want)
			}
		}
	}
	// The same id and sender with another body is another request.
	if st, _ := c.begin(id(5), from, []byte{1}, e); st != cacheNew {
		t.Errorf("same id, new body: state %d", st)
	}
	// Expired entries are new again.
	short := newReplyCache(4, time.Nanosecond, 100)
	_, ref := short.begin(id(1), from, nil, e)
	short.finish(ref, []byte{1})
	time.Sleep(time.Millisecond)
	if st, _ := short.begin(id(1), from, nil, e); st != cacheNew {
		t.Errorf("expired entry: state %d", st)
	}
}

func TestGarbledReplyDoesNotEndCall(t *testing.T) {
	peer := rawSocket(t)
	e := newTestEndpoint(t, "127.0.0.1:0")
	c := e.Go(testCtx(t), peer.LocalAddr().(*net.UDPAddr).AddrPort(), "ping")
	req := readDatagram(t, peer)
	garbled := append(append([]byte{TypeResponse}, req[1:HeaderLen]...), 0xa5, 'x')
	send(t, peer, garbled, e.LocalAddr())
	waitFor(t, "malformed drop", func() bool { return e.Stats().Drops.Malformed == 1 })
	send(t, peer, append(append([]byte{TypeResponse}, req[1:HeaderLen]...), 0xc3), e.LocalAddr())
	if r, err := c.Wait(); err != nil || r[0] != 0xc3 {
		t.Fatalf("reply %x, %v", r, err)
	}
}

func TestSkipValue(t *testing.T) {
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
	}
	for _, b := range good {
		if err := checkOne(b); err != nil {
			t.Errorf("%x: %v", b, err)
		}
	}
	bad := [][]byte{
		{}, {0xc1}, {0xcc}, {0xcd, 1}, {0xa2, 'x'}, {0xd9}, {0xc4, 2, 1}, {0xd4, 1},
		{0xc7, 2, 5, 9}, {0x92, 0x01}, {0xdc, 0xff, 0xff}, {0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0},
		{0x81, 0xa1, 'k'}, {0xdf, 0xff, 0xff, 0xff, 0xff}, {0x01, 0x02},
		bytes.Repeat([]byte{0x91}, maxDepth+2),
	}
	for _, b := range bad {
		if err := checkOne(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%x: err = %v, want ErrMalformed", b, err)
		}
	}
}
