package rpcudp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// The anti-amplification rule (issue 18): no reply toward an address that
// has not proved it receives exceeds factor (3) times the bytes that
// address sent. A forged source address would otherwise turn the endpoint
// into a reflector, sending its whole reply to a victim. This file owns the
// rule's state; the server side's send paths ask sendReply, the read loop
// credits requests, and a matched reply (handleDatagram) proves its sender.
const (
	// pingMethod is served by every endpoint (answering nil) so that the
	// default prover has something to call.
	pingMethod = "rpcudp.ping"

	defaultAmpFactor = 3
	proofTTL         = 10 * time.Minute // a proof lasts this long after the last answer
	maxProven        = 1 << 16          // proven addresses remembered
	maxAccounts      = 1 << 14          // credit accounts of unproven addresses
	accountIdle      = time.Minute      // an account idle this long starts afresh
	maxHeldPerAddr   = 4                // replies waiting for one address's proof
	maxHeld          = 1024             // replies waiting in all
	maxHeldBytes     = 4 << 20          // bytes of them
	maxProbes        = 256              // provers running at once
	holdTimeout      = 2 * time.Second  // a prover's deadline: held replies wait no longer
	appProbeCost     = 64               // the credit a probe by the application's prover needs
)

// errNoCredit: a reply over the credit, and the credit cannot pay for a
// probe either.
var errNoCredit = errors.New("rpcudp: reply over the credit of an unproven address")

// guard is the anti-amplification state of an endpoint.
type guard struct {
	factor    int64 // 0: the rule is off
	prove     func(ctx context.Context, to netip.AddrPort) error
	probeCost int64 // the credit a probe needs before it is sent
	ctx       context.Context
	cancel    context.CancelFunc

	mu       sync.Mutex
	closed   bool              // the endpoint shuts down: no new probes
	proven   genMap[time.Time] // address -> when its proof expires
	accounts genMap[account]
	probes   map[netip.AddrPort]*probe // in flight
	held     int                       // replies held, in every probe
	heldSize int                       // their bytes
}

// account is what an unproven address sent and was sent.
type account struct {
	recv, sent int64
	seen       time.Time
}

// probe is a prover in flight for one address, with the replies that wait
// for its outcome.
type probe struct {
	done chan struct{} // closed when err is set
	err  error
	held [][]byte
}

// initGuard sets the rule up from the options: factor 0 means 3, a
// negative one turns the rule off; prove nil means the default prover.
func (e *Endpoint) initGuard(factor int, prove func(context.Context, netip.AddrPort) error) {
	g := &e.guard
	switch {
	case factor == 0:
		g.factor = defaultAmpFactor
	case factor > 0:
		g.factor = int64(factor)
	}
	g.prove, g.probeCost = prove, appProbeCost
	if prove == nil {
		g.prove = e.ping
		g.probeCost = int64(len(appendRequestHeader(nil, typeRequest, msgID{}, pingMethod, 0)))
	}
	g.proven.max, g.accounts.max = maxProven/2, maxAccounts/2
	g.ctx, g.cancel = context.WithCancel(context.Background())
}

// exempt reports whether an address is proven by nature: a loopback
// source cannot be forged from another host.
func exempt(a netip.AddrPort) bool { return a.Addr().IsLoopback() }

// credit counts an inbound request or notification of n bytes toward what
// may be sent back to its sender. It runs on the read loop.
func (e *Endpoint) credit(from netip.AddrPort, n int) {
	g := &e.guard
	if g.factor == 0 || exempt(from) {
		return
	}
	now := time.Now()
	g.mu.Lock()
	if !g.isProven(from, now) {
		a := g.account(from, now)
		a.recv += int64(n)
		g.accounts.put(from, a)
	}
	g.mu.Unlock()
}

// sendReply is where everything the server side sends leaves: replies,
// error replies, cached replies. A reply that the credit of an unproven
// address cannot pay for is held while a prover runs, or dropped.
func (e *Endpoint) sendReply(b []byte, to netip.AddrPort) error {
	g := &e.guard
	if g.factor == 0 || exempt(to) {
		return e.send(b, to)
	}
	now := time.Now()
	g.mu.Lock()
	if g.isProven(to, now) {
		g.mu.Unlock()
		return e.send(b, to)
	}
	a := g.account(to, now)
	if a.sent+int64(len(b)) <= g.factor*a.recv {
		a.sent += int64(len(b))
		g.accounts.put(to, a)
		g.mu.Unlock()
		return e.send(b, to)
	}
	err := e.hold(&a, b, to)
	g.accounts.put(to, a)
	g.mu.Unlock()
	if err != nil {
		e.unproven(to, 1, err)
	}
	return nil
}

