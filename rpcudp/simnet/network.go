package simnet

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	// DefaultMaxDatagram is the largest UDP payload over IPv4, used when
	// Config.MaxDatagram is zero.
	DefaultMaxDatagram = 65507
	// DefaultQueueLen is the per-endpoint receive queue bound used when
	// Config.QueueLen is zero.
	DefaultQueueLen = 1024
	// DefaultMinReorderDelay is the smallest extra delay given to a reordered
	// datagram when Config.ReorderDelay is zero.
	DefaultMinReorderDelay = time.Millisecond

	// Ephemeral port range used when listening on port 0.
	ephemeralFirst = 49152
	ephemeralLast  = 65535
)

// Config describes a simulated network. The zero value is a perfect network:
// no latency, no loss, immediate delivery.
type Config struct {
	// Seed seeds the generator behind every random decision.
	Seed int64
	// Latency is the base one-way delay of every datagram.
	Latency time.Duration
	// Jitter adds a uniformly distributed extra delay in [0, Jitter].
	Jitter time.Duration
	// Loss is the share (0..1) of datagrams silently dropped.
	Loss float64
	// Duplicate is the share (0..1) of datagrams delivered twice.
	Duplicate float64
	// Reorder is the share (0..1) of datagram copies given an extra delay
	// of ReorderDelay, so that later datagrams overtake them.
	Reorder float64
	// ReorderDelay is the extra delay of a reordered datagram. Zero means
	// Latency+Jitter of the link, but at least DefaultMinReorderDelay.
	ReorderDelay time.Duration
	// MaxDatagram is the largest payload a write accepts; larger writes
	// fail. Zero means DefaultMaxDatagram.
	MaxDatagram int
	// QueueLen bounds each endpoint's receive queue; datagrams arriving at a
	// full queue are dropped, like a full socket buffer. Zero means
	// DefaultQueueLen.
	QueueLen int
	// Quantum, if positive, rounds the arrival time of every delayed
	// datagram up to the next multiple of Quantum (counted from the
	// Network's creation), so that datagrams due within one quantum arrive
	// together, in send order. Inside a testing/synctest bubble each
	// distinct arrival time costs an advance of the virtual clock and a
	// wake-up of the scheduler and the receivers: with jitter, nearly
	// every datagram has its own, and a simulation of a thousand
	// endpoints runs about a third faster with a 1 ms Quantum. Zero keeps
	// exact arrival times.
	Quantum time.Duration
}

// LinkConfig holds the impairments of the traffic between two hosts. When
// set with [Network.SetLink] it replaces, for that pair of hosts, the
// network-wide Latency, Jitter, Loss, Duplicate and Reorder of Config.
type LinkConfig struct {
	// Latency is the base one-way delay.
	Latency time.Duration
	// Jitter adds a uniformly distributed extra delay in [0, Jitter].
	Jitter time.Duration
	// Loss is the share (0..1) of datagrams dropped.
	Loss float64
	// Duplicate is the share (0..1) of datagrams delivered twice.
	Duplicate float64
	// Reorder is the share (0..1) of datagram copies delayed out of order.
	Reorder float64
}

// Stats counts what happened to datagrams. Every written datagram is counted
// in Sent; each copy (Duplicated adds one) ends in exactly one of Delivered,
// Dropped, DroppedQueueFull, Blocked, Filtered or Unreachable, unless it is
// still in flight or the Network was closed first.
type Stats struct {
	// Sent counts datagrams accepted by WriteTo and WriteToUDPAddrPort.
	Sent uint64
	// Delivered counts datagrams placed in a receive queue, including
	// injected ones.
	Delivered uint64
	// Dropped counts datagrams dropped by simulated loss.
	Dropped uint64
	// DroppedQueueFull counts datagrams dropped because the receiver's queue
	// was full.
	DroppedQueueFull uint64
	// Duplicated counts datagrams that were sent twice.
	Duplicated uint64
	// Reordered counts datagram copies given the extra reordering delay.
	Reordered uint64
	// Blocked counts datagrams dropped by a partition.
	Blocked uint64
	// Filtered counts datagrams dropped by the filter set with SetFilter.
	Filtered uint64
	// Unreachable counts datagrams for an address nobody listened on when
	// they arrived.
	Unreachable uint64
	// Injected counts datagrams passed to Inject.
	Injected uint64
}

