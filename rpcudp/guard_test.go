package rpcudp_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/rpcudp/go-rpcudp/rpcudp/simnet"
	"github.com/rpcudp/go-rpcudp/rpcudp/wire"
)

// The anti-amplification tests (issue 18) run on simnet with non-loopback
// addresses, in virtual time: a reply toward an address that has not
// proved it receives is at most 3x what that address sent.

// tally counts what the network carries to each address (SetFilter sees
// every datagram written, whether anybody listens or not).
type tally struct {
	mu    sync.Mutex
	bytes map[netip.AddrPort]int
	types map[netip.AddrPort][]byte // type byte of each datagram
}

func watch(n *simnet.Network) *tally {
	t := &tally{bytes: map[netip.AddrPort]int{}, types: map[netip.AddrPort][]byte{}}
	n.SetFilter(func(_, to netip.AddrPort, b []byte) bool {
		t.mu.Lock()
		t.bytes[to] += len(b)
		t.types[to] = append(t.types[to], b[0])
		t.mu.Unlock()
		return true
	})
	return t
}

// to returns the bytes sent to a and whether one of them was a response.
func (t *tally) to(a netip.AddrPort) (bytes int, response bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, typ := range t.types[a] {
		response = response || typ == wire.TypeResponse
	}
	return t.bytes[a], response
}

// request builds a request datagram by hand, as a forger would, with the
// message id seq; args are strings or ints.
func request(seq int, method string, args ...any) []byte {
	b := make([]byte, wire.HeaderLen)
	binary.BigEndian.PutUint32(b[1:], uint32(seq))
	b = wire.AppendArrayLen(b, 2)
	b = wire.AppendStr(b, method)
	b = wire.AppendArrayLen(b, len(args))
	for _, a := range args {
		switch a := a.(type) {
		case string:
			b = wire.AppendStr(b, a)
		case int:
			b = wire.AppendInt(b, int64(a))
		}
	}
	return b
}

var (
	serverAddr = netip.MustParseAddrPort("10.0.0.1:4000")
	clientAddr = netip.MustParseAddrPort("10.0.0.2:4000")
	victimAddr = netip.MustParseAddrPort("10.0.0.9:4000") // nobody listens there
)

// bigServer serves "big" (a string of n bytes), "fail" (an error quoting
// 1000 bytes) and "noop" on addr.
func bigServer(t *testing.T, n *simnet.Network, addr netip.AddrPort, opts ...rpcudp.Option) *rpcudp.Endpoint {
	t.Helper()
	e := simEndpoint(t, n, addr.String(), opts...)
	e.Handle("big", func(_ context.Context, _ netip.AddrPort, n int) (string, error) {
		return strings.Repeat("x", n), nil
	})
	e.Handle("fail", func(_ context.Context, _ netip.AddrPort) error {
		return fmt.Errorf("no session named %s", strings.Repeat("s", 1000))
	})
	e.Handle("noop", func(context.Context, netip.AddrPort) error { return nil })
	return e
}

// pingCounter is an interceptor counting the rpcudp.ping requests an
// endpoint serves.
func pingCounter(n *atomic.Int32) rpcudp.Interceptor {
	return func(ctx context.Context, req *rpcudp.Request, next rpcudp.HandlerFunc) (any, error) {
		if req.Method == "rpcudp.ping" {
			n.Add(1)
		}
		return next(ctx, req)
	}
}

// TestAmplificationForged: a request forged with a victim's source address
// sends the victim at most 3x its bytes, and never the reply itself; the
// held reply is dropped and counted.
func TestAmplificationForged(t *testing.T) {
	methods := make([]string, 20)
	for i := range methods {
		methods[i] = fmt.Sprintf("a_rather_long_method_name_%02d", i)
	}
	tests := []struct {
		name string
		req  []byte
	}{
		{"big reply", request(1, "big", 4000)},
		{"error quoting a long name", request(2, "fail")},
		{"rpcudp.methods", request(3, rpcudp.MethodsMethod)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := simnet.New(simnet.Config{Latency: 10 * time.Millisecond})
				defer n.Close()
				seen := watch(n)
				server := bigServer(t, n, serverAddr)
				defer server.Close()
				for _, m := range methods {
					server.Handle(m, func(context.Context, netip.AddrPort) error { return nil })
				}
				n.Inject(victimAddr, serverAddr, tt.req)
				time.Sleep(5 * time.Second)
				got, response := seen.to(victimAddr)
				if got > 3*len(tt.req) || response {
					t.Errorf("victim got %d bytes (response: %v) for a forged request of %d", got, response, len(tt.req))
				}
				if s := server.Stats(); s.Drops.Unproven != 1 {
					t.Errorf("Drops.Unproven = %d, want 1", s.Drops.Unproven)
				}
			})
		})
	}
}

