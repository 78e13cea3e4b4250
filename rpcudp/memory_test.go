package rpcudp_test

import (
	"net/netip"
	"runtime"
	"testing"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/rpcudp/go-rpcudp/rpcudp/simnet"
)

// TestIdleEndpointMemory measures what an idle endpoint costs (heap and
// goroutine stacks) with many of them on the simulated network: 1,000, or
// 10,000 with the long tag; -v prints the figure. An idle endpoint holds no
// read buffer, so it stays far below one 64 KiB buffer each.
func TestIdleEndpointMemory(t *testing.T) {
	n := 1000
	if long {
		n = 10000
	}
	net := simnet.New(simnet.Config{})
	defer net.Close()
	before := heapAndStacks()
	eps := make([]*rpcudp.Endpoint, n)
	for i := range eps {
		addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 4000)
		pc, err := net.ListenPacket("udp", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		eps[i] = rpcudp.New(pc)
	}
	each := float64(heapAndStacks()-before) / float64(n)
	for _, e := range eps {
		e.Close()
	}
	t.Logf("%d idle endpoints on simnet: %.0f bytes each (heap and stacks)", n, each)
	if each > 32<<10 {
		t.Errorf("an idle endpoint costs %.0f bytes", each)
	}
}

func heapAndStacks() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc + m.StackInuse)
}