// FilterFunc decides whether a datagram from from to to may pass; returning
// false drops it. b is only valid during the call and must not be modified.
type FilterFunc func(from, to netip.AddrPort, b []byte) bool

type counters struct {
	sent, delivered, dropped, droppedQueueFull, duplicated, reordered,
	blocked, filtered, unreachable, injected atomic.Uint64
}

type linkKey struct{ lo, hi netip.Addr }

func makeLinkKey(a, b netip.Addr) linkKey {
	if b.Less(a) {
		a, b = b, a
	}
	return linkKey{a, b}
}

type partition struct{ a, b map[netip.Addr]struct{} }

func (p *partition) blocks(from, to netip.Addr) bool {
	_, fa := p.a[from]
	_, fb := p.b[from]
	_, ta := p.a[to]
	_, tb := p.b[to]
	return (fa && tb) || (fb && ta)
}

// Network is a simulated network. Its methods are safe for concurrent use.
// A Network must be closed with Close to stop its scheduler goroutine.
type Network struct {
	maxDatagram  int
	queueLen     int
	reorderDelay time.Duration
	quantum      time.Duration
	epoch        time.Time // creation time: arrivals are rounded from it

	mu         sync.Mutex // guards the fields below
	rng        *rand.Rand
	def        LinkConfig
	links      map[linkKey]LinkConfig
	partitions []partition
	filter     FilterFunc
	pending    deliveryHeap
	seq        uint64
	closed     bool

	connsMu     sync.RWMutex // guards the fields below
	conns       map[netip.AddrPort]*Conn
	nextPort    int
	connsClosed bool

	wake   chan struct{} // nudges the scheduler when the heap head changes
	done   chan struct{} // closed by Close
	exited chan struct{} // closed when the scheduler returns

	stats counters
}

// New returns a running network configured by cfg. It panics if cfg holds a
// negative duration or size, or a probability outside [0, 1].
func New(cfg Config) *Network {
	def := LinkConfig{
		Latency:   cfg.Latency,
		Jitter:    cfg.Jitter,
		Loss:      cfg.Loss,
		Duplicate: cfg.Duplicate,
		Reorder:   cfg.Reorder,
	}
	if err := def.validate(); err != nil {
		panic(err)
	}
	if cfg.ReorderDelay < 0 || cfg.MaxDatagram < 0 || cfg.QueueLen < 0 || cfg.Quantum < 0 {
		panic("simnet: negative ReorderDelay, MaxDatagram, QueueLen or Quantum")
	}
	n := &Network{
		maxDatagram:  cfg.MaxDatagram,
		queueLen:     cfg.QueueLen,
		reorderDelay: cfg.ReorderDelay,
		quantum:      cfg.Quantum,
		epoch:        time.Now(),
		rng:          rand.New(rand.NewPCG(uint64(cfg.Seed), 0x9e3779b97f4a7c15)),
		def:          def,
		links:        make(map[linkKey]LinkConfig),
		conns:        make(map[netip.AddrPort]*Conn),
		nextPort:     ephemeralFirst,
		wake:         make(chan struct{}, 1),
		done:         make(chan struct{}),
		exited:       make(chan struct{}),
	}
	if n.maxDatagram == 0 {
		n.maxDatagram = DefaultMaxDatagram
	}
	if n.queueLen == 0 {
		n.queueLen = DefaultQueueLen
	}
	go n.run()
	return n
}

func validProb(p float64) bool { return p >= 0 && p <= 1 } // false for NaN

func (lc LinkConfig) validate() error {
	if lc.Latency < 0 || lc.Jitter < 0 {
		return fmt.Errorf("simnet: negative latency %v or jitter %v", lc.Latency, lc.Jitter)
	}
	if !validProb(lc.Loss) || !validProb(lc.Duplicate) || !validProb(lc.Reorder) {
		return fmt.Errorf("simnet: Loss %v, Duplicate %v and Reorder %v must be in [0, 1]",
			lc.Loss, lc.Duplicate, lc.Reorder)
	}
	if lc.Jitter == math.MaxInt64 {
		return fmt.Errorf("simnet: jitter too large")
	}
	return nil
}

