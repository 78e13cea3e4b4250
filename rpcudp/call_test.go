package rpcudp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

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
			_, err := e.Call(WithCallOptions(ctx, tt.call), to, "sayhi", "x")
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
	if _, err := wait(c); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestForgedReply(t *testing.T) {
	peer := rawSocket(t)
	forger := rawSocket(t)
	e := newTestEndpoint(t, "127.0.0.1:0")
	c := e.Go(testCtx(t), peer.LocalAddr().(*net.UDPAddr).AddrPort(), "ping")
	req := readDatagram(t, peer)
	forged := append([]byte{typeResponse}, req[1:headerLen]...)
	forged = append(forged, 0xa6, 'f', 'o', 'r', 'g', 'e', 'd')
	send(t, forger, forged, e.LocalAddr())
	waitFor(t, "wrong-sender drop", func() bool { return e.Stats().Drops.WrongSender == 1 })
	select {
	case <-c.Done:
		t.Fatal("the forged reply resolved the call")
	default:
	}
	real := append([]byte{typeResponse}, req[1:headerLen]...)
	real = append(real, 0xa4, 'r', 'e', 'a', 'l')
	send(t, peer, real, e.LocalAddr())
	r, err := wait(c)
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

func TestRetries(t *testing.T) {
	var runs atomic.Int64
	sconn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// The server loses every other reply, the client every third request.
	server := New(&lossyConn{PacketConn: sconn, drop: func(n int64) bool { return n%2 == 1 }})
	defer server.Close()
	server.Handle("count", func(context.Context, netip.AddrPort) (int64, error) { return runs.Add(1), nil })
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

func TestGoMany(t *testing.T) {
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
		r, err := wait(c)
		var s string
		if err != nil || r.Decode(&s) != nil || s != fmt.Sprint("Hello ", i) {
			t.Fatalf("call %d: %q %v", i, s, err)
		}
	}
	calls = calls[:0]
	for _, a := range append(servers, dead) {
		calls = append(calls, client.Go(ctx, a, "sayhi", "all"))
	}
	for i, r := range calls {
		wait(r)
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
	e := newTestEndpoint(t, "127.0.0.1:0", withMaxPending(2))
	ctx, cancel := context.WithCancel(context.Background())
	a, b := e.Go(ctx, to, "x"), e.Go(ctx, to, "x")
	if _, err := e.Call(ctx, to, "x"); !errors.Is(err, ErrTooManyPending) {
		t.Fatalf("err = %v, want ErrTooManyPending", err)
	}
	cancel()
	wait(a)
	wait(b)
}

func TestInvalidAddress(t *testing.T) {
	e := newTestEndpoint(t, "127.0.0.1:0")
	if _, err := e.Call(testCtx(t), netip.AddrPort{}, "x"); err == nil || !strings.Contains(err.Error(), "invalid address") {
		t.Fatalf("err = %v", err)
	}
}

func TestGarbledReplyDoesNotEndCall(t *testing.T) {
	peer := rawSocket(t)
	e := newTestEndpoint(t, "127.0.0.1:0")
	c := e.Go(testCtx(t), peer.LocalAddr().(*net.UDPAddr).AddrPort(), "ping")
	req := readDatagram(t, peer)
	garbled := append(append([]byte{typeResponse}, req[1:headerLen]...), 0xa5, 'x')
	send(t, peer, garbled, e.LocalAddr())
	waitFor(t, "malformed drop", func() bool { return e.Stats().Drops.Malformed == 1 })
	send(t, peer, append(append([]byte{typeResponse}, req[1:headerLen]...), 0xc3), e.LocalAddr())
	if r, err := wait(c); err != nil || r[0] != 0xc3 {
		t.Fatalf("reply %x, %v", r, err)
	}
}
