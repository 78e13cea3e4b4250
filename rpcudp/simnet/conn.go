package simnet

import (
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
)

// Conn is an endpoint of a simulated [Network]. It implements
// [net.PacketConn]; addresses passed to and returned by ReadFrom and WriteTo
// are *net.UDPAddr. Its methods are safe for concurrent use.
type Conn struct {
	net      *Network
	laddr    netip.AddrPort
	udpAddr  *net.UDPAddr
	queueLen int

	mu     sync.Mutex // guards q, head and closed
	q      []datagram
	head   int
	closed bool

	notify chan struct{} // capacity 1: "the queue may be non-empty"
	done   chan struct{} // closed on Close
	rdl    deadline
	wdl    deadline
}

var _ net.PacketConn = (*Conn)(nil)

type datagram struct {
	from netip.AddrPort
	data []byte
}

type enqueueResult int

const (
	enqueued enqueueResult = iota
	queueFull
	connClosed
)

func newConn(n *Network, addr netip.AddrPort) *Conn {
	return &Conn{
		net:      n,
		laddr:    addr,
		udpAddr:  net.UDPAddrFromAddrPort(addr),
		queueLen: n.queueLen,
		notify:   make(chan struct{}, 1),
		done:     make(chan struct{}),
		rdl:      makeDeadline(),
		wdl:      makeDeadline(),
	}
}

// enqueue appends a datagram to the receive queue and counts the outcome in
// the network's Delivered or DroppedQueueFull counter.
func (c *Conn) enqueue(from netip.AddrPort, data []byte) enqueueResult {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return connClosed
	}
	if len(c.q)-c.head >= c.queueLen {
		c.mu.Unlock()
		c.net.stats.droppedQueueFull.Add(1)
		return queueFull
	}
	if len(c.q) == cap(c.q) && c.head > 0 {
		m := copy(c.q, c.q[c.head:])
		clear(c.q[m:])
		c.q = c.q[:m]
		c.head = 0
	}
	c.q = append(c.q, datagram{from: from, data: data})
	// Count before a reader can see the datagram, so that Stats read after
	// a successful read includes it.
	c.net.stats.delivered.Add(1)
	c.mu.Unlock()
	c.signal()
	return enqueued
}

func (c *Conn) signal() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

func (c *Conn) opError(op string, addr net.Addr, err error) error {
	return &net.OpError{Op: op, Net: "udp", Source: c.udpAddr, Addr: addr, Err: err}
}

// ReadFromUDPAddrPort reads one datagram into b and returns its length and
// source address, like [net.UDPConn.ReadFromUDPAddrPort]. A datagram longer
// than b is truncated to len(b). It blocks until a datagram arrives, the read
// deadline passes (the error then satisfies errors.Is(err,
// os.ErrDeadlineExceeded)) or the conn is closed (errors.Is(err,
// net.ErrClosed)). It does not allocate.
func (c *Conn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	d, err := c.next()
	return copy(b, d.data), d.from, err
}

// ReadPacket is ReadFromUDPAddrPort without a buffer: it returns the next
// datagram in the slice the network already holds it in, whole, so a
// reader needs no buffer of its own while it waits (rpcudp's endpoints
// read simulated conns this way). The slice may be shared with a
// duplicate of the datagram: the caller must not modify it.
func (c *Conn) ReadPacket() ([]byte, netip.AddrPort, error) {
	d, err := c.next()
	return d.data, d.from, err
}

// next takes the next datagram off the queue, blocking as
// ReadFromUDPAddrPort describes.
func (c *Conn) next() (datagram, error) {
	for {
		expired := c.rdl.wait()
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return datagram{}, c.opError("read", nil, net.ErrClosed)
		}
		if isClosed(expired) {
			c.mu.Unlock()
			return datagram{}, c.opError("read", nil, os.ErrDeadlineExceeded)
		}
		if c.head < len(c.q) {
			d := c.q[c.head]
			c.q[c.head] = datagram{}
			c.head++
			if c.head == len(c.q) {
				c.q = c.q[:0]
				c.head = 0
			}
			more := c.head < len(c.q)
			c.mu.Unlock()
			if more {
				c.signal() // wake another reader, if any
			}
			return d, nil
		}
		c.mu.Unlock()
		select {
		case <-c.notify:
		case <-c.done:
		case <-expired:
		}
	}
}

// ReadFrom implements [net.PacketConn]; the address is a *net.UDPAddr. See
// ReadFromUDPAddrPort.
func (c *Conn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, ap, err := c.ReadFromUDPAddrPort(b)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(ap), nil
}

// ReadFromUDP is like ReadFrom but returns a *net.UDPAddr, like
// [net.UDPConn.ReadFromUDP].
func (c *Conn) ReadFromUDP(b []byte) (int, *net.UDPAddr, error) {
	n, ap, err := c.ReadFromUDPAddrPort(b)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(ap), nil
}

