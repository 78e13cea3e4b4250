package rpcudp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/vmihailenco/msgpack/v5"
)

// The newcomer points of issue 19 that are rpcudp's, and RegisterError.

var (
	errApp   = errors.New("app: out of stock")
	errLayer = errors.New("layer: no such thing")
)

// TestRegisterError: a handler error matching a registered sentinel
// travels with its code, and the caller's RemoteError matches the
// sentinel (and ErrHandler) when the caller registered it too; codes above
// 127 (a msgpack uint on the wire) and below both; per endpoint.
func TestRegisterError(t *testing.T) {
	server := newTestEndpoint(t, "127.0.0.1:0")
	client := newTestEndpoint(t, "127.0.0.1:0")
	plain := newTestEndpoint(t, "127.0.0.1:0") // registers nothing
	for _, e := range []*Endpoint{server, client} {
		if err := e.RegisterError(1000, errApp); err != nil {
			t.Fatal(err)
		}
		if err := e.RegisterError(100, errLayer); err != nil {
			t.Fatal(err)
		}
	}
	server.Handle("buy", func(context.Context, netip.AddrPort) error { return fmt.Errorf("buy: %w", errApp) })
	server.Handle("find", func(context.Context, netip.AddrPort) error { return errLayer })
	server.Handle("both", func(context.Context, netip.AddrPort) error { return fmt.Errorf("%w: %w", ErrBadArgs, errLayer) })
	server.Handle("args", func(context.Context, netip.AddrPort, int) error { return nil })
	tests := []struct {
		method   string
		code     ErrorCode
		want     []error
		wantNot  []error
		plainNot error // what the unregistered caller must not match
	}{
		{"buy", 1000, []error{errApp, ErrHandler}, []error{errLayer, ErrBadArgs}, errApp},
		{"find", 100, []error{errLayer, ErrHandler}, []error{errApp}, errLayer},
		{"both", 100, []error{errLayer, ErrHandler}, []error{ErrBadArgs}, errLayer}, // the registered code first
		{"args", codeBadArgs, []error{ErrBadArgs}, []error{errApp, errLayer, ErrHandler}, nil},
	}
	for _, tt := range tests {
		_, err := client.Call(testCtx(t), server.LocalAddr(), tt.method)
		re, ok := errors.AsType[*RemoteError](err)
		if !ok || re.Code != tt.code {
			t.Errorf("%s: err %v, want a RemoteError of code %d", tt.method, err, tt.code)
			continue
		}
		for _, w := range tt.want {
			if !errors.Is(err, w) {
				t.Errorf("%s: %v does not match %v", tt.method, err, w)
			}
		}
		for _, w := range tt.wantNot {
			if errors.Is(err, w) {
				t.Errorf("%s: %v matches %v", tt.method, err, w)
			}
		}
		_, err = plain.Call(testCtx(t), server.LocalAddr(), tt.method)
		if tt.plainNot != nil && (errors.Is(err, tt.plainNot) || !errors.Is(err, ErrHandler)) {
			t.Errorf("%s, unregistered caller: %v, want ErrHandler only", tt.method, err)
		}
	}
}

// TestRegisterErrorRefuses: rpcudp's own codes, codes out of range, a nil
// sentinel and a code or sentinel registered with another partner are
// refused; the same pair again is not.
func TestRegisterErrorRefuses(t *testing.T) {
	e := newTestEndpoint(t, "127.0.0.1:0")
	if err := e.RegisterError(200, errApp); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		code     ErrorCode
		sentinel error
		ok       bool
	}{
		{200, errApp, true}, {1, errLayer, false}, {99, errLayer, false}, {0, errLayer, false},
		{-5, errLayer, false}, {1 << 31, errLayer, false}, {300, nil, false},
		{200, errLayer, false}, {201, errApp, false}, {201, errLayer, true},
	} {
		if err := e.RegisterError(tt.code, tt.sentinel); (err == nil) != tt.ok {
			t.Errorf("RegisterError(%d, %v) = %v, want ok %v", tt.code, tt.sentinel, err, tt.ok)
		}
	}
}

