package rpcudp_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/rpcudp/go-rpcudp/rpcudp/simnet"
	"github.com/rpcudp/go-rpcudp/rpcudp/wire"
)

// These suites run rpcudp endpoints on the simulated network, in a
// synctest bubble (virtual time), and print their figures with -v:
//
//	go test -run 'Suite' -v ./rpcudp/

func simEndpoint(t *testing.T, n *simnet.Network, addr string, opts ...rpcudp.Option) *rpcudp.Endpoint {
	t.Helper()
	pc, err := n.ListenPacket("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return rpcudp.New(pc, opts...)
}

// TestSuiteLoss: 20% loss each way, retries on: at least 99% of calls
// succeed, none resolves twice, and a retried request runs its handler once.
func TestSuiteLoss(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := simnet.New(simnet.Config{Seed: 7, Latency: 10 * time.Millisecond, Jitter: 5 * time.Millisecond, Loss: 0.2})
		defer n.Close()
		var runs sync.Map // call number -> times the handler ran for it
		server := simEndpoint(t, n, "127.0.0.1:1000")
		defer server.Close()
		server.Handle("work", func(_ context.Context, _ netip.AddrPort, i int) (int, error) {
			c, _ := runs.LoadOrStore(i, new(atomic.Int32))
			c.(*atomic.Int32).Add(1)
			return i * 2, nil
		})
		client := simEndpoint(t, n, "127.0.0.2:1000",
			rpcudp.WithTimeout(5*time.Second),
			rpcudp.WithRetry(rpcudp.RetryPolicy{Initial: 60 * time.Millisecond, Max: 500 * time.Millisecond}))
		defer client.Close()

		const calls = 2000
		var ok, wrong atomic.Int64
		var wg sync.WaitGroup
		for i := range calls {
			wg.Go(func() {
				v, err := rpcudp.Invoke[int](context.Background(), client, server.LocalAddr(), "work", i)
				switch {
				case err != nil:
				case v != i*2:
					wrong.Add(1)
				default:
					ok.Add(1)
				}
			})
		}
		wg.Wait()
		cs, ss := client.Stats(), server.Stats()
		var twice int
		runs.Range(func(_, c any) bool {
			if c.(*atomic.Int32).Load() > 1 {
				twice++
			}
			return true
		})
		rate := float64(ok.Load()) / calls
		t.Logf("loss suite: %d calls, 20%% loss each way: %.2f%% succeeded, %d retransmits, %d cache hits, %d duplicate drops, handlers run twice: %d, network %+v",
			calls, 100*rate, cs.Retransmits, ss.CacheHits, ss.Drops.Duplicate, twice, n.Stats())
		if rate < 0.99 || wrong.Load() != 0 || twice != 0 {
			t.Errorf("success %.4f (want >= 0.99), wrong answers %d, handlers run twice %d", rate, wrong.Load(), twice)
		}
		if got := cs.CallsOK + cs.CallsTimedOut + cs.CallsFailed; got != calls {
			t.Errorf("calls resolved %d times for %d calls", got, calls)
		}
	})
}

// TestSuiteSpoofing: forged replies with the right id but the wrong
// sender never resolve a call, and a flood of them does not stop the real
// reply from resolving it.
func TestSuiteSpoofing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := simnet.New(simnet.Config{Seed: 3, Latency: 5 * time.Millisecond, QueueLen: 1 << 16})
		defer n.Close()
		server := simEndpoint(t, n, "127.0.0.1:1000")
		defer server.Close()
		server.Handle("real", func(context.Context, netip.AddrPort) (string, error) {
			time.Sleep(50 * time.Millisecond) // room for the forgeries to arrive first
			return "real", nil
		})
		client := simEndpoint(t, n, "127.0.0.2:1000")
		defer client.Close()
		forgers := []netip.AddrPort{
			netip.MustParseAddrPort("127.0.0.1:1001"), // same host, other port
			netip.MustParseAddrPort("127.0.0.3:1000"), // other host, same port
			netip.MustParseAddrPort("[::1]:1000"),
		}
		const perRequest = 3000
		var forged atomic.Int64
		n.SetFilter(func(from, to netip.AddrPort, b []byte) bool {
			if to == server.LocalAddr() && len(b) > wire.HeaderLen && b[0] == wire.TypeRequest {
				id := append([]byte(nil), b[1:wire.HeaderLen]...)
				go func() {
					for i := range perRequest {
						reply := append([]byte{wire.TypeResponse}, id...)
						reply = append(reply, 0xa6, 'f', 'o', 'r', 'g', 'e', 'd')
						n.Inject(forgers[i%len(forgers)], from, reply)
						forged.Add(1)
					}
				}()
			}
			return true
		})
		const calls = 20
		for range calls {
			got, err := rpcudp.Invoke[string](context.Background(), client, server.LocalAddr(), "real")
			if err != nil || got != "real" {
				t.Fatalf("got %q, %v", got, err)
			}
		}
		synctest.Wait()
		s := client.Stats()
		t.Logf("spoofing suite: %d calls, %d forged replies injected, %d dropped as wrong sender, %d as unknown id; every call got the real reply",
			calls, forged.Load(), s.Drops.WrongSender, s.Drops.UnknownID)
		if s.Drops.WrongSender == 0 || s.CallsOK != calls {
			t.Errorf("stats %+v", s)
		}
	})
}

