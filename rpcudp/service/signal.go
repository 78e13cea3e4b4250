package service

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/vmihailenco/msgpack/v5"
)

// Lease bounds: the server grants a subscriber's asked lease clamped to
// [MinLease, MaxLease].
const (
	MinLease = time.Second
	MaxLease = 10 * time.Minute
)

const (
	// maxSubscribers bounds each signal's subscribers, and maxPerHost
	// those at one IP address, so that one host cannot take them all.
	maxSubscribers = 1024
	maxPerHost     = 32
	// maxFails is how many emissions in a row a subscriber's address may
	// refuse before it is dropped.
	maxFails = 3
	// maxName bounds a sink's and a subscription id's length.
	maxName = 64
)

// Signal is a named event that a server emits and clients subscribe to
// (Client.Subscribe). Each emission reaches each subscriber as one
// notification. Declare one with Server.Signal.
type Signal struct {
	srv       *Server
	name, doc string

	mu    sync.Mutex
	subs  map[subKey]*subscriber
	seq   uint64 // emissions so far; each carries its number
	epoch uint32 // random: tells a subscriber that the server started afresh
}

type subKey struct {
	addr netip.AddrPort
	id   string
}

type subscriber struct {
	sink     string
	deadline time.Time
	fails    int
}

// Signal declares a signal, or returns the one of that name already
// declared.
func (s *Server) Signal(name, doc string) (*Signal, error) {
	if name == "" {
		return nil, fmt.Errorf("service: empty signal name")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.signals[name]; g != nil {
		return g, nil
	}
	g := &Signal{srv: s, name: name, doc: doc, subs: map[subKey]*subscriber{}, epoch: mrand.Uint32()}
	s.signals[name] = g
	return g, nil
}

func (s *Server) signal(name string) *Signal {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.signals[name]
}

// Name returns the signal's name.
func (g *Signal) Name() string { return g.name }

// Subscribers returns how many subscribers hold a live lease.
func (g *Signal) Subscribers() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pruneLocked(time.Now())
	return len(g.subs)
}

// subscribe adds or renews a subscription and returns the lease granted
// and the number of the signal's emissions so far.
func (g *Signal) subscribe(k subKey, sink string, lease time.Duration) (time.Duration, uint64, error) {
	lease = min(max(lease, MinLease), MaxLease)
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.srv.gate.isClosed() {
		return 0, 0, errf(ErrStopped, "")
	}
	g.pruneLocked(now)
	sub := g.subs[k]
	if sub == nil {
		if len(g.subs) >= maxSubscribers {
			return 0, 0, errf(ErrTooManySubscribers, g.name)
		}
		if g.fromHostLocked(k.addr.Addr()) >= maxPerHost {
			return 0, 0, errf(ErrTooManySubscribers, fmt.Sprintf("%s from %s", g.name, k.addr.Addr()))
		}
		sub = &subscriber{}
		g.subs[k] = sub
	}
	sub.sink, sub.deadline, sub.fails = sink, now.Add(lease), 0
	return lease, g.seq, nil
}

// fromHostLocked counts the subscribers at host.
func (g *Signal) fromHostLocked(host netip.Addr) int {
	n := 0
	for k := range g.subs {
		if k.addr.Addr() == host {
			n++
		}
	}
	return n
}

func (g *Signal) unsubscribe(k subKey) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.subs, k)
}

// dropAll drops every subscriber (Server.Close).
func (g *Signal) dropAll() {
	g.mu.Lock()
	defer g.mu.Unlock()
	clear(g.subs)
}

func (g *Signal) pruneLocked(now time.Time) {
	for k, sub := range g.subs {
		if !now.Before(sub.deadline) {
			delete(g.subs, k)
		}
	}
}