// WriteToUDPAddrPort sends b as one datagram to addr, like
// [net.UDPConn.WriteToUDPAddrPort]. It never blocks. It fails if the conn is
// closed, the write deadline has passed, addr is invalid or b is longer than
// the network's MaxDatagram; otherwise it returns len(b), nil even if the
// datagram is then lost or nobody listens on addr. b is copied and may be
// reused at once.
func (c *Conn) WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	if err := c.writeCheck(b, addr); err != nil {
		return 0, c.opError("write", net.UDPAddrFromAddrPort(addr), err)
	}
	c.net.send(c.laddr, normAddrPort(addr), b)
	return len(b), nil
}

func (c *Conn) writeCheck(b []byte, addr netip.AddrPort) error {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	switch {
	case closed:
		return net.ErrClosed
	case isClosed(c.wdl.wait()):
		return os.ErrDeadlineExceeded
	case !addr.Addr().IsValid():
		return &net.AddrError{Err: "invalid address", Addr: addr.String()}
	case len(b) > c.net.maxDatagram:
		return os.NewSyscallError("sendto", syscall.EMSGSIZE)
	}
	return nil
}

// WriteTo implements [net.PacketConn]. addr must be a *net.UDPAddr. See
// WriteToUDPAddrPort.
func (c *Conn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok || ua == nil {
		return 0, c.opError("write", addr, syscall.EINVAL)
	}
	return c.WriteToUDPAddrPort(b, ua.AddrPort())
}

// WriteToUDP is like WriteTo with a *net.UDPAddr, like
// [net.UDPConn.WriteToUDP].
func (c *Conn) WriteToUDP(b []byte, addr *net.UDPAddr) (int, error) {
	if addr == nil {
		return 0, c.opError("write", nil, syscall.EINVAL)
	}
	return c.WriteToUDPAddrPort(b, addr.AddrPort())
}

// Close closes the conn and frees its address. Blocked reads return an error
// satisfying errors.Is(err, net.ErrClosed); queued datagrams are discarded.
// Closing twice returns such an error too.
func (c *Conn) Close() error {
	if !c.shutdown() {
		return c.opError("close", nil, net.ErrClosed)
	}
	c.net.unregister(c)
	return nil
}

// shutdown marks c closed and wakes its readers. It reports whether c was
// open.
func (c *Conn) shutdown() bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	c.closed = true
	c.q, c.head = nil, 0
	close(c.done)
	c.mu.Unlock()
	c.rdl.stop()
	c.wdl.stop()
	return true
}

// LocalAddr returns the conn's address, a *net.UDPAddr. The caller must not
// modify it.
func (c *Conn) LocalAddr() net.Addr { return c.udpAddr }

// AddrPort returns the conn's address.
func (c *Conn) AddrPort() netip.AddrPort { return c.laddr }

func (c *Conn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// SetDeadline sets both the read and the write deadline. See
// [net.PacketConn].
func (c *Conn) SetDeadline(t time.Time) error {
	if c.isClosed() {
		return c.opError("set", nil, net.ErrClosed)
	}
	c.rdl.set(t)
	c.wdl.set(t)
	return nil
}

// SetReadDeadline sets the time after which reads fail with an error
// satisfying errors.Is(err, os.ErrDeadlineExceeded); the zero time means no
// deadline. A deadline in the past unblocks a blocked read at once.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if c.isClosed() {
		return c.opError("set", nil, net.ErrClosed)
	}
	c.rdl.set(t)
	return nil
}

// SetWriteDeadline sets the time after which writes fail with an error
// satisfying errors.Is(err, os.ErrDeadlineExceeded). Writes never block, so
// this only matters for a deadline already passed.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if c.isClosed() {
		return c.opError("set", nil, net.ErrClosed)
	}
	c.wdl.set(t)
	return nil
}

// deadline is a settable deadline whose channel is closed once it passes
// (the same design as net.Pipe's).
type deadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	cancel chan struct{}
}

func makeDeadline() deadline { return deadline{cancel: make(chan struct{})} }

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel // the timer fired: wait for its function to close cancel
	}
	d.timer = nil
	closed := isClosed(d.cancel)
	if t.IsZero() {
		if closed {
			d.cancel = make(chan struct{})
		}
		return
	}
	if dur := time.Until(t); dur > 0 {
		if closed {
			d.cancel = make(chan struct{})
		}
		cancel := d.cancel
		d.timer = time.AfterFunc(dur, func() { close(cancel) })
		return
	}
	if !closed {
		close(d.cancel)
	}
}

// stop releases the timer, if any.
func (d *deadline) stop() {
	d.mu.Lock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	d.mu.Unlock()
}

// wait returns a channel closed when the deadline has passed.
func (d *deadline) wait() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