// TestSuiteFlood: a million junk datagrams (random bytes, oversize, bad
// msgpack, replies with unknown ids, replies from the wrong address,
// requests for unknown methods, a burst far over the handler slots) while
// legitimate calls run: no panic, bounded memory, at least 99% of the
// legitimate calls succeed. Without the build tag long (or with -short)
// the flood is 100,000 datagrams.
func TestSuiteFlood(t *testing.T) {
	junkTotal := 1_000_000
	if !long || testing.Short() {
		junkTotal = 100_000
	}
	synctest.Test(t, func(t *testing.T) {
		n := simnet.New(simnet.Config{Seed: 11, Latency: time.Millisecond, QueueLen: 4096})
		defer n.Close()
		server := simEndpoint(t, n, "127.0.0.1:1000", rpcudp.WithHandlerSlots(64))
		defer server.Close()
		server.Handle("echo", func(_ context.Context, _ netip.AddrPort, s string) (string, error) { return s, nil })
		server.Handle("slow", func(context.Context, netip.AddrPort) (bool, error) {
			time.Sleep(time.Second)
			return true, nil
		})
		client := simEndpoint(t, n, "127.0.0.2:1000",
			rpcudp.WithRetry(rpcudp.RetryPolicy{Initial: 100 * time.Millisecond, Max: 400 * time.Millisecond}))
		defer client.Close()

		// Ids of the client's real requests, for forged replies.
		var idsMu sync.Mutex
		var ids [][]byte
		n.SetFilter(func(from, to netip.AddrPort, b []byte) bool {
			if from == client.LocalAddr() && len(b) > wire.HeaderLen && b[0] == wire.TypeRequest {
				idsMu.Lock()
				if len(ids) < 1024 {
					ids = append(ids, append([]byte(nil), b[1:wire.HeaderLen]...))
				}
				idsMu.Unlock()
			}
			return true
		})

		rng := rand.New(rand.NewPCG(1, 2))
		hdr := func(typ byte) []byte {
			b := make([]byte, wire.HeaderLen, 64)
			b[0] = typ
			for i := 1; i < wire.HeaderLen; i++ {
				b[i] = byte(rng.Uint32())
			}
			return b
		}
		attacker := netip.MustParseAddrPort("127.0.0.66:6666")
		kinds := []func() (from, to netip.AddrPort, b []byte){
			func() (netip.AddrPort, netip.AddrPort, []byte) { // random bytes
				b := make([]byte, rng.IntN(64))
				for i := range b {
					b[i] = byte(rng.Uint32())
				}
				return attacker, server.LocalAddr(), b
			},
			func() (netip.AddrPort, netip.AddrPort, []byte) { // oversize
				return attacker, server.LocalAddr(), make([]byte, wire.HeaderLen+rpcudp.MaxBody+1+rng.IntN(100))
			},
			func() (netip.AddrPort, netip.AddrPort, []byte) { // bad msgpack
				return attacker, server.LocalAddr(), append(hdr(wire.TypeRequest), 0x92, 0xc1, 0xc1)
			},
			func() (netip.AddrPort, netip.AddrPort, []byte) { // reply, unknown id
				return attacker, client.LocalAddr(), append(hdr(wire.TypeResponse), 0xc3)
			},
			func() (netip.AddrPort, netip.AddrPort, []byte) { // reply from the wrong address
				idsMu.Lock()
				defer idsMu.Unlock()
				b := hdr(wire.TypeResponse)
				if len(ids) > 0 {
					copy(b[1:], ids[rng.IntN(len(ids))])
				}
				return attacker, client.LocalAddr(), append(b, 0xa6, 'f', 'o', 'r', 'g', 'e', 'd')
			},
			func() (netip.AddrPort, netip.AddrPort, []byte) { // unknown method
				return attacker, server.LocalAddr(), append(hdr(wire.TypeRequest), 0x92, 0xa4, 'n', 'o', 'p', 'e', 0x90)
			},
			func() (netip.AddrPort, netip.AddrPort, []byte) { // burst over the slots
				return attacker, server.LocalAddr(), append(hdr(wire.TypeRequest), 0x92, 0xa4, 's', 'l', 'o', 'w', 0x90)
			},
		}

		var peak uint64
		sample := func() {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
		sample()
		base := peak

		// The flood: paced in bursts of 500 per virtual millisecond.
		flooding := make(chan struct{})
		go func() {
			defer close(flooding)
			for i := 0; i < junkTotal; i++ {
				from, to, b := kinds[i%len(kinds)]()
				n.Inject(from, to, b)
				if i%500 == 499 {
					time.Sleep(time.Millisecond)
				}
				if i%100_000 == 0 {
					sample()
				}
			}
		}()
		// Legitimate calls meanwhile.
		const calls = 1000
		var ok atomic.Int64
		var wg sync.WaitGroup
		for i := range calls {
			wg.Go(func() {
				time.Sleep(time.Duration(i) * time.Millisecond)
				s := fmt.Sprint("call-", i)
				got, err := rpcudp.Invoke[string](context.Background(), client, server.LocalAddr(), "echo", s)
				if err == nil && got == s {
					ok.Add(1)
				}
			})
		}
		wg.Wait()
		<-flooding
		sample()
		ss, cs := server.Stats(), client.Stats()
		rate := float64(ok.Load()) / calls
		t.Logf("flood suite: %d junk datagrams, %d legitimate calls: %.2f%% succeeded; heap in use peak %.1f MiB (start %.1f MiB)",
			junkTotal, calls, 100*rate, float64(peak)/(1<<20), float64(base)/(1<<20))
		t.Logf("  server drops %+v, error replies %d; client drops %+v; network queue-full drops %d",
			ss.Drops, ss.ErrorReplies, cs.Drops, n.Stats().DroppedQueueFull)
		if rate < 0.99 {
			t.Errorf("only %.2f%% of legitimate calls succeeded", 100*rate)
		}
		if peak-base > 256<<20 {
			t.Errorf("heap grew by %d MiB", (peak-base)>>20)
		}
		if ss.Drops.Malformed == 0 || ss.Drops.Overload == 0 || cs.Drops.UnknownID == 0 || cs.Drops.WrongSender == 0 {
			t.Errorf("a kind of junk was not seen: server %+v client %+v", ss.Drops, cs.Drops)
		}
	})
}

// TestSuiteEndpointChurn opens and closes 10,000 endpoints (1000 without
// the build tag long, or with -short) and checks that neither goroutines
// nor memory grow.
func TestSuiteEndpointChurn(t *testing.T) {
	total := 10_000
	if !long || testing.Short() {
		total = 1000
	}
	runtime.GC()
	g0 := runtime.NumGoroutine()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for i := range total {
		e, err := rpcudp.Listen(context.Background(), "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			e.Handle("x", func(context.Context, netip.AddrPort) {})
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	g1 := runtime.NumGoroutine()
	t.Logf("endpoint churn: %d endpoints opened and closed; goroutines %d -> %d; heap in use %.1f -> %.1f MiB",
		total, g0, g1, float64(m0.HeapInuse)/(1<<20), float64(m1.HeapInuse)/(1<<20))
	if g1 > g0 {
		t.Errorf("goroutines grew from %d to %d", g0, g1)
	}
	if m1.HeapInuse > m0.HeapInuse+32<<20 {
		t.Errorf("heap grew from %d to %d", m0.HeapInuse, m1.HeapInuse)
	}
}
