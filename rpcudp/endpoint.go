package rpcudp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// addrPortConn is implemented by *net.UDPConn (and the simulated network's
// conns): reads and writes without allocating a net.Addr.
type addrPortConn interface {
	ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error)
	WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
}

// Endpoint is one peer's RPC socket: it serves the handlers registered on
// it and makes calls to other peers, all over one net.PacketConn. It is safe
// for concurrent use. Create one with Listen or New; end it with Close.
type Endpoint struct {
	conn   net.PacketConn
	fast   addrPortConn // conn, when it has the allocation-free methods
	local  netip.AddrPort
	cfg    config
	log    *slog.Logger
	codecs codecPool
	bufs   sync.Pool     // *[]byte of cap maxDatagram, for outgoing datagrams
	reqs   sync.Pool     // *Request, for inbound requests
	jobs   chan job      // to idle runners (server.go)
	quit   chan struct{} // closed on shutdown: idle runners end
	gate   slotGate      // the read loop's wait for a handler slot
	fair   sourceSlots   // each source's share of the slots
	guard  guard         // the anti-amplification rule (proof.go)

	pending  pendingTable
	handlers handlerTable
	codes    errorCodes // RegisterError's
	cache    *replyCache
	stats    counters
	rcvBuf   int // socket buffer sizes granted (Stats)
	sndBuf   int

	// baseCtx is handed to handlers; cancelled when Shutdown gives up
	// waiting for them.
	baseCtx    context.Context
	cancelBase context.CancelFunc

	closing  atomic.Bool
	wg       sync.WaitGroup
	shutOnce sync.Once
	shutErr  error
}

// Listen opens a UDP socket on addr ("127.0.0.1:0", "[::1]:0",
// "0.0.0.0:8468", ...) and returns an endpoint serving on it. ctx covers
// opening the socket only, as for net.ListenConfig (a nil ctx is
// context.Background(); an already cancelled one fails Listen with its
// error): the endpoint then serves until Close, whatever becomes of ctx.
func Listen(ctx context.Context, addr string, opts ...Option) (*Endpoint, error) {
	ctx = orBackground(ctx)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("rpcudp: listen %s: %w", addr, err)
	}
	var lc net.ListenConfig
	conn, err := lc.ListenPacket(ctx, "udp", addr)
	if err != nil {
		return nil, fmt.Errorf("rpcudp: listen %s: %w", addr, err)
	}
	return New(conn, opts...), nil
}

// New returns an endpoint serving on conn, which may be any
// net.PacketConn (a *net.UDPConn, a simulated network's conn, ...). The
// endpoint owns conn from now on and closes it on Close.
func New(conn net.PacketConn, opts ...Option) *Endpoint {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	e := &Endpoint{
		conn: conn,
		cfg:  cfg,
		log:  cfg.logger,
		jobs: make(chan job),
		gate: slotGate{freed: make(chan struct{}, 1)},
		quit: make(chan struct{}),
	}
	e.fast, _ = conn.(addrPortConn)
	e.local = addrPortOf(conn.LocalAddr())
	e.rcvBuf, e.sndBuf = sizeBuffers(conn, cfg.rcvBuf, cfg.sndBuf)
	e.pending.init(cfg.maxPending, &e.codes)
	e.handlers.init(cfg.interceptors)
	e.fair.init(cfg.slots)
	e.initGuard(cfg.ampFactor, cfg.prove)
	if cfg.cacheSize > 0 {
		e.cache = newReplyCache(cfg.cacheSize, cfg.cacheTTL, defaultReplyCacheBytes)
	}
	e.baseCtx, e.cancelBase = context.WithCancel(context.Background())
	e.handlers.register(methodsMethod, e.handlers.methodsHandler())
	e.wg.Add(1)
	go e.readLoop()
	return e
}

// LocalAddr returns the address the endpoint's socket is bound to.
func (e *Endpoint) LocalAddr() netip.AddrPort { return e.local }

// Stats returns a snapshot of the endpoint's counters.
func (e *Endpoint) Stats() Stats {
	s := e.stats.snapshot()
	s.Pending = int64(e.pending.len())
	s.RecvBuffer, s.SendBuffer = e.rcvBuf, e.sndBuf
	return s
}

// readLoop is where every datagram enters; one goroutine per endpoint runs
// it. Each request that gets a handler slot runs on a goroutine of its own
// (the slots bound how many), so a slow handler never holds up other
// requests or the replies to the endpoint's own calls. (Running handlers
// on the reading goroutine itself, with a watchdog handing reading over to
// a new goroutine when one overstayed, was measured against this: it lost
// 13% on sequential calls and won 7-9% under parallel load, short of the
// 10% that would pay for its complexity.)
func (e *Endpoint) readLoop() {
	defer e.wg.Done()
	rx := newReceiver(e.conn, e.fast, e.stats.setKernelDrops)
	defer rx.release()
	for {
		b, from, err := rx.receive()
		if err = e.readError(err); err != nil {
			if !errors.Is(err, errStopReading) {
				e.log.Warn("rpcudp: read failed; endpoint stops reading", "err", err)
			}
			return
		}
		if len(b) == 0 && !from.IsValid() {
			continue // a stray deadline
		}
		e.stats.datagramsIn.Add(1)
		if err := checkSize(b); err != nil {
			e.drop(&e.stats.oversize, from, err)
			continue
		}
		if j, ok := e.handleDatagram(b, from); ok {
			e.handOver(j)
		}
	}
}