// normAddr maps IPv4-mapped IPv6 addresses to IPv4, drops zones, and maps an
// unspecified address to the loopback address of its family.
func normAddr(a netip.Addr) netip.Addr {
	a = a.Unmap().WithZone("")
	if a.IsUnspecified() {
		if a.Is4() {
			return netip.AddrFrom4([4]byte{127, 0, 0, 1})
		}
		return netip.IPv6Loopback()
	}
	return a
}

func normAddrPort(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(normAddr(ap.Addr()), ap.Port())
}

// SetLink sets the impairments of the traffic between hosts a and b, in both
// directions, replacing the network-wide ones for that pair. a may equal b.
// It panics if lc is invalid (see New).
func (n *Network) SetLink(a, b netip.Addr, lc LinkConfig) {
	if err := lc.validate(); err != nil {
		panic(err)
	}
	n.mu.Lock()
	n.links[makeLinkKey(normAddr(a), normAddr(b))] = lc
	n.mu.Unlock()
}

// ClearLink removes the override set by SetLink for hosts a and b.
func (n *Network) ClearLink(a, b netip.Addr) {
	n.mu.Lock()
	delete(n.links, makeLinkKey(normAddr(a), normAddr(b)))
	n.mu.Unlock()
}

// Partition blocks all traffic, in both directions, between every host of
// groupA and every host of groupB, until Heal. Partitions accumulate.
// Datagrams are checked when written: those already in flight still arrive.
func (n *Network) Partition(groupA, groupB []netip.Addr) {
	p := partition{
		a: make(map[netip.Addr]struct{}, len(groupA)),
		b: make(map[netip.Addr]struct{}, len(groupB)),
	}
	for _, a := range groupA {
		p.a[normAddr(a)] = struct{}{}
	}
	for _, b := range groupB {
		p.b[normAddr(b)] = struct{}{}
	}
	n.mu.Lock()
	n.partitions = append(n.partitions, p)
	n.mu.Unlock()
}

// Heal removes all partitions.
func (n *Network) Heal() {
	n.mu.Lock()
	n.partitions = nil
	n.mu.Unlock()
}

// SetFilter installs f, which is consulted for every written datagram that
// passes the partitions, before loss is applied; nil removes the filter. f
// may be called concurrently from several goroutines, without any Network
// lock held.
func (n *Network) SetFilter(f FilterFunc) {
	n.mu.Lock()
	n.filter = f
	n.mu.Unlock()
}

// Inject places a copy of b in the receive queue of the endpoint listening on
// to, as if it had been sent from from, which need not exist (a spoofed
// source). It bypasses partitions, the filter and every impairment, and is
// delivered before Inject returns. It reports whether the datagram was
// queued: false if b exceeds MaxDatagram, nobody listens on to, the queue is
// full, or the Network is closed.
func (n *Network) Inject(from, to netip.AddrPort, b []byte) bool {
	if len(b) > n.maxDatagram {
		return false
	}
	n.stats.injected.Add(1)
	return n.deliver(normAddrPort(from), normAddrPort(to), append([]byte(nil), b...))
}

// Stats returns a snapshot of the counters. Counters are read one by one, so
// a snapshot taken while traffic flows may be slightly inconsistent.
func (n *Network) Stats() Stats {
	c := &n.stats
	return Stats{
		Sent:             c.sent.Load(),
		Delivered:        c.delivered.Load(),
		Dropped:          c.dropped.Load(),
		DroppedQueueFull: c.droppedQueueFull.Load(),
		Duplicated:       c.duplicated.Load(),
		Reordered:        c.reordered.Load(),
		Blocked:          c.blocked.Load(),
		Filtered:         c.filtered.Load(),
		Unreachable:      c.unreachable.Load(),
		Injected:         c.injected.Load(),
	}
}

// Close stops the scheduler goroutine, discards datagrams in flight and
// closes every conn; blocked readers return net.ErrClosed. Close waits for
// the scheduler to exit. Closing a closed Network does nothing.
func (n *Network) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	n.pending = nil
	close(n.done)
	n.mu.Unlock()
	<-n.exited

	n.connsMu.Lock()
	n.connsClosed = true
	conns := make([]*Conn, 0, len(n.conns))
	for _, c := range n.conns {
		conns = append(conns, c)
	}
	clear(n.conns)
	n.connsMu.Unlock()
	for _, c := range conns {
		c.shutdown()
	}
	return nil
}