// hold keeps a copy of reply b until to is proven, starting a prover (if
// none is in flight and the credit pays for its probe). g.mu is held.
func (e *Endpoint) hold(a *account, b []byte, to netip.AddrPort) error {
	g := &e.guard
	p := g.probes[to]
	if p == nil {
		if a.sent+g.probeCost > g.factor*a.recv {
			return errNoCredit
		}
		var err error
		if p, err = e.startProbe(to); err != nil {
			return err
		}
		// The probe's datagrams are charged as they leave (charge).
	}
	id := b[1:headerLen]
	for i, h := range p.held {
		if bytes.Equal(h[1:headerLen], id) { // a resend's reply replaces the first
			g.heldSize += len(b) - len(h)
			p.held[i] = append(h[:0], b...)
			return nil
		}
	}
	if len(p.held) >= maxHeldPerAddr || g.held >= maxHeld || g.heldSize+len(b) > maxHeldBytes {
		return fmt.Errorf("%w: too many replies held", errNoCredit)
	}
	p.held = append(p.held, bytes.Clone(b))
	g.held++
	g.heldSize += len(b)
	return nil
}

// startProbe starts a prover for to. g.mu is held.
func (e *Endpoint) startProbe(to netip.AddrPort) (*probe, error) {
	g := &e.guard
	if g.closed {
		return nil, ErrClosed
	}
	if len(g.probes) >= maxProbes {
		return nil, fmt.Errorf("%w: %d probes in flight", ErrTooManyPending, maxProbes)
	}
	p := &probe{done: make(chan struct{})}
	if g.probes == nil {
		g.probes = make(map[netip.AddrPort]*probe)
	}
	g.probes[to] = p
	e.wg.Add(1) // before shutdown's Wait: g.closed is set under g.mu first
	go e.runProbe(to, p)
	return p, nil
}

// runProbe runs the prover for to and settles the probe.
func (e *Endpoint) runProbe(to netip.AddrPort, p *probe) {
	defer e.wg.Done()
	ctx, cancel := context.WithTimeout(e.guard.ctx, holdTimeout)
	err := e.callProver(ctx, to)
	cancel()
	g := &e.guard
	g.mu.Lock()
	delete(g.probes, to)
	now := time.Now()
	if err == nil {
		g.setProven(to, now)
	} else if g.isProven(to, now) {
		err = nil // proven meanwhile by an answer to another call
	}
	held := g.release(p)
	p.err = err
	g.mu.Unlock()
	close(p.done)
	if err != nil {
		e.unproven(to, len(held), err)
		return
	}
	e.sendHeld(held, to)
}

// callProver runs the prover, turning its panic into an error.
func (e *Endpoint) callProver(ctx context.Context, to netip.AddrPort) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: prover: %v", ErrHandlerPanic, r)
		}
	}()
	if err = e.guard.prove(ctx, to); err != nil {
		err = fmt.Errorf("rpcudp: prove %s: %w", to, err)
	}
	return err
}

// ping is the default prover: a call of the built-in pingMethod. Any
// answer with the call's id, an error reply too (a Go peer without
// pingMethod), shows that the address receives.
func (e *Endpoint) ping(ctx context.Context, to netip.AddrPort) error {
	_, err := e.callWith(ctx, e.withDefaults(CallOptions{Timeout: holdTimeout, Retry: &RetryPolicy{}}), to, pingMethod, nil)
	if _, ok := errors.AsType[*RemoteError](err); ok {
		return nil
	}
	return err
}

// charge counts n bytes that the endpoint's own calls send to an address
// with a credit account (unproven, it sent us requests). Calls are never
// held, but what they send leaves less credit for replies, so that
// replies and the follow-ups they cause (a probe, a routing table's
// verification ping) stay within the rule together.
func (e *Endpoint) charge(to netip.AddrPort, n int) {
	g := &e.guard
	if g.factor == 0 || exempt(to) {
		return
	}
	now := time.Now()
	g.mu.Lock()
	if a, ok := g.accounts.get(to); ok && !g.isProven(to, now) {
		a.sent += int64(n)
		g.accounts.put(to, a)
	}
	g.mu.Unlock()
}

// sendCall sends a datagram of one of the endpoint's own calls or
// notifications, charging it (see charge).
func (e *Endpoint) sendCall(b []byte, to netip.AddrPort) error {
	e.charge(to, len(b))
	return e.send(b, to)
}

