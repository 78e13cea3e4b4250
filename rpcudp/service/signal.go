package service

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/vmihailenco/msgpack/v5"
)

// Lease bounds: the server grants a subscriber's asked lease clamped to
// [minLease, maxLease].
const (
	minLease = time.Second
	maxLease = 10 * time.Minute
)

const (
	// maxSubscribers bounds each signal's subscribers; maxPerNetwork
	// those from one network (see network), where one host may hold many
	// addresses, and maxPerAddr those at one address of it, so that a few
	// hosts cannot take them all and subscribers elsewhere are served.
	maxSubscribers = 1024
	maxPerNetwork  = 32
	maxPerAddr     = 8
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

// subscribers returns how many subscribers hold a live lease.
func (g *Signal) subscribers() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pruneLocked(time.Now())
	return len(g.subs)
}

// subscribe adds or renews a subscription and returns the lease granted
// and the number of the signal's emissions so far.
func (g *Signal) subscribe(k subKey, sink string, lease time.Duration) (time.Duration, uint64, error) {
	lease = min(max(lease, minLease), maxLease)
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.srv.gate.isClosed() {
		return 0, 0, errf(ErrStopped, "")
	}
	g.pruneLocked(now)
	sub := g.subs[k]
	if sub == nil {
		if full := g.fullLocked(k.addr.Addr()); full != "" {
			return 0, 0, errf(ErrTooManySubscribers, full)
		}
		sub = &subscriber{}
		g.subs[k] = sub
	}
	sub.sink, sub.deadline, sub.fails = sink, now.Add(lease), 0
	return lease, g.seq, nil
}

// fullLocked says which share a new subscriber at addr would exceed:
// the signal's, its network's or its address's; "" if none.
func (g *Signal) fullLocked(addr netip.Addr) string {
	if len(g.subs) >= maxSubscribers {
		return g.name
	}
	addr = addr.Unmap().WithZone("")
	net := network(addr)
	inNet, atAddr := 0, 0
	for k := range g.subs {
		if a := k.addr.Addr().Unmap().WithZone(""); net.Contains(a) {
			inNet++
			if a == addr {
				atAddr++
			}
		}
	}
	switch {
	case inNet >= maxPerNetwork:
		return fmt.Sprintf("%s from %s", g.name, net)
	case atAddr >= maxPerAddr && !addr.IsLoopback():
		return fmt.Sprintf("%s from %s", g.name, addr)
	}
	return ""
}

// network is the network whose subscribers share one limit: an IPv4 /24,
// an IPv6 /48 (a site's; a host may hold a whole /64). A loopback address
// is a network of its own, for local processes.
func network(a netip.Addr) netip.Prefix {
	bits := 48
	switch {
	case a.IsLoopback():
		bits = a.BitLen()
	case a.Is4():
		bits = 24
	}
	p, _ := a.Prefix(bits)
	return p
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
	if want, ok := s.checkCookie(cookie, subscribeMethod, from.String(), id); !ok {
		return []any{0, 0, 0, want}, nil
	}
	lease, seq, err := g.subscribe(k, sink, time.Duration(ms)*time.Millisecond)
	if err != nil {
		return nil, err
	}
	return []any{lease.Milliseconds(), seq, g.epoch}, nil
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