// Emit sends args to every subscriber whose lease is live, each as a
// notification, and returns how many were sent. Subscribers whose lease
// has lapsed are dropped first; one whose address refuses maxFails
// emissions in a row (a send error) is dropped too. Emit does not wait
// for anything but the sends.
func (g *Signal) Emit(ctx context.Context, args ...any) int {
	if args == nil {
		args = []any{}
	}
	type target struct {
		k    subKey
		sink string
	}
	g.mu.Lock()
	g.pruneLocked(time.Now())
	g.seq++
	seq := g.seq
	targets := make([]target, 0, len(g.subs))
	for k, sub := range g.subs {
		targets = append(targets, target{k, sub.sink})
	}
	g.mu.Unlock()
	sent := 0
	for _, t := range targets {
		err := g.srv.ep.Notify(ctx, t.k.addr, t.sink, t.k.id, g.name, seq, args)
		if err == nil {
			sent++
		} else {
			g.srv.log.Debug("service: emission not sent", "signal", g.name, "to", t.k.addr, "err", err)
		}
		g.delivered(t.k, err == nil)
	}
	return sent
}

// delivered counts a subscriber's failed sends, dropping it after
// maxFails in a row.
func (g *Signal) delivered(k subKey, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	sub := g.subs[k]
	switch {
	case sub == nil:
	case ok:
		sub.fails = 0
	default:
		if sub.fails++; sub.fails >= maxFails {
			delete(g.subs, k)
		}
	}
}

// handleSubscribe serves svc.subscribe [signal, lease_ms, sink, sub_id,
// cookie] -> [lease granted in ms, the signal's emissions so far, epoch].
// Without the cookie (or with a stale one) it subscribes nothing and
// answers [0, 0, 0, cookie]: the subscriber must ask again with it,
// which proves it receives at its address, so that a subscribe from a
// spoofed address cannot turn the server into a reflector of emissions.
func (s *Server) handleSubscribe(_ context.Context, from netip.AddrPort, args []msgpack.RawMessage) (any, error) {
	var name, sink, id, cookie string
	var ms int64
	if len(args) == 4 {
		args = append(args, nil)
	}
	if len(args) != 5 {
		return nil, fmt.Errorf("%w: svc.subscribe takes [signal, lease_ms, sink, sub_id, cookie]", rpcudp.ErrBadArgs)
	}
	if err := decodeArgs(args[:4], &name, &ms, &sink, &id); err != nil {
		return nil, err
	}
	if args[4] != nil {
		if err := decodeArgs(args[4:], &cookie); err != nil {
			return nil, err
		}
	}
	if sink == "" || len(sink) > maxName || len(id) > maxName {
		return nil, fmt.Errorf("%w: sink and id must be 1..%d bytes", rpcudp.ErrBadArgs, maxName)
	}
	g := s.signal(name)
	if g == nil {
		return nil, errf(ErrNoSuchSignal, quote(name))
	}
	k := subKey{from, id}
	if want := s.cookie(k); subtle.ConstantTimeCompare([]byte(cookie), []byte(want)) != 1 {
		return []any{0, 0, 0, want}, nil
	}
	lease, seq, err := g.subscribe(k, sink, time.Duration(ms)*time.Millisecond)
	if err != nil {
		return nil, err
	}
	return []any{lease.Milliseconds(), seq, g.epoch}, nil
}

// cookie is the subscribe cookie of a subscriber: a MAC of its address
// and id under the server's random key.
func (s *Server) cookie(k subKey) string {
	m := hmac.New(sha256.New, s.cookieKey[:])
	m.Write([]byte(k.addr.String()))
	m.Write([]byte{0})
	m.Write([]byte(k.id))
	return hex.EncodeToString(m.Sum(nil)[:12])
}

// handleUnsubscribe serves svc.unsubscribe [signal, sub_id] -> nil.
func (s *Server) handleUnsubscribe(_ context.Context, from netip.AddrPort, args []msgpack.RawMessage) (any, error) {
	var name, id string
	if err := decodeArgs(args, &name, &id); err != nil {
		return nil, err
	}
	g := s.signal(name)
	if g == nil {
		return nil, errf(ErrNoSuchSignal, quote(name))
	}
	g.unsubscribe(subKey{from, id})
	return nil, nil
}
