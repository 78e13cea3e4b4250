package rpcudp

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// nopConn is a PacketConn that never delivers anything and swallows writes.
type nopConn struct {
	once   sync.Once
	closed chan struct{}
	mu     sync.Mutex
	dl     time.Time
}

func (c *nopConn) init() { c.once.Do(func() { c.closed = make(chan struct{}) }) }
func (c *nopConn) ReadFrom([]byte) (int, net.Addr, error) {
	c.init()
	for {
		c.mu.Lock()
		dl := c.dl
		c.mu.Unlock()
		if !dl.IsZero() && time.Now().After(dl) {
			return 0, nil, &net.OpError{Op: "read", Err: timeoutErr{}}
		}
		select {
		case <-c.closed:
			return 0, nil, net.ErrClosed
		case <-time.After(5 * time.Millisecond):
		}
	}
}
func (c *nopConn) WriteTo(b []byte, _ net.Addr) (int, error) { return len(b), nil }
func (c *nopConn) Close() error {
	c.init()
	select {
	case <-c.closed:
	default:
		close(c.closed)
	}
	return nil
}
func (c *nopConn) LocalAddr() net.Addr              { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9} }
func (c *nopConn) SetDeadline(t time.Time) error    { return c.SetReadDeadline(t) }
func (c *nopConn) SetWriteDeadline(time.Time) error { return nil }
func (c *nopConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.dl = t
	c.mu.Unlock()
	return nil
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// lossyConn wraps a PacketConn and drops outgoing datagrams: each write
// whose sequence number satisfies drop is silently discarded. It hides the
// fast path, so the net.Addr path is exercised too.
type lossyConn struct {
	net.PacketConn
	n    atomic.Int64
	drop func(n int64) bool
}

func (c *lossyConn) WriteTo(b []byte, a net.Addr) (int, error) {
	if c.drop(c.n.Add(1)) {
		return len(b), nil
	}
	return c.PacketConn.WriteTo(b, a)
}

// rawSocket is a plain UDP socket on loopback for hand-made datagrams.
func rawSocket(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func send(t testing.TB, c *net.UDPConn, b []byte, to netip.AddrPort) {
	t.Helper()
	if _, err := c.WriteToUDPAddrPort(b, to); err != nil {
		t.Fatal(err)
	}
}

func readDatagram(t testing.TB, c *net.UDPConn) []byte {
	t.Helper()
	buf := make([]byte, 65536)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("no datagram: %v", err)
	}
	return buf[:n]
}

// expectSilence checks that nothing arrives on c for a short while.
func expectSilence(t testing.TB, c *net.UDPConn, d time.Duration) {
	t.Helper()
	buf := make([]byte, 65536)
	c.SetReadDeadline(time.Now().Add(d))
	if n, _, err := c.ReadFromUDPAddrPort(buf); err == nil {
		t.Fatalf("unexpected datagram %x", buf[:n])
	}
}

// waitFor polls cond until it holds or the deadline passes; it is for
// counters updated by another goroutine after the event the test saw.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// wait waits for c to finish and returns its result.
func wait(c *Call) (Reply, error) {
	<-c.Done
	return c.Reply, c.Err
}