// proved records that from answered one of the endpoint's calls, and
// sends what was held for it. It runs on the read loop.
func (e *Endpoint) proved(from netip.AddrPort) {
	if exempt(from) {
		return
	}
	g := &e.guard
	g.mu.Lock()
	g.setProven(from, time.Now())
	var held [][]byte
	if p := g.probes[from]; p != nil {
		held = g.release(p)
	}
	g.mu.Unlock()
	e.sendHeld(held, from)
}

// prove makes sure that addr receives what the endpoint sends it: it
// returns nil at once when addr is proven (it answered one of the
// endpoint's calls in the last 10 minutes) or a loopback address;
// otherwise it runs the prover (see WithAntiAmplification), sharing a
// probe already in flight to addr, and returns its error, nil on proof. A
// handler calls it before doing something costly for a caller whose source
// address might be forged. It fails with ErrTooManyPending when 256 probes
// are in flight, and with ErrClosed once the endpoint shuts down.
func (e *Endpoint) prove(ctx context.Context, addr netip.AddrPort) error {
	addr = normalize(addr)
	if exempt(addr) {
		return nil
	}
	g := &e.guard
	g.mu.Lock()
	if g.isProven(addr, time.Now()) {
		g.mu.Unlock()
		return nil
	}
	p := g.probes[addr]
	var err error
	if p == nil {
		p, err = e.startProbe(addr)
	}
	g.mu.Unlock()
	if err != nil {
		return err
	}
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stopProbes refuses new probes and ends those in flight; shutdown calls
// it before waiting for the endpoint's goroutines.
func (e *Endpoint) stopProbes() {
	g := &e.guard
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.cancel()
}

// sendHeld sends the replies held for a proven address.
func (e *Endpoint) sendHeld(held [][]byte, to netip.AddrPort) {
	for _, b := range held {
		if err := e.send(b, to); err != nil {
			e.log.Debug("rpcudp: held reply not sent", "to", to, "err", err)
		}
	}
}

// unproven counts n replies not sent to an address that did not prove
// itself.
func (e *Endpoint) unproven(to netip.AddrPort, n int, err error) {
	if n == 0 {
		return
	}
	e.stats.unproven.Add(uint64(n))
	e.log.Debug("rpcudp: reply to an unproven address dropped", "to", to, "replies", n, "err", err)
}

// isProven reports whether a's proof holds at now. g.mu is held.
func (g *guard) isProven(a netip.AddrPort, now time.Time) bool {
	exp, ok := g.proven.get(a)
	return ok && now.Before(exp)
}

// setProven records a proof of a at now; its account is no longer
// needed. g.mu is held.
func (g *guard) setProven(a netip.AddrPort, now time.Time) {
	g.proven.put(a, now.Add(proofTTL))
	g.accounts.remove(a)
}

// account returns a's account as of now (afresh when idle too long). g.mu
// is held; the caller puts it back.
func (g *guard) account(a netip.AddrPort, now time.Time) account {
	acc, ok := g.accounts.get(a)
	if !ok || now.Sub(acc.seen) > accountIdle {
		acc = account{}
	}
	acc.seen = now
	return acc
}

// release takes the replies held in p out of the bounds. g.mu is held.
func (g *guard) release(p *probe) [][]byte {
	held := p.held
	p.held = nil
	g.held -= len(held)
	for _, b := range held {
		g.heldSize -= len(b)
	}
	return held
}

// genMap maps addresses to values in two generations of at most max
// entries each: when the young one is full it becomes the old one and the
// old one is forgotten. So it stays bounded, forgets the entries written
// longest ago first, and costs O(1) per operation.
type genMap[V any] struct {
	young, old map[netip.AddrPort]V
	max        int
}

func (m *genMap[V]) get(k netip.AddrPort) (V, bool) {
	if v, ok := m.young[k]; ok {
		return v, true
	}
	v, ok := m.old[k]
	return v, ok
}

func (m *genMap[V]) put(k netip.AddrPort, v V) {
	if _, ok := m.young[k]; !ok {
		delete(m.old, k)
		if len(m.young) >= m.max {
			m.old, m.young = m.young, nil
		}
		if m.young == nil {
			m.young = make(map[netip.AddrPort]V)
		}
	}
	m.young[k] = v
}

func (m *genMap[V]) remove(k netip.AddrPort) {
	delete(m.young, k)
	delete(m.old, k)
}
