package service

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/vmihailenco/msgpack/v5"
)

// defaultLease is the lease Subscribe asks for when given none.
const defaultLease = 30 * time.Second

// emissionBuffer is how many emissions a Subscription holds for its
// reader; beyond, new ones are dropped (and counted in the next
// Emission's Missed).
const emissionBuffer = 64

// Emission is one emission of a signal, as a subscriber receives it.
type Emission struct {
	Signal string
	Seq    uint64 // the signal's emissions on the server, this one included
	// Missed counts emissions lost (on the network, or for a full
	// channel) between the previous one received and this one.
	// Emissions are handed on in order, once each; one missing is
	// waited for 100 ms (or until 16 more have come), then given up.
	Missed uint64
	Args   []msgpack.RawMessage
}

// Values decodes the arguments into Go values, as rpcudp decodes into
// an interface. (To decode one into a type of yours, decode its msgpack:
// rpcudp.Reply(e.Args[i]).Decode(&v).)
func (e Emission) Values() ([]any, error) {
	vs := make([]any, len(e.Args))
	for i, a := range e.Args {
		if err := rpcudp.Reply(a).Decode(&vs[i]); err != nil {
			return nil, err
		}
	}
	return vs, nil
}

// Subscription receives a signal's emissions from one server and renews
// its lease in the background until Close, the client's Close, or its
// loss (see Err).
type Subscription struct {
	c      *Client
	addr   netip.AddrPort
	signal string
	id     string
	every  time.Duration // renewal period
	cookie string        // the server's subscribe cookie; renew's alone

	ctx    context.Context // ends on Close
	cancel context.CancelFunc
	done   chan struct{} // closed when the renewal loop has ended
	gap    chan struct{} // a renewal showed emissions lost after the last one received

	in *inbox

	mu  sync.Mutex
	err error // why C was closed, if not by Close
}

// Subscribe subscribes to signal on the server at addr, asking for lease
// (30 s if 0; the server clamps it to [1 s, 10 min]), and renews it every
// third of the lease granted. After the client's Close it fails with
// ErrClosed, sending nothing.
func (c *Client) Subscribe(ctx context.Context, addr netip.AddrPort, signal string, lease time.Duration) (*Subscription, error) {
	if lease <= 0 {
		lease = defaultLease
	}
	sctx, cancel := context.WithCancel(c.ctx)
	s := &Subscription{
		c: c, addr: netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port()), signal: signal, id: rand.Text()[:16],
		ctx: sctx, cancel: cancel, done: make(chan struct{}), in: newInbox(),
		gap: make(chan struct{}, 1),
	}
	if err := c.track(s); err != nil { // first, so that no early emission is lost
		cancel()
		return nil, err
	}
	sent := time.Now()
	rn, err := s.renew(ctx, lease, rpcudp.CallOptions{})
	if err == nil {
		s.in.renewed(rn)
		s.every = max(rn.lease/3, time.Millisecond)
		if err = c.goBackground(func() { s.loop(lease, rn.lease, sent) }); err != nil {
			s.unsubscribe() // the client closed meanwhile
		}
	}
	if err != nil {
		s.forget()
		s.end(nil)
		close(s.done)
		return nil, err
	}
	return s, nil
}

// C returns the channel of emissions; it is closed when the
// subscription ends.
func (s *Subscription) C() <-chan Emission { return s.in.ch }

// Err returns why C was closed: nil while the subscription lives or after
// its Close; an error wrapping ErrClosed after the client's Close; one
// wrapping ErrLost when the server no longer has the signal, or no
// renewal was acknowledged for the lease granted (the server stopped,
// closed or out of reach: its error is wrapped too, such as ErrStopped
// or rpcudp.ErrTimeout).
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close ends the subscription: it stops renewing, tells the server (a
// notification, best effort: otherwise the lease lapses) and closes C.
func (s *Subscription) Close() error {
	s.forget()
	s.end(nil)
	<-s.done
	return s.unsubscribe()
}

// unsubscribe tells the server, with a notification.
func (s *Subscription) unsubscribe() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return s.c.ep.Notify(ctx, s.addr, unsubscribeMethod, s.signal, s.id)
}

