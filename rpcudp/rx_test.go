package rpcudp

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp/simnet"
)

// fakePeer answers every request it reads with a reply of a given body:
// a Python server may answer with up to a whole UDP datagram.
func fakePeer(t *testing.T, conn net.PacketConn, body []byte) {
	t.Helper()
	done := make(chan struct{})
	t.Cleanup(func() { conn.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, readBufSize)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			if n < headerLen {
				continue
			}
			reply := append([]byte{typeResponse}, buf[1:headerLen]...)
			conn.WriteTo(append(reply, body...), from)
		}
	}()
}

// bigBody is a msgpack bin of n bytes in all.
func bigBody(n int) []byte {
	b := []byte{0xc6, 0, 0, 0, 0}
	p := n - len(b)
	b[1], b[2], b[3], b[4] = byte(p>>24), byte(p>>16), byte(p>>8), byte(p)
	return append(b, make([]byte, p)...)
}

// TestLargeReplies: replies over MaxBody, up to the largest IPv4 UDP
// datagram, reach the caller whichever way the endpoint reads its conn: a
// UDP socket, a simulated conn, or any other PacketConn.
func TestLargeReplies(t *testing.T) {
	const largest = 65507 - headerLen // the largest IPv4 UDP payload
	n := simnet.New(simnet.Config{})
	t.Cleanup(func() { n.Close() })
	listenSim := func(t *testing.T) net.PacketConn {
		pc, err := n.ListenPacket("udp", "10.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return pc
	}
	listenUDP := func(t *testing.T) net.PacketConn {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	wrap := func(t *testing.T) net.PacketConn { // hides the fast paths
		return &lossyConn{PacketConn: listenUDP(t), drop: func(int64) bool { return false }}
	}
	kinds := []struct {
		name         string
		peer, client func(*testing.T) net.PacketConn
	}{
		{"udp", listenUDP, listenUDP},
		{"simnet", listenSim, listenSim},
		{"other conn", listenUDP, wrap},
	}
	for _, k := range kinds {
		for _, size := range []int{MaxBody + 1, 20000, largest} {
			t.Run(k.name+"/"+strconv.Itoa(size), func(t *testing.T) {
				peer := k.peer(t)
				fakePeer(t, peer, bigBody(size))
				client := New(k.client(t))
				t.Cleanup(func() { client.Close() })
				reply, err := client.Call(testCtx(t), addrPortOf(peer.LocalAddr()), "big")
				if err != nil {
					t.Fatal(err)
				}
				var p []byte
				if len(reply) != size || reply.Decode(&p) != nil || len(p) != size-5 {
					t.Errorf("reply of %d bytes, want %d", len(reply), size)
				}
			})
		}
	}
}

// TestBurst: 2,000 calls in flight at once on loopback, without retries,
// all answered: the socket buffers hold the burst.
func TestBurst(t *testing.T) {
	calls := 2000
	server := newTestEndpoint(t, "127.0.0.1:0")
	server.Handle("echo", func(_ context.Context, _ netip.AddrPort, s string) (string, error) { return s, nil })
	client := newTestEndpoint(t, "127.0.0.1:0", WithTimeout(10*time.Second))
	ctx := testCtx(t)
	inflight := make([]*Call, calls)
	for i := range inflight {
		inflight[i] = client.Go(ctx, server.LocalAddr(), "echo", "burst")
	}
	failed := 0
	for _, c := range inflight {
		if _, err := wait(c); err != nil {
			failed++
		}
	}
	cs, ss := client.Stats(), server.Stats()
	if failed > 0 || cs.Retransmits != 0 {
		t.Errorf("%d of %d calls failed; client %+v; server %+v", failed, calls, cs, ss)
	}
	if cs.Drops.Kernel != 0 || ss.Drops.Kernel != 0 {
		t.Errorf("kernel drops: client %d, server %d", cs.Drops.Kernel, ss.Drops.Kernel)
	}
}

// TestSocketBuffers: the endpoint asks for defaultSocketBuffer and reports
// what the kernel granted.
func TestSocketBuffers(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("sizes are reported on Linux")
	}
	max := 0
	if b, err := os.ReadFile("/proc/sys/net/core/rmem_max"); err == nil {
		max, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	s := newTestEndpoint(t, "127.0.0.1:0").Stats()
	if want := 2 * min(max, defaultSocketBuffer); s.RecvBuffer < want || s.SendBuffer <= 0 {
		t.Errorf("buffers %d/%d, want a receive buffer of at least %d", s.RecvBuffer, s.SendBuffer, want)
	}
	small := newTestEndpoint(t, "127.0.0.1:0", WithSocketBuffers(4096, 0)).Stats()
	if small.RecvBuffer <= 0 || small.RecvBuffer >= s.RecvBuffer {
		t.Errorf("WithSocketBuffers(4096, 0): receive buffer %d", small.RecvBuffer)
	}
	if sim := New(&nopConn{}); sim.Stats().RecvBuffer != 0 {
		t.Errorf("a conn that is no socket reports %d", sim.Stats().RecvBuffer)
	} else {
		sim.Close()
	}
}

// TestKernelDrops: datagrams the kernel drops on a full receive buffer are
// counted in Drops.Kernel (Linux tells them with the next datagram read).
func TestKernelDrops(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux reports kernel drops")
	}
	e := newTestEndpoint(t, "127.0.0.1:0", WithSocketBuffers(1, 0)) // the kernel's smallest
	raw := rawSocket(t)
	junk := make([]byte, 1400) // type 0x00, malformed body: dropped after reading
	waitFor(t, "kernel drops", func() bool {
		for range 500 {
			if _, err := raw.WriteToUDPAddrPort(junk, e.LocalAddr()); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
		}
		return e.Stats().Drops.Kernel > 0
	})
}

func TestSetKernelDropsWraps(t *testing.T) {
	var c counters
	for _, n := range []uint32{5, 5, 1 << 31, 1<<32 - 1, 3} {
		c.setKernelDrops(n)
	}
	if got, want := c.kernelDrops.Load(), uint64(1<<32+3); got != want {
		t.Errorf("total %d, want %d", got, want)
	}
}
