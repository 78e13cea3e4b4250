package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// The raw baseline is the rpc run minus the RPC layer: the same load
// (calls, concurrency, payload, timeout, retries, loss) as plain UDP
// datagrams, with no msgpack, no message ids, no handler goroutines and no
// reply cache. It keeps the rpc client's concurrency model, so that the
// difference is the RPC layer and not the shape of the client: one client
// socket shared by all load goroutines, a reader goroutine matching each
// reply to its waiting caller by an 8-byte sequence number at the start of
// the datagram, and a timer per call.
//
// A raw datagram is the payload with its first 8 bytes overwritten by the
// sequence number (8 bytes when -s is smaller). The server writes back each
// datagram it reads, from its read loop.

// rawSeqLen is the length of the sequence number heading a raw datagram.
const rawSeqLen = 8

var (
	errRawTimeout  = errors.New("raw echo: no reply in time")
	errRawMismatch = errors.New("raw echo: reply does not match the payload")
)

// RawStats are the raw echo's counters.
type RawStats struct {
	Echoed      uint64 `json:"echoed"`       // datagrams the server wrote back
	Retransmits uint64 `json:"retransmits"`  // datagrams the client resent
	Stale       uint64 `json:"stale"`        // replies for calls already over (late, or duplicates of a resend)
	WrongSender uint64 `json:"wrong_sender"` // datagrams from elsewhere than the server
	Short       uint64 `json:"short"`        // datagrams shorter than a sequence number
}

// rawServer writes back every datagram it reads.
type rawServer struct {
	conn   udpConn
	echoed atomic.Uint64
	done   chan struct{}
}

func startRawServer(conn udpConn) *rawServer {
	s := &rawServer{conn: conn, done: make(chan struct{})}
	go s.loop()
	return s
}

func (s *rawServer) loop() {
	defer close(s.done)
	buf := make([]byte, 64<<10)
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return // closed (or failed: the calls will time out)
		}
		if _, err := s.conn.WriteToUDPAddrPort(buf[:n], from); err == nil {
			s.echoed.Add(1)
		}
	}
}

func (s *rawServer) close() {
	s.conn.Close()
	<-s.done
}

// rawClient is the raw echo's client: one socket, one reader goroutine,
// any number of callers.
type rawClient struct {
	conn    udpConn
	server  netip.AddrPort
	payload []byte // len >= rawSeqLen
	timeout time.Duration
	retry   time.Duration // initial backoff; 0: no resends

	seq     atomic.Uint64
	mu      sync.Mutex
	waiters map[uint64]*rawWaiter

	retransmits, stale, wrongSender, short atomic.Uint64
	done                                   chan struct{}
}

// rawWaiter is one load goroutine's reusable call state.
type rawWaiter struct {
	out    []byte    // the datagram to send
	result chan bool // capacity 1: whether the reply matched
	timer  *time.Timer
	resend *time.Timer
}

func startRawClient(conn udpConn, server netip.AddrPort, payload []byte, timeout, retry time.Duration) *rawClient {
	c := &rawClient{
		conn: conn, server: server, payload: payload, timeout: timeout, retry: retry,
		waiters: make(map[uint64]*rawWaiter), done: make(chan struct{}),
	}
	go c.readLoop()
	return c
}

func (c *rawClient) close() {
	c.conn.Close()
	<-c.done
}

func (c *rawClient) readLoop() {
	defer close(c.done)
	buf := make([]byte, 64<<10)
	for {
		n, from, err := c.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		if netip.AddrPortFrom(from.Addr().Unmap(), from.Port()) != c.server {
			c.wrongSender.Add(1)
			continue
		}
		if n < rawSeqLen {
			c.short.Add(1)
			continue
		}
		seq := binary.BigEndian.Uint64(buf)
		w := c.take(seq)
		if w == nil {
			c.stale.Add(1)
			continue
		}
		w.result <- bytes.Equal(buf[rawSeqLen:n], c.payload[rawSeqLen:])
	}
}

// take removes and returns the waiter for seq, if it is still waiting.
func (c *rawClient) take(seq uint64) *rawWaiter {
	c.mu.Lock()
	w := c.waiters[seq]
	if w != nil {
		delete(c.waiters, seq)
	}
	c.mu.Unlock()
	return w
}

