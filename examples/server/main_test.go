package main

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"go.uber.org/goleak"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/rpcudp/go-rpcudp/rpcudp/service"
	"github.com/rpcudp/go-rpcudp/rpcudp/simnet"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestGreeter(t *testing.T) {
	server, err := rpcudp.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	if err := server.Register(greeter{slow: 10 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	client, err := rpcudp.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	for _, m := range []string{"sayhi", "sayhi_quickly", "sayhi_slowly"} {
		got, err := rpcudp.Invoke[string](context.Background(), client, server.LocalAddr(), m, "Snake Plissken")
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		want := "Hello Snake Plissken you live at " + client.LocalAddr().String()
		if !strings.HasPrefix(got, want) {
			t.Errorf("%s = %q, want %q", m, got, want)
		}
	}
}

func TestEcho(t *testing.T) {
	server, err := rpcudp.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	if err := server.Register(greeter{}); err != nil {
		t.Fatal(err)
	}
	client, err := rpcudp.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	for _, arg := range []any{[]byte("payload"), "text", int64(-7), []any{"a", 1.5}, map[string]any{"k": true}, nil} {
		// Compact ints, as rpcudp encodes them (like Python's msgpack).
		var buf bytes.Buffer
		enc := msgpack.NewEncoder(&buf)
		enc.UseCompactInts(true)
		if err := enc.Encode(arg); err != nil {
			t.Fatal(err)
		}
		want := buf.Bytes()
		reply, err := client.Call(context.Background(), server.LocalAddr(), "echo", arg)
		if err != nil {
			t.Fatalf("echo %#v: %v", arg, err)
		}
		if !bytes.Equal(reply, want) {
			t.Errorf("echo %#v = %x, want %x", arg, []byte(reply), want)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestControlStop runs the command as a user would: the greeter and test
// answer in the null namespace, calls naming another namespace or an
// incompatible version get an error reply saying why, and control 2.0's
// stop from loopback ends the command with exit 0 (a -stop-token set or
// not).
func TestControlStop(t *testing.T) {
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-stop-token", "s3cret"}, stdout, stderr) }()
	var addr netip.AddrPort
	for deadline := time.Now().Add(5 * time.Second); !addr.IsValid(); time.Sleep(5 * time.Millisecond) {
		if line, ok := strings.CutSuffix(stdout.String(), "\n"); ok {
			f := strings.Fields(line)
			addr = netip.MustParseAddrPort(f[len(f)-1])
		} else if time.Now().After(deadline) {
			t.Fatalf("server did not start: %s", stderr)
		}
	}
	ep, err := rpcudp.Listen(context.Background(), "127.0.0.1:0", rpcudp.WithTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	c, err := service.NewClient(ep)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, err := rpcudp.Invoke[map[string]any](ctx, ep, addr, "test", map[string]any{"a": "b"}); err != nil || got["a"] != "b" {
		t.Fatalf("test = %v, %v", got, err)
	}
	if got, err := rpcudp.Invoke[string](ctx, ep, addr, "sayhi", "x"); err != nil || !strings.HasPrefix(got, "Hello x") {
		t.Fatalf("sayhi = %v, %v", got, err)
	}
	for _, tt := range []struct {
		target service.Target
		method string
		want   error
	}{
		{service.Target{Namespace: "control", Version: "3.0"}, "stop", service.ErrIncompatibleVersion},
		{service.Target{Namespace: "control", Version: "2.1"}, "stop", service.ErrIncompatibleVersion},
		{service.Target{Namespace: "admin"}, "stop", service.ErrNoNamespace},
		{service.Target{}, "stop", rpcudp.ErrUnknownMethod},
		{service.Target{Namespace: "control", Version: "2.0"}, "test", rpcudp.ErrUnknownMethod},
	} {
		if _, err := c.Call(ctx, addr, tt.target, tt.method); !errors.Is(err, tt.want) {
			t.Errorf("%+v %s: %v, want %v", tt.target, tt.method, err, tt.want)
		}
	}
	if _, err := c.Call(ctx, addr, service.Target{Namespace: "control", Version: "2"}, "stop"); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 || !strings.Contains(stdout.String(), "stopped by "+ep.LocalAddr().String()) {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("control.stop did not stop the server")
	}
}

// TestStopFromAfar (issue 18, finding 9): control's stop from a
// non-loopback address is refused, and the server keeps serving, unless
// -stop-token is set and stop carries the token; from loopback it stops.
// On simnet: the callers' addresses are simulated.
func TestStopFromAfar(t *testing.T) {
	const far, token = "10.0.0.2:1000", "s3cret"
	tests := []struct {
		name, stopToken, from string
		args                  []any
		stops                 bool
	}{
		{"afar", "", far, nil, false},
		{"afar with a token, none set", "", far, []any{"x"}, false},
		{"afar without the token", token, far, nil, false},
		{"afar with a wrong token", token, far, []any{"wrong"}, false},
		{"afar with the token", token, far, []any{token}, true},
		{"loopback", "", "127.0.0.1:1000", nil, true},
		{"loopback, a token set", token, "127.0.0.1:1000", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				stopped, c, srvAddr := simServer(t, tc.stopToken, tc.from)
				ctx := context.Background()
				_, err := c.Call(ctx, srvAddr, service.Target{Namespace: "control", Version: "2.0"}, "stop", tc.args...)
				if tc.stops {
					if err != nil {
						t.Fatalf("stop: %v", err)
					}
					if from := <-stopped; from.String() != tc.from {
						t.Fatalf("stopped by %s", from)
					}
					return
				}
				if !errors.Is(err, rpcudp.ErrHandler) || !strings.Contains(err.Error(), "stop refused") {
					t.Fatalf("stop: %v, want refused", err)
				}
				select {
				case from := <-stopped:
					t.Fatalf("stopped by %s", from)
				default:
				}
				if _, err := c.Call(ctx, srvAddr, service.Target{}, "test", 1); err != nil {
					t.Fatalf("after a refused stop: %v", err)
				}
			})
		})
	}
}

// simServer serves addEndpoints on simnet at 10.0.0.1:1234 and returns
// its stopped channel, a client at from, and the server's address.
func simServer(t *testing.T, stopToken, from string) (<-chan netip.AddrPort, *service.Client, netip.AddrPort) {
	t.Helper()
	n := simnet.New(simnet.Config{Latency: time.Millisecond})
	listen := func(addr string) *rpcudp.Endpoint {
		pc, err := n.ListenPacket("udp", addr)
		if err != nil {
			t.Fatal(err)
		}
		return rpcudp.New(pc)
	}
	srvEP, cliEP := listen("10.0.0.1:1234"), listen(from)
	srv := service.New(srvEP)
	stopped := make(chan netip.AddrPort, 1)
	if err := addEndpoints(srv, stopped, stopToken); err != nil {
		t.Fatal(err)
	}
	srv.Start()
	c, err := service.NewClient(cliEP)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		srv.Close()
		cliEP.Close()
		srvEP.Close()
		n.Close()
	})
	return stopped, c, srvEP.LocalAddr()
}