func listenErr(addr netip.AddrPort, err error) error {
	return &net.OpError{Op: "listen", Net: "udp", Addr: net.UDPAddrFromAddrPort(addr), Err: err}
}

// Listen opens an endpoint on addr. An unspecified address (0.0.0.0 or ::)
// means the loopback address of its family, IPv4-mapped addresses are
// unmapped and zones dropped. Port 0 picks a free ephemeral port. Listening
// on an address already in use fails with an error satisfying
// errors.Is(err, syscall.EADDRINUSE).
func (n *Network) Listen(addr netip.AddrPort) (*Conn, error) {
	if !addr.Addr().IsValid() {
		return nil, listenErr(addr, &net.AddrError{Err: "invalid address", Addr: addr.String()})
	}
	addr = normAddrPort(addr)
	n.connsMu.Lock()
	defer n.connsMu.Unlock()
	if n.connsClosed {
		return nil, listenErr(addr, net.ErrClosed)
	}
	if addr.Port() == 0 {
		found := false
		for range ephemeralLast - ephemeralFirst + 1 {
			p := n.nextPort
			n.nextPort++
			if n.nextPort > ephemeralLast {
				n.nextPort = ephemeralFirst
			}
			cand := netip.AddrPortFrom(addr.Addr(), uint16(p))
			if _, used := n.conns[cand]; !used {
				addr, found = cand, true
				break
			}
		}
		if !found {
			return nil, listenErr(addr, os.NewSyscallError("bind", syscall.EADDRINUSE))
		}
	} else if _, used := n.conns[addr]; used {
		return nil, listenErr(addr, os.NewSyscallError("bind", syscall.EADDRINUSE))
	}
	c := newConn(n, addr)
	n.conns[addr] = c
	return c, nil
}

// ListenPacket is like net.ListenPacket: network is "udp", "udp4" or "udp6"
// and address is "host:port", where host is an IP address, "localhost" or
// empty (the loopback address of the family; IPv4 for "udp"). No name
// resolution is done. The result is a *Conn.
func (n *Network) ListenPacket(network, address string) (net.PacketConn, error) {
	switch network {
	case "udp", "udp4", "udp6":
	default:
		return nil, &net.OpError{Op: "listen", Net: network, Err: net.UnknownNetworkError(network)}
	}
	fail := func(msg string) (net.PacketConn, error) {
		return nil, &net.OpError{Op: "listen", Net: network,
			Err: &net.AddrError{Err: msg, Addr: address}}
	}
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return fail("missing port in address")
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return fail("invalid port")
	}
	var ip netip.Addr
	switch host {
	case "", "localhost":
		if network == "udp6" {
			ip = netip.IPv6Loopback()
		} else {
			ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		}
	default:
		ip, err = netip.ParseAddr(host)
		if err != nil {
			return fail("invalid IP address (simnet does no name resolution)")
		}
		ip = ip.Unmap()
		if (network == "udp4" && !ip.Is4()) || (network == "udp6" && ip.Is4()) {
			return fail("no suitable address")
		}
	}
	c, err := n.Listen(netip.AddrPortFrom(ip, uint16(port)))
	if err != nil {
		return nil, err
	}
	return c, nil
}

// unregister removes c from the network's endpoint table.
func (n *Network) unregister(c *Conn) {
	n.connsMu.Lock()
	if n.conns[c.laddr] == c {
		delete(n.conns, c.laddr)
	}
	n.connsMu.Unlock()
}