func (s *Subscription) forget() {
	s.c.mu.Lock()
	delete(s.c.subs, s.id)
	s.c.mu.Unlock()
}

// end stops the renewals and closes the channel, saying why (err) if it
// is the first to end it.
func (s *Subscription) end(err error) {
	s.mu.Lock()
	if s.err == nil && !s.in.isClosed() {
		s.err = err
	}
	s.mu.Unlock()
	s.cancel()
	s.in.close()
}

// renewal is the server's answer to a subscribe.
type renewal struct {
	lease time.Duration
	seq   uint64 // the signal's emissions so far
	epoch uint32 // the signal's instance on the server
}

// renew subscribes (again), with the server's cookie; a server that
// answers with a new cookie (the first time, or after a restart) is asked
// once more with it.
func (s *Subscription) renew(ctx context.Context, lease time.Duration, o rpcudp.CallOptions) (renewal, error) {
	for range 2 {
		r, err := s.c.callWith(ctx, o, s.addr, Target{}, subscribeMethod, s.signal, lease.Milliseconds(), s.c.sink, s.id, s.cookie)
		if err != nil {
			return renewal{}, err
		}
		var rn renewal
		var ms int64
		var fields []msgpack.RawMessage
		if err = r.Decode(&fields); err == nil && len(fields) == 4 {
			var z1, z2 int64
			if err = decodeArgs(fields, &z1, &z2, &rn.epoch, &s.cookie); err == nil && s.cookie != "" {
				continue
			}
		} else if err == nil {
			err = decodeArgs(fields, &ms, &rn.seq, &rn.epoch)
		}
		if err != nil || ms <= 0 {
			return renewal{}, fmt.Errorf("%w: subscribe reply %x", rpcudp.ErrMalformed, []byte(r))
		}
		rn.lease = time.Duration(ms) * time.Millisecond
		return rn, nil
	}
	return renewal{}, fmt.Errorf("%w: the server refused its own subscribe cookie", rpcudp.ErrMalformed)
}

// loop renews the lease every s.every until the subscription ends; it
// ends the subscription, lost, when the server no longer has the signal
// or no renewal sent since the last one acknowledged (at acked) has been
// for the lease granted: the server has dropped it by then.
func (s *Subscription) loop(lease, granted time.Duration, acked time.Time) {
	defer close(s.done)
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		sent := time.Now()
		opts := rpcudp.CallOptions{Timeout: s.every, Retry: &rpcudp.RetryPolicy{Initial: s.every / 8}}
		rn, err := s.renew(s.ctx, lease, opts)
		switch {
		case err == nil:
			acked, granted = sent, rn.lease
			if s.in.renewed(rn) {
				select {
				case s.gap <- struct{}{}:
				default:
				}
			}
		case s.ctx.Err() != nil:
			return
		case errors.Is(err, ErrNoSuchSignal):
			s.lose(err)
			return
		case time.Since(acked) >= granted:
			s.lose(fmt.Errorf("no renewal acknowledged for %v: %w", granted, err))
			return
		}
	}
}

// lose ends the subscription, lost for err.
func (s *Subscription) lose(err error) {
	s.forget()
	s.end(fmt.Errorf("%w: subscription to %s: %w", ErrLost, quote(s.signal), err))
}

// handleEmit receives an emission: [sub_id, signal, seq, [args...]].
func (c *Client) handleEmit(_ context.Context, req *rpcudp.Request) (any, error) {
	raw, err := req.RawArgs()
	if err != nil {
		return nil, err
	}
	var id, signal string
	var seq uint64
	var args []msgpack.RawMessage
	if err := decodeArgs(raw, &id, &signal, &seq, &args); err != nil {
		return nil, err
	}
	c.mu.Lock()
	s := c.subs[id]
	c.mu.Unlock()
	if s == nil || s.addr != req.From || s.signal != signal {
		return nil, fmt.Errorf("%w: emission for no subscription of ours", rpcudp.ErrBadArgs)
	}
	for i := range args {
		args[i] = bytes.Clone(args[i]) // the request's buffer is reused
	}
	s.in.add(Emission{Signal: signal, Seq: seq, Args: args})
	return nil, nil
}
