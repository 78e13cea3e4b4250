package kademlia

import (
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp/simnet"
)

// TestSimnetQuantum checks the simnet hook the churn suites use
// (simnet.Config.Quantum): with jitter, every datagram arrives on a whole
// quantum after the network's creation, no earlier than its latency and
// at most one quantum after its latest possible jittered arrival, and
// datagrams from one sender to one receiver keep their order when they
// share an arrival instant.
func TestSimnetQuantum(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const latency, jitter, quantum = 5 * time.Millisecond, 15 * time.Millisecond, time.Millisecond
		start := time.Now()
		net := simnet.New(simnet.Config{Seed: 3, Latency: latency, Jitter: jitter, Quantum: quantum})
		defer net.Close()
		a, err := net.Listen(netip.MustParseAddrPort("10.0.0.1:1"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := net.Listen(netip.MustParseAddrPort("10.0.0.2:1"))
		if err != nil {
			t.Fatal(err)
		}
		const count = 500
		sent := make([]time.Time, count)
		go func() {
			for i := range count {
				sent[i] = time.Now()
				a.WriteToUDPAddrPort([]byte{byte(i >> 8), byte(i)}, b.AddrPort())
				if i%7 == 0 {
					time.Sleep(time.Duration(i%5) * 300 * time.Microsecond)
				}
			}
		}()
		buf := make([]byte, 16)
		last := map[time.Time]int{} // arrival instant -> last sequence number read at it
		for range count {
			n, _, err := b.ReadFromUDPAddrPort(buf)
			if err != nil || n != 2 {
				t.Fatalf("read %d bytes: %v", n, err)
			}
			i, now := int(buf[0])<<8|int(buf[1]), time.Now()
			if since := now.Sub(start); since%quantum != 0 {
				t.Fatalf("datagram %d arrived %v after the start, not on a whole quantum", i, since)
			}
			if d := now.Sub(sent[i]); d < latency || d > latency+jitter+quantum {
				t.Fatalf("datagram %d took %v, want %v to %v", i, d, latency, latency+jitter+quantum)
			}
			if prev, ok := last[now]; ok && prev > i {
				t.Fatalf("datagram %d read after %d at the same instant", i, prev)
			}
			last[now] = i
		}
		if len(last) >= count/2 {
			t.Errorf("%d datagrams arrived at %d distinct instants: the quantum grouped few", count, len(last))
		}
		a.Close()
		b.Close()
	})
}