func (c *rawClient) newWaiter() *rawWaiter {
	w := &rawWaiter{
		out:    append([]byte(nil), c.payload...),
		result: make(chan bool, 1),
		timer:  time.NewTimer(time.Hour),
		resend: time.NewTimer(time.Hour),
	}
	w.timer.Stop()
	w.resend.Stop()
	return w
}

// call makes one echo round trip with w, resending on the same schedule
// as rpcudp's retry policy (doubling from -retry, capped at 8 times it).
func (c *rawClient) call(ctx context.Context, w *rawWaiter) (outcome, error) {
	seq := c.seq.Add(1)
	binary.BigEndian.PutUint64(w.out, seq)
	c.mu.Lock()
	c.waiters[seq] = w
	c.mu.Unlock()
	if _, err := c.conn.WriteToUDPAddrPort(w.out, c.server); err != nil {
		if c.take(seq) == nil {
			<-w.result // answered regardless; keep w clean
		}
		return outcomeError, fmt.Errorf("raw echo: send: %w", err)
	}

	w.timer.Reset(c.timeout)
	defer w.timer.Stop()
	var resend <-chan time.Time
	backoff := c.retry
	if backoff > 0 {
		w.resend.Reset(backoff)
		defer w.resend.Stop()
		resend = w.resend.C
	}
	for {
		select {
		case ok := <-w.result:
			return matched(ok)
		case <-resend:
			if _, err := c.conn.WriteToUDPAddrPort(w.out, c.server); err == nil {
				c.retransmits.Add(1)
			}
			backoff = min(2*backoff, 8*c.retry)
			w.resend.Reset(backoff)
		case <-w.timer.C:
			if c.take(seq) != nil {
				return outcomeTimeout, errRawTimeout
			}
			return matched(<-w.result) // the reply won the race
		case <-ctx.Done():
			if c.take(seq) != nil {
				return outcomeError, ctx.Err()
			}
			return matched(<-w.result)
		}
	}
}

func matched(ok bool) (outcome, error) {
	if !ok {
		return outcomeError, errRawMismatch
	}
	return outcomeOK, nil
}

// runRaw runs the raw baseline: its own in-process echo server on
// loopback and client, with the same loss plan as the rpc run.
func runRaw(ctx context.Context, cfg Config, rate float64, payload []byte, stderr io.Writer) (*RunResult, error) {
	if len(payload) < rawSeqLen {
		payload = append(make([]byte, 0, rawSeqLen), payload...)
		payload = payload[:rawSeqLen]
	}
	loss := newLossPlan(cfg, true)
	sconn, err := listenUDP(loopback(cfg.IPv6))
	if err != nil {
		return nil, fmt.Errorf("raw echo server: %w", err)
	}
	server := startRawServer(withLoss(sconn, nil, loss.serverOut))
	cconn, err := listenUDP(loopback(cfg.IPv6))
	if err != nil {
		server.close()
		return nil, fmt.Errorf("raw echo client: %w", err)
	}
	target := sconn.LocalAddr().(*net.UDPAddr).AddrPort()
	target = netip.AddrPortFrom(target.Addr().Unmap(), target.Port())
	client := startRawClient(withLoss(cconn, loss.clientIn, loss.clientOut), target, payload, cfg.Timeout, cfg.Retry)

	workers := make([]callFunc, cfg.Concurrency)
	for i := range workers {
		w := client.newWaiter()
		workers[i] = func(ctx context.Context) (outcome, error) { return client.call(ctx, w) }
	}
	res := drive(ctx, cfg, rate, "raw", workers, stderr)
	// Both loops have stopped once closed, so the counters are final.
	client.close()
	server.close()
	res.Dropped = loss.count()
	res.RawStats = &RawStats{
		Echoed:      server.echoed.Load(),
		Retransmits: client.retransmits.Load(),
		Stale:       client.stale.Load(),
		WrongSender: client.wrongSender.Load(),
		Short:       client.short.Load(),
	}
	res.Retransmits = res.RawStats.Retransmits
	res.ClientDrops = res.RawStats.Stale + res.RawStats.WrongSender + res.RawStats.Short
	return res, nil
}
