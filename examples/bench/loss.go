package main

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// udpConn is the socket both modes run on: a net.PacketConn with the
// allocation-free netip methods of *net.UDPConn. *net.UDPConn and
// *lossyConn implement it; rpcudp uses the netip methods when present, so
// wrapping a socket keeps the endpoint on its fast path.
type udpConn interface {
	net.PacketConn
	ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error)
	WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
}

// dropper decides, datagram by datagram, whether to drop one on purpose,
// with probability p, from a seeded generator (so a run's drop pattern
// depends only on the seed and the order of datagrams). Safe for
// concurrent use. A nil *dropper drops nothing.
type dropper struct {
	p   float64
	mu  sync.Mutex
	rng *rand.Rand
	n   atomic.Uint64 // datagrams dropped so far
}

// newDropper returns a dropper for probability p, or nil when p is 0.
// stream separates the generators that share one seed.
func newDropper(p float64, seed, stream uint64) *dropper {
	if p <= 0 {
		return nil
	}
	return &dropper{p: p, rng: rand.New(rand.NewPCG(seed, stream))}
}

func (d *dropper) drop() bool {
	if d == nil {
		return false
	}
	d.mu.Lock()
	x := d.rng.Float64()
	d.mu.Unlock()
	if x < d.p {
		d.n.Add(1)
		return true
	}
	return false
}

// dropped returns how many datagrams d has dropped.
func (d *dropper) dropped() uint64 {
	if d == nil {
		return 0
	}
	return d.n.Load()
}

// lossyConn wraps a socket and drops a share of the datagrams it reads
// (in) and writes (out). A dropped write reports success, as a datagram
// lost on the way would.
type lossyConn struct {
	udpConn
	in, out *dropper
}

// withLoss wraps conn in a lossyConn, or returns it as it is when neither
// direction drops anything.
func withLoss(conn udpConn, in, out *dropper) udpConn {
	if in == nil && out == nil {
		return conn
	}
	return &lossyConn{udpConn: conn, in: in, out: out}
}

func (c *lossyConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.udpConn.ReadFrom(b)
		if err != nil || !c.in.drop() {
			return n, addr, err
		}
	}
}

func (c *lossyConn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	for {
		n, addr, err := c.udpConn.ReadFromUDPAddrPort(b)
		if err != nil || !c.in.drop() {
			return n, addr, err
		}
	}
}

func (c *lossyConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if c.out.drop() {
		return len(b), nil
	}
	return c.udpConn.WriteTo(b, addr)
}

func (c *lossyConn) WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	if c.out.drop() {
		return len(b), nil
	}
	return c.udpConn.WriteToUDPAddrPort(b, addr)
}

// Seed streams: one generator per place a datagram can be dropped. Both
// modes use the same streams, so that -raw faces the same drop sequence.
const (
	streamRequests  = 1 // client writes (requests)
	streamReplies   = 2 // in-process server writes (replies)
	streamRepliesIn = 3 // client reads (replies), only with -addr
)

// lossPlan holds the droppers of one run. Each datagram passes exactly one
// of them, so each is lost with probability -loss: with the in-process
// server, requests are dropped as the client sends them and replies as the
// server sends them; with -addr only the client side can be touched, so it
// drops requests as it sends them and replies as it reads them.
type lossPlan struct {
	clientOut, clientIn, serverOut *dropper
}

func newLossPlan(cfg Config, inProcess bool) lossPlan {
	lp := lossPlan{clientOut: newDropper(cfg.Loss, cfg.Seed, streamRequests)}
	if inProcess {
		lp.serverOut = newDropper(cfg.Loss, cfg.Seed, streamReplies)
	} else {
		lp.clientIn = newDropper(cfg.Loss, cfg.Seed, streamRepliesIn)
	}
	return lp
}

// Losses counts the datagrams dropped on purpose.
type Losses struct {
	Requests uint64 `json:"requests"`
	Replies  uint64 `json:"replies"`
	Total    uint64 `json:"total"`
}

func (lp lossPlan) count() Losses {
	l := Losses{
		Requests: lp.clientOut.dropped(),
		Replies:  lp.clientIn.dropped() + lp.serverOut.dropped(),
	}
	l.Total = l.Requests + l.Replies
	return l
}

func (l Losses) sub(o Losses) Losses {
	return Losses{Requests: l.Requests - o.Requests, Replies: l.Replies - o.Replies, Total: l.Total - o.Total}
}
