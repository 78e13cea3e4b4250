package rpcudp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

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
	if err := server.Handle("bytes", func(_ context.Context, _ netip.AddrPort, b []byte) ([]byte, error) {
		return append(b, '!'), nil
	}); err != nil {
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
		{methodsMethod, nil, []any{"add_all", "bytes", "fail", "none", "panic", methodsMethod, "sayhi", "who_am_i"}, nil},
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
				if !bytes.Equal(r, []byte{0xc0}) {
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
		if got := wireName(goName); got != want {
			t.Errorf("wireName(%s) = %s, want %s", goName, got, want)
		}
	}
}

func TestReplyCacheDuplicate(t *testing.T) {
	release := make(chan struct{})
	var runs atomic.Int64
	server := newTestEndpoint(t, "127.0.0.1:0")
	server.Handle("slow", func(context.Context, netip.AddrPort) (int64, error) {
		<-release
		return runs.Add(1), nil
	})
	raw := rawSocket(t)
	req := append([]byte{typeRequest}, bytes.Repeat([]byte{9}, idLen)...)
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
	server.Handle("block", func(context.Context, netip.AddrPort) (bool, error) { <-release; return true, nil })
	client := newTestEndpoint(t, "127.0.0.1:0", WithTimeout(10*time.Second))
	var calls []*Call
	for range 2 {
		calls = append(calls, client.Go(testCtx(t), server.LocalAddr(), "block"))
	}
	waitFor(t, "two running", func() bool { return server.Stats().Running == 2 })
	extra := client.Go(WithCallOptions(testCtx(t), CallOptions{Timeout: 50 * time.Millisecond}), server.LocalAddr(), "block")
	if _, err := wait(extra); !errors.Is(err, ErrTimeout) {
		t.Fatalf("third call: %v, want a timeout (dropped)", err)
	}
	// The read loop waits a moment for a slot before it drops (slotWait).
	waitFor(t, "an overload drop", func() bool { return server.Stats().Drops.Overload >= 1 })
	if d := server.Stats().Drops.Overload; d != 1 {
		t.Errorf("overload drops = %d", d)
	}
	close(release)
	for _, c := range calls {
		if _, err := wait(c); err != nil {
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
	server := newTestEndpoint(t, "127.0.0.1:0", WithInterceptors(record, rateLimit(rate.Every(time.Hour), 3, 0)))
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
	server.Handle("note", func(_ context.Context, _ netip.AddrPort, s string) (any, error) {
		got <- s
		return "ignored", nil
	})
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
	server := newTestEndpoint(t, "127.0.0.1:0")
	if !server.Unhandle("rpcudp.methods") {
		t.Fatal("no rpcudp.methods to remove")
	}
	client := newTestEndpoint(t, "127.0.0.1:0")
	if _, err := client.Call(testCtx(t), server.LocalAddr(), methodsMethod); !errors.Is(err, ErrUnknownMethod) {
		t.Fatalf("err = %v", err)
	}
}

func TestReplyCacheBounds(t *testing.T) {
	from := netip.MustParseAddrPort("127.0.0.1:1")
	c := newReplyCache(4, time.Minute, 100)
	id := func(i byte) msgID { return msgID{i} }
	for i := range byte(6) {
		st, ref, _ := c.begin(id(i), from, nil, nil)
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
			if st, _, _ := c.begin(id(byte(i)), from, nil, nil); st != want {
				t.Errorf("request %d: state %d, want %d", i, st, want)
			}
		}
	}
	// The same id and sender with another body is another request.
	if st, _, _ := c.begin(id(5), from, []byte{1}, nil); st != cacheNew {
		t.Errorf("same id, new body: state %d", st)
	}
	// Expired entries are new again.
	short := newReplyCache(4, time.Nanosecond, 100)
	_, ref, _ := short.begin(id(1), from, nil, nil)
	short.finish(ref, []byte{1})
	time.Sleep(time.Millisecond)
	if st, _, _ := short.begin(id(1), from, nil, nil); st != cacheNew {
		t.Errorf("expired entry: state %d", st)
	}
}