// TestAmplificationGoCaller: a Go caller on a non-loopback address gets a
// big reply after one extra round trip (the server pings it, its endpoint
// answers), also when it resends the request while the reply is held; a
// second call needs no ping.
func TestAmplificationGoCaller(t *testing.T) {
	tests := []struct {
		name  string
		retry rpcudp.RetryPolicy
	}{
		{"no retries", rpcudp.RetryPolicy{}},
		{"resent while held", rpcudp.RetryPolicy{Initial: 30 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const latency = 20 * time.Millisecond
				n := simnet.New(simnet.Config{Latency: latency})
				defer n.Close()
				server := bigServer(t, n, serverAddr)
				defer server.Close()
				var pings atomic.Int32
				client := simEndpoint(t, n, clientAddr.String(), rpcudp.WithRetry(tt.retry), rpcudp.WithInterceptors(pingCounter(&pings)))
				defer client.Close()
				for i, want := range []struct {
					took  time.Duration
					pings int32
				}{{4 * latency, 1}, {2 * latency, 1}} {
					start := time.Now()
					var s string
					r, err := client.Call(context.Background(), serverAddr, "big", 4000)
					if err == nil {
						err = r.Decode(&s)
					}
					if err != nil || len(s) != 4000 {
						t.Fatalf("call %d: %d bytes, %v", i, len(s), err)
					}
					if took := time.Since(start); took != want.took || pings.Load() != want.pings {
						t.Errorf("call %d took %v with %d pings, want %v and %d", i, took, pings.Load(), want.took, want.pings)
					}
				}
				if s := server.Stats(); s.Drops.Unproven != 0 || (tt.retry.Initial > 0) != (s.CacheHits > 0) {
					t.Errorf("Drops.Unproven = %d, CacheHits = %d", s.Drops.Unproven, s.CacheHits)
				}
			})
		})
	}
}

// TestAmplificationSilentCaller: a caller that never answers the probe
// gets the probe and nothing else; the reply's drop is counted.
func TestAmplificationSilentCaller(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := simnet.New(simnet.Config{Latency: 10 * time.Millisecond})
		defer n.Close()
		server := bigServer(t, n, serverAddr)
		defer server.Close()
		raw, err := n.Listen(clientAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		req := request(1, "big", 4000)
		raw.WriteToUDPAddrPort(req, serverAddr)
		var got [][]byte
		for {
			raw.SetReadDeadline(time.Now().Add(5 * time.Second))
			b, _, err := raw.ReadPacket()
			if err != nil {
				break
			}
			got = append(got, b)
		}
		if len(got) != 1 || got[0][0] != wire.TypeRequest || !strings.Contains(string(got[0]), "rpcudp.ping") {
			for _, b := range got {
				t.Errorf("caller got a datagram of type %#x, %d bytes", b[0], len(b))
			}
			t.Errorf("caller got %d datagrams, want one rpcudp.ping request", len(got))
		}
		if s := server.Stats(); s.Drops.Unproven != 1 {
			t.Errorf("Drops.Unproven = %d, want 1", s.Drops.Unproven)
		}
	})
}

// TestAmplificationHeldBounds: at most 4 replies are held for one address
// (a resend replaces its first copy), at most 4 MiB in all, and one prover
// runs per address, at most 256 at once; whatever is not held is dropped
// at once. No victim ever gets more than 3x.
func TestAmplificationHeldBounds(t *testing.T) {
	victim := func(i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 4000)
	}
	tests := []struct {
		name      string
		victims   int
		ids       int // distinct message ids per victim
		copies    int // copies of each
		size      int // reply size
		atOnce    uint64
		atOnceMin bool // atOnce is a lower bound
	}{
		{"one address", 1, 10, 1, 4000, 6, false},
		{"resends replace", 1, 3, 3, 4000, 0, false},
		// 300 victims: 44 get no prover; 256 x 4 replies of 8 KB make
		// 8 MiB, of which 4 MiB (522) are held.
		{"in all", 300, 4, 1, 8000, 1200 - (4<<20)/8021, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := simnet.New(simnet.Config{Latency: 10 * time.Millisecond, QueueLen: 1 << 14})
				defer n.Close()
				seen := watch(n)
				server := bigServer(t, n, serverAddr)
				defer server.Close()
				sent := map[netip.AddrPort]int{}
				for v := range tt.victims {
					for id := range tt.ids {
						req := request(id, "big", tt.size)
						for range tt.copies {
							n.Inject(victim(v), serverAddr, req)
							sent[victim(v)] += len(req)
						}
					}
				}
				time.Sleep(time.Millisecond) // the server has read them all, probes are out
				s := server.Stats()
				if got := s.Drops.Unproven; got < tt.atOnce || (!tt.atOnceMin && got != tt.atOnce) {
					t.Errorf("Drops.Unproven at once = %d, want %d", got, tt.atOnce)
				}
				time.Sleep(5 * time.Second)
				if got, want := server.Stats().Drops.Unproven, uint64(tt.victims*tt.ids); got != want {
					t.Errorf("Drops.Unproven after the hold timeout = %d, want %d", got, want)
				}
				for v, b := range sent {
					if got, response := seen.to(v); got > 3*b || response {
						t.Fatalf("victim %s got %d bytes (response: %v) for %d", v, got, response, b)
					}
				}
			})
		})
	}
}

