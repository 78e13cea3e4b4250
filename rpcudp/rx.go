package rpcudp

import (
	"net"
	"net/netip"
	"sync"
)

// Sizes of what the read loop accepts: a request (or notification) is at
// most maxDatagram bytes, as Python's; a reply may be as large as one UDP
// datagram carries, since Python caps only its requests.
const (
	// maxReplyBody is the largest reply body this package accepts: what
	// one UDP datagram carries (65527 bytes over IPv6, 65507 over IPv4)
	// less the header. It sends replies of at most MaxBody bytes itself.
	maxReplyBody = maxReplyDatagram - headerLen
	// maxReplyDatagram is the largest UDP payload (65535 less the UDP
	// header).
	maxReplyDatagram = 65535 - 8
	// readBufSize holds any UDP datagram.
	readBufSize = 1 << 16
)

// receiver hands the read loop one datagram at a time. receive blocks until
// a datagram arrives (or the conn fails, is closed or its read deadline
// passes); the datagram is valid until the next receive. release gives
// back whatever buffer the receiver holds.
type receiver interface {
	receive() (b []byte, from netip.AddrPort, err error)
	release()
}

// readBufs holds the read buffers (readBufSize bytes each) of every
// endpoint's read loop. A receiver takes one only while it has a datagram
// to read, so an endpoint with nothing to read holds none: thousands of
// idle endpoints cost no buffers, yet each may receive a 64 KiB reply.
var readBufs = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

// packetConn is implemented by conns that hand over datagrams they already
// hold, so that no buffer is needed to wait for one (simnet.Conn).
type packetConn interface {
	ReadPacket() ([]byte, netip.AddrPort, error)
}

// newReceiver picks the cheapest way to read conn: straight from the
// socket on Linux, the conn's own datagrams for a simulated network, and a
// pooled buffer otherwise.
func newReceiver(conn net.PacketConn, fast addrPortConn, kernelDrops func(uint32)) receiver {
	if r := newSysReceiver(conn, kernelDrops); r != nil {
		return r
	}
	if pc, ok := conn.(packetConn); ok {
		return packetReceiver{pc}
	}
	return &bufReceiver{conn: conn, fast: fast}
}

// packetReceiver reads a conn that hands over its datagrams.
type packetReceiver struct{ pc packetConn }

func (r packetReceiver) receive() ([]byte, netip.AddrPort, error) {
	b, from, err := r.pc.ReadPacket()
	return b, normalize(from), err
}

func (packetReceiver) release() {}

// bufReceiver reads any other PacketConn into a pooled buffer, which it
// holds while it waits.
type bufReceiver struct {
	conn net.PacketConn
	fast addrPortConn
	buf  *[]byte
}

func (r *bufReceiver) receive() ([]byte, netip.AddrPort, error) {
	if r.buf == nil {
		r.buf = readBufs.Get().(*[]byte)
	}
	b := *r.buf
	if r.fast != nil {
		n, ap, err := r.fast.ReadFromUDPAddrPort(b)
		return b[:n], normalize(ap), err
	}
	n, a, err := r.conn.ReadFrom(b)
	return b[:n], addrPortOf(a), err
}

func (r *bufReceiver) release() {
	if r.buf != nil {
		readBufs.Put(r.buf)
		r.buf = nil
	}
}