// send applies partitions, the filter and the impairments to one written
// datagram, then delivers or schedules its copies. from and to are
// normalized.
func (n *Network) send(from, to netip.AddrPort, b []byte) {
	n.stats.sent.Add(1)
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	for i := range n.partitions {
		if n.partitions[i].blocks(from.Addr(), to.Addr()) {
			n.mu.Unlock()
			n.stats.blocked.Add(1)
			return
		}
	}
	if f := n.filter; f != nil {
		n.mu.Unlock()
		if !f(from, to, b) {
			n.stats.filtered.Add(1)
			return
		}
		n.mu.Lock()
		if n.closed {
			n.mu.Unlock()
			return
		}
	}
	lc, ok := n.links[makeLinkKey(from.Addr(), to.Addr())]
	if !ok {
		lc = n.def
	}
	if lc.Loss > 0 && n.rng.Float64() < lc.Loss {
		n.mu.Unlock()
		n.stats.dropped.Add(1)
		return
	}
	copies := 1
	if lc.Duplicate > 0 && n.rng.Float64() < lc.Duplicate {
		copies = 2
		n.stats.duplicated.Add(1)
	}
	data := append([]byte(nil), b...)
	immediate := 0
	var now time.Time
	for range copies {
		delay := lc.Latency
		if lc.Jitter > 0 {
			delay += time.Duration(n.rng.Int64N(int64(lc.Jitter) + 1))
		}
		if lc.Reorder > 0 && n.rng.Float64() < lc.Reorder {
			delay += n.reorderDelayFor(lc)
			n.stats.reordered.Add(1)
		}
		if delay <= 0 {
			immediate++
			continue
		}
		if now.IsZero() {
			now = time.Now()
		}
		at := now.Add(delay)
		if q := n.quantum; q > 0 {
			// Up to the next multiple of q since epoch (monotonic).
			since := at.Sub(n.epoch)
			at = n.epoch.Add((since + q - 1) / q * q)
		}
		n.seq++
		n.pending.push(delivery{at: at, seq: n.seq, from: from, to: to, data: data})
		if n.pending[0].seq == n.seq {
			select {
			case n.wake <- struct{}{}:
			default:
			}
		}
	}
	n.mu.Unlock()
	for range immediate {
		n.deliver(from, to, data)
	}
}

func (n *Network) reorderDelayFor(lc LinkConfig) time.Duration {
	if n.reorderDelay > 0 {
		return n.reorderDelay
	}
	return max(lc.Latency+lc.Jitter, DefaultMinReorderDelay)
}

// deliver places data in the receive queue of the endpoint on to, counting
// the outcome, and reports whether it was queued. data is not copied.
func (n *Network) deliver(from, to netip.AddrPort, data []byte) bool {
	n.connsMu.RLock()
	c := n.conns[to]
	n.connsMu.RUnlock()
	if c == nil {
		n.stats.unreachable.Add(1)
		return false
	}
	switch c.enqueue(from, data) {
	case enqueued:
		return true
	case connClosed:
		n.stats.unreachable.Add(1)
	}
	return false
}

// run is the scheduler goroutine: it delivers pending datagrams when due.
func (n *Network) run() {
	defer close(n.exited)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var due []delivery
	for {
		n.mu.Lock()
		if n.closed {
			n.mu.Unlock()
			return
		}
		now := time.Now()
		for len(n.pending) > 0 && !n.pending[0].at.After(now) {
			due = append(due, n.pending.pop())
		}
		wait := time.Duration(-1)
		if len(n.pending) > 0 {
			wait = n.pending[0].at.Sub(now)
		}
		n.mu.Unlock()

		if len(due) > 0 {
			for i := range due {
				n.deliver(due[i].from, due[i].to, due[i].data)
				due[i] = delivery{}
			}
			due = due[:0]
			continue // time may have passed; look again
		}
		if wait < 0 {
			select {
			case <-n.wake:
			case <-n.done:
				return
			}
			continue
		}
		timer.Reset(wait)
		select {
		case <-n.wake:
		case <-timer.C:
		case <-n.done:
			return
		}
		timer.Stop()
	}
}

// delivery is one datagram copy waiting in the scheduler's heap.
type delivery struct {
	at       time.Time
	seq      uint64 // send order; breaks ties between equal due times
	from, to netip.AddrPort
	data     []byte
}

func (d *delivery) before(e *delivery) bool {
	if d.at.Equal(e.at) {
		return d.seq < e.seq
	}
	return d.at.Before(e.at)
}

// deliveryHeap is a binary min-heap of deliveries by (at, seq), kept by
// value to avoid an allocation per datagram.
type deliveryHeap []delivery

func (h *deliveryHeap) push(d delivery) {
	*h = append(*h, d)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !s[i].before(&s[p]) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *deliveryHeap) pop() delivery {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s[last] = delivery{}
	s = s[:last]
	i := 0
	for {
		l := 2*i + 1
		if l >= len(s) {
			break
		}
		m := l
		if r := l + 1; r < len(s) && s[r].before(&s[l]) {
			m = r
		}
		if !s[m].before(&s[i]) {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}