// TestProve: Prove answers at once for loopback and proven addresses,
// shares a probe in flight, fails for an address that does not answer,
// runs the application's prover when one is given, and fails after Close.
func TestProve(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const latency = 10 * time.Millisecond
		n := simnet.New(simnet.Config{Latency: latency})
		defer n.Close()
		server := bigServer(t, n, serverAddr)
		var pings atomic.Int32
		client := simEndpoint(t, n, clientAddr.String(), rpcudp.WithInterceptors(pingCounter(&pings)))
		defer client.Close()
		ctx := context.Background()
		prove := func(addr netip.AddrPort, wantTook time.Duration) error {
			t.Helper()
			start := time.Now()
			err := server.Prove(ctx, addr)
			if took := time.Since(start); took != wantTook {
				t.Errorf("Prove(%s) took %v, want %v", addr, took, wantTook)
			}
			return err
		}
		if err := prove(netip.MustParseAddrPort("127.0.0.1:9"), 0); err != nil {
			t.Errorf("Prove(loopback) = %v", err)
		}
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				if err := prove(clientAddr, 2*latency); err != nil {
					t.Errorf("Prove(Go endpoint) = %v", err)
				}
			})
		}
		wg.Wait()
		if err := prove(clientAddr, 0); err != nil || pings.Load() != 1 {
			t.Errorf("Prove(proven) = %v after %d pings, want nil after 1", err, pings.Load())
		}
		if err := prove(victimAddr, 2*time.Second); !errors.Is(err, rpcudp.ErrTimeout) {
			t.Errorf("Prove(silent) = %v, want ErrTimeout", err)
		}
		out := server.Stats().DatagramsOut
		server.Close()
		if err := server.Prove(ctx, victimAddr); !errors.Is(err, rpcudp.ErrClosed) || server.Stats().DatagramsOut != out {
			t.Errorf("Prove after Close = %v", err)
		}

		var asked []netip.AddrPort
		custom := simEndpoint(t, n, "10.0.0.3:4000", rpcudp.WithAntiAmplification(0, func(_ context.Context, to netip.AddrPort) error {
			asked = append(asked, to)
			return nil
		}))
		defer custom.Close()
		if err := custom.Prove(ctx, victimAddr); err != nil || len(asked) != 1 || asked[0] != victimAddr {
			t.Errorf("Prove with a custom prover = %v, prover asked for %v", err, asked)
		}
	})
}

// TestAmplificationExempt: with the rule turned off, or toward a loopback
// address, a forged request gets its whole reply at once.
func TestAmplificationExempt(t *testing.T) {
	tests := []struct {
		name           string
		server, victim netip.AddrPort
		opts           []rpcudp.Option
	}{
		{"rule off", serverAddr, victimAddr, []rpcudp.Option{rpcudp.WithAntiAmplification(-1, nil)}},
		{"loopback", netip.MustParseAddrPort("127.0.0.1:4000"), netip.MustParseAddrPort("127.0.0.9:4000"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := simnet.New(simnet.Config{Latency: 10 * time.Millisecond})
				defer n.Close()
				seen := watch(n)
				server := bigServer(t, n, tt.server, tt.opts...)
				defer server.Close()
				n.Inject(tt.victim, tt.server, request(1, "big", 4000))
				time.Sleep(time.Second)
				if got, response := seen.to(tt.victim); got < 4000 || !response {
					t.Errorf("victim got %d bytes (response: %v), want the reply", got, response)
				}
			})
		})
	}
}

// TestProofExpiry: an address that answered one of the endpoint's calls
// gets big replies without a probe for 10 minutes, then is probed again.
func TestProofExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := simnet.New(simnet.Config{Latency: 10 * time.Millisecond})
		defer n.Close()
		server := bigServer(t, n, serverAddr)
		defer server.Close()
		var pings atomic.Int32
		client := bigServer(t, n, clientAddr, rpcudp.WithInterceptors(pingCounter(&pings)))
		defer client.Close()
		ctx := context.Background()
		if _, err := server.Call(ctx, clientAddr, "noop"); err != nil {
			t.Fatal(err)
		}
		for _, step := range []struct {
			wait  time.Duration
			pings int32
		}{{0, 0}, {9 * time.Minute, 0}, {11 * time.Minute, 1}, {time.Minute, 1}} {
			time.Sleep(step.wait)
			if _, err := client.Call(ctx, serverAddr, "big", 4000); err != nil {
				t.Fatal(err)
			}
			if pings.Load() != step.pings {
				t.Errorf("after %v more: %d pings, want %d", step.wait, pings.Load(), step.pings)
			}
		}
	})
}