// checkSize refuses a datagram over the size its type may have: a reply
// may fill a UDP datagram, anything else is at most maxDatagram bytes.
func checkSize(b []byte) error {
	if len(b) <= maxDatagram {
		return nil
	}
	if (b[0] == typeResponse || b[0] == typeError) && len(b) <= maxReplyDatagram {
		return nil
	}
	return fmt.Errorf("%w: datagram of %d bytes (type 0x%02x)", ErrMessageTooLarge, len(b), b[0])
}

// errStopReading ends the read loop quietly.
var errStopReading = errors.New("rpcudp: stop reading")

// readError sorts a read error: nil to keep reading, errStopReading when
// the endpoint is closing, or the error itself.
func (e *Endpoint) readError(err error) error {
	if err == nil {
		return nil
	}
	if e.closing.Load() || errors.Is(err, net.ErrClosed) {
		return errStopReading
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil // a stray deadline; keep reading
	}
	return err
}

// handleDatagram decodes the header and routes one inbound datagram: a
// reply to its pending call, a request to a job for a handler slot. b is
// only valid during the call.
func (e *Endpoint) handleDatagram(b []byte, from netip.AddrPort) (job, bool) {
	h, body, err := parseHeader(b)
	if err != nil {
		e.drop(&e.stats.malformed, from, err)
		return job{}, false
	}
	switch h.typ {
	case typeResponse, typeError:
		if err := e.pending.deliver(h, body, from); err != nil {
			e.drop(e.replyDrop(err), from, err)
		} else {
			e.proved(from) // it answered a call: it receives
		}
	case typeRequest, typeNotify:
		e.credit(from, len(b))
		return e.dispatch(h, body, from)
	default:
		e.drop(&e.stats.malformed, from, fmt.Errorf("%w: unknown type byte 0x%02x", ErrMalformed, h.typ))
	}
	return job{}, false
}

// replyDrop returns the counter for a reply that deliver refused.
func (e *Endpoint) replyDrop(err error) *atomic.Uint64 {
	switch {
	case errors.Is(err, errUnknownID):
		return &e.stats.unknownID
	case errors.Is(err, errWrongSender):
		return &e.stats.wrongSender
	}
	return &e.stats.malformed
}

// drop counts and logs an inbound datagram that goes no further.
func (e *Endpoint) drop(c *atomic.Uint64, from netip.AddrPort, err error) {
	c.Add(1)
	e.log.Debug("rpcudp: dropped datagram", "from", from, "err", err)
}

// send is where every datagram leaves (the server side's through
// sendReply, which applies the anti-amplification rule first).
func (e *Endpoint) send(b []byte, to netip.AddrPort) error {
	var err error
	if e.fast != nil {
		_, err = e.fast.WriteToUDPAddrPort(b, to)
	} else {
		_, err = e.conn.WriteTo(b, net.UDPAddrFromAddrPort(to))
	}
	if err != nil {
		e.stats.sendErrors.Add(1)
		if e.closing.Load() {
			return fmt.Errorf("%w: %w", ErrClosed, err)
		}
		return fmt.Errorf("rpcudp: send to %s: %w", to, err)
	}
	e.stats.datagramsOut.Add(1)
	return nil
}

// getBuf returns an empty buffer for an outgoing datagram.
func (e *Endpoint) getBuf() *[]byte {
	if b, ok := e.bufs.Get().(*[]byte); ok {
		*b = (*b)[:0]
		return b
	}
	b := make([]byte, 0, maxDatagram)
	return &b
}

func (e *Endpoint) putBuf(b *[]byte) {
	if cap(*b) <= 2*maxDatagram {
		e.bufs.Put(b)
	}
}

// Close shuts the endpoint down, waiting for running handlers at most 5
// seconds; Shutdown takes a context for that wait instead.
func (e *Endpoint) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.shutdownTimeout)
	defer cancel()
	return e.Shutdown(ctx)
}

// Shutdown stops reading, fails every pending call with ErrClosed, waits
// until running handlers have finished (their replies are still sent) or
// ctx is done, and closes the socket. If ctx ends first, the handlers'
// context is cancelled and Shutdown returns ctx's error after they return.
// Calling it again returns the first call's result.
func (e *Endpoint) Shutdown(ctx context.Context) error {
	e.shutOnce.Do(func() { e.shutErr = e.shutdown(orBackground(ctx)) })
	return e.shutErr
}

func (e *Endpoint) shutdown(ctx context.Context) error {
	e.closing.Store(true)
	close(e.quit)
	e.stopProbes()
	// Stop the read loop but keep the socket open for handlers' replies.
	if err := e.conn.SetReadDeadline(time.Unix(1, 0)); err != nil {
		e.conn.Close()
	}
	e.pending.closeAll()
	// Wait for the handlers (and the read loop and async waiters).
	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("rpcudp: shutdown: handlers still running: %w", ctx.Err())
		e.cancelBase()
		e.conn.Close()
		<-done
	}
	e.cancelBase()
	if cerr := e.conn.Close(); cerr != nil && err == nil && !errors.Is(cerr, net.ErrClosed) {
		err = cerr
	}
	return err
}

// normalize unmaps IPv4-mapped IPv6 addresses, so that a peer has one
// address whichever socket family saw it.
func normalize(ap netip.AddrPort) netip.AddrPort {
	if ap.Addr().Is4In6() {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return ap
}

// addrPortOf converts a net.Addr to a normalized netip.AddrPort.
func addrPortOf(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.UDPAddr:
		return normalize(a.AddrPort())
	case nil:
		return netip.AddrPort{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.AddrPort{}
	}
	return normalize(ap)
}