// TestNilContext (point 3): a nil context is context.Background()
// everywhere; Call used to panic on it.
func TestNilContext(t *testing.T) {
	server, err := Listen(nil, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer server.Shutdown(nil)
	server.Handle("sayhi", sayhi)
	client := newTestEndpoint(t, "127.0.0.1:0")
	to := server.LocalAddr()
	if _, err := client.Call(nil, to, "sayhi", "a"); err != nil {
		t.Errorf("Call(nil): %v", err)
	}
	if _, err := wait(client.Go(nil, to, "sayhi", "b")); err != nil {
		t.Errorf("Go(nil): %v", err)
	}
	if s, err := Invoke[string](nil, client, to, "sayhi", "c"); err != nil || s != "Hello c" {
		t.Errorf("Invoke(nil): %q, %v", s, err)
	}
	if err := client.Notify(nil, to, "sayhi", "d"); err != nil {
		t.Errorf("Notify(nil): %v", err)
	}
	if _, err := client.Call(WithCallOptions(nil, CallOptions{Timeout: time.Second}), to, "sayhi", "e"); err != nil {
		t.Errorf("Call(WithCallOptions(nil)): %v", err)
	}
}

// TestListenContext (point 3): Listen's context covers opening the
// socket: a cancelled one fails Listen, one cancelled later leaves the
// endpoint serving.
func TestListenContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if e, err := Listen(ctx, "127.0.0.1:0"); !errors.Is(err, context.Canceled) {
		if e != nil {
			e.Close()
		}
		t.Fatalf("Listen(cancelled) = %v, want context.Canceled", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	server, err := Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	cancel()
	server.Handle("sayhi", sayhi)
	client := newTestEndpoint(t, "127.0.0.1:0")
	if _, err := client.Call(testCtx(t), server.LocalAddr(), "sayhi", "x"); err != nil {
		t.Errorf("after Listen's ctx was cancelled: %v", err)
	}
}

type withChan struct {
	Name string
	C    chan int
}

type trustedChan struct{ c chan int }

func (trustedChan) EncodeMsgpack(enc *msgpack.Encoder) error  { return enc.EncodeNil() }
func (*trustedChan) DecodeMsgpack(dec *msgpack.Decoder) error { return dec.Skip() }

type list struct {
	Next *list
	V    int
}

// TestHandleRejectsUncarriable (point 4): Handle refuses at registration
// an argument or result type msgpack cannot carry, where every call would
// fail at decode; it accepts what msgpack carries or skips.
func TestHandleRejectsUncarriable(t *testing.T) {
	e := newTestEndpoint(t, "127.0.0.1:0")
	for _, tt := range []struct {
		name string
		fn   any
		ok   bool
	}{
		{"chan arg", func(context.Context, netip.AddrPort, chan int) error { return nil }, false},
		{"func arg", func(context.Context, netip.AddrPort, func()) error { return nil }, false},
		{"unsafe.Pointer arg", func(context.Context, netip.AddrPort, unsafe.Pointer) error { return nil }, false},
		{"complex result", func(context.Context, netip.AddrPort) (complex128, error) { return 0, nil }, false},
		{"struct field", func(context.Context, netip.AddrPort, withChan) error { return nil }, false},
		{"slice of chan, variadic", func(context.Context, netip.AddrPort, ...chan int) error { return nil }, false},
		{"map of funcs", func(context.Context, netip.AddrPort, map[string]func()) error { return nil }, false},
		{"pointer result", func(context.Context, netip.AddrPort) (*withChan, error) { return nil, nil }, false},
		{"unexported or skipped field", func(context.Context, netip.AddrPort, struct {
			c    chan int
			F    func() `msgpack:"-"`
			Name string
		}) error {
			return nil
		}, true},
		{"own msgpack methods", func(context.Context, netip.AddrPort, trustedChan) error { return nil }, true},
		{"recursive type", func(context.Context, netip.AddrPort, list) (*list, error) { return nil, nil }, true},
		{"any", func(context.Context, netip.AddrPort, any) (map[string][]any, error) { return nil, nil }, true},
	} {
		err := e.Handle("m", tt.fn)
		if tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrBadHandler)) {
			t.Errorf("%s: Handle = %v, want ok %v", tt.name, err, tt.ok)
		}
		if _, err := Adapt(tt.fn); tt.ok != (err == nil) {
			t.Errorf("%s: Adapt = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

// TestInvokeWrongType (point 6a): a good reply that does not fit the type
// asked for says so, and is not ErrMalformed; a reply that is not msgpack
// is.
func TestInvokeWrongType(t *testing.T) {
	server := newTestEndpoint(t, "127.0.0.1:0")
	server.Handle("sayhi", sayhi)
	client := newTestEndpoint(t, "127.0.0.1:0")
	n, err := Invoke[int](testCtx(t), client, server.LocalAddr(), "sayhi", "x")
	if err == nil || errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "does not decode into int") {
		t.Errorf("Invoke[int] on a str reply: %d, %v", n, err)
	}
	var s string
	if err := (Reply{0xc1}).Decode(&s); !errors.Is(err, ErrMalformed) {
		t.Errorf("Decode(0xc1) = %v, want ErrMalformed", err)
	}
}

// TestReplyCachePassesInterceptors (issue 19): a repeat answered from the
// reply cache goes through the interceptors, which see the cached reply
// and may refuse it; the handler runs once.
func TestReplyCachePassesInterceptors(t *testing.T) {
	var seen, runs atomic.Int64
	var cachedSeen atomic.Value
	refuse := atomic.Bool{}
	ic := func(ctx context.Context, req *Request, next HandlerFunc) (any, error) {
		seen.Add(1)
		res, err := next(ctx, req)
		if raw, ok := res.(msgpack.RawMessage); ok {
			cachedSeen.Store(append([]byte(nil), raw...))
		}
		if refuse.Load() {
			return nil, fmt.Errorf("%w: over budget", ErrRateLimited)
		}
		return res, err
	}
	server := newTestEndpoint(t, "127.0.0.1:0", WithInterceptors(ic))
	server.Handle("count", func(context.Context, netip.AddrPort) (int64, error) { return runs.Add(1), nil })
	peer := rawSocket(t)
	req := appendRequestHeader(nil, typeRequest, msgID{7}, "count", 0)
	send(t, peer, req, server.LocalAddr())
	first := readDatagram(t, peer)
	send(t, peer, req, server.LocalAddr())
	if again := readDatagram(t, peer); !bytes.Equal(again, first) {
		t.Fatalf("repeat answered %x, first %x", again, first)
	}
	if got, _ := cachedSeen.Load().([]byte); !bytes.Equal(got, first[headerLen:]) {
		t.Errorf("the interceptor saw %x as the cached reply, want %x", got, first[headerLen:])
	}
	refuse.Store(true)
	send(t, peer, req, server.LocalAddr())
	expectSilence(t, peer, 100*time.Millisecond)
	s := server.Stats()
	if runs.Load() != 1 || seen.Load() != 3 || s.CacheHits != 1 || s.Drops.RateLimited != 1 || s.Requests != 1 {
		t.Errorf("runs %d, interceptor calls %d, stats %+v", runs.Load(), seen.Load(), s)
	}
}
