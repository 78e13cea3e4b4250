package rpcudp

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
)

// The benchmarks run on loopback. BenchmarkRawEcho* is the ceiling: the
// same traffic pattern (one client socket shared by every caller, a reader
// goroutine handing each reply to its waiter, an echo server) with no RPC
// layer and no msgpack. Compare calls/s of BenchmarkCallParallel with
// BenchmarkRawEchoParallel in the same run:
//
//	go test -run '^$' -bench . -benchmem ./rpcudp/

const benchParallelism = 16 // goroutines per GOMAXPROCS in the parallel benchmarks

func benchPair(b *testing.B) (*Endpoint, netip.AddrPort) {
	server := newTestEndpoint(b, "127.0.0.1:0")
	server.Handle("echo", func(_ context.Context, _ netip.AddrPort, s string) (string, error) { return s, nil })
	client := newTestEndpoint(b, "127.0.0.1:0")
	return client, server.LocalAddr()
}

func BenchmarkCallSequential(b *testing.B) {
	client, to := benchPair(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r, err := client.Call(ctx, to, "echo", "hello")
		if err != nil || len(r) != 6 {
			b.Fatal(err)
		}
	}
	reportRate(b)
}

func BenchmarkCallParallel(b *testing.B) {
	client, to := benchPair(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r, err := client.Call(ctx, to, "echo", "hello")
			if err != nil || len(r) != 6 {
				b.Error(err)
				return
			}
		}
	})
	reportRate(b)
}

func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}

// rawEcho is the no-RPC ceiling: an echo server and a client whose callers
// share one socket, matched by an 8-byte sequence number.
type rawEcho struct {
	server, client *net.UDPConn
	to             netip.AddrPort
	seq            atomic.Uint64
	mu             sync.Mutex
	waiters        map[uint64]chan struct{}
	wg             sync.WaitGroup
}

func newRawEcho(b *testing.B) *rawEcho {
	lo := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
	s, err := net.ListenUDP("udp", lo)
	if err != nil {
		b.Fatal(err)
	}
	c, err := net.ListenUDP("udp", lo)
	if err != nil {
		b.Fatal(err)
	}
	r := &rawEcho{server: s, client: c, to: s.LocalAddr().(*net.UDPAddr).AddrPort(), waiters: map[uint64]chan struct{}{}}
	r.wg.Add(2)
	go func() { // echo server
		defer r.wg.Done()
		buf := make([]byte, maxDatagram)
		for {
			n, from, err := s.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			s.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	go func() { // client reader
		defer r.wg.Done()
		buf := make([]byte, maxDatagram)
		for {
			n, _, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if n < 8 {
				continue
			}
			seq := binary.BigEndian.Uint64(buf)
			r.mu.Lock()
			ch := r.waiters[seq]
			delete(r.waiters, seq)
			r.mu.Unlock()
			if ch != nil {
				ch <- struct{}{}
			}
		}
	}()
	b.Cleanup(func() { s.Close(); c.Close(); r.wg.Wait() })
	return r
}

func (r *rawEcho) call(ch chan struct{}, buf []byte) {
	seq := r.seq.Add(1)
	binary.BigEndian.PutUint64(buf, seq)
	r.mu.Lock()
	r.waiters[seq] = ch
	r.mu.Unlock()
	r.client.WriteToUDPAddrPort(buf, r.to)
	<-ch
}

func BenchmarkRawEchoSequential(b *testing.B) {
	r := newRawEcho(b)
	ch := make(chan struct{}, 1)
	buf := make([]byte, 8+16)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r.call(ch, buf)
	}
	reportRate(b)
}

func BenchmarkRawEchoParallel(b *testing.B) {
	r := newRawEcho(b)
	b.ReportAllocs()
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ch := make(chan struct{}, 1)
		buf := make([]byte, 8+16)
		for pb.Next() {
			r.call(ch, buf)
		}
	})
	reportRate(b)
}
