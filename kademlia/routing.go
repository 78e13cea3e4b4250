package kademlia

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
)

// routing owns the routing table and the liveness of its contacts: it
// records who called us (addInbound) or answered us (addFound) and whose RPCs
// failed (record), pings the head of a full bucket for a newcomer
// (pingHead), probes contacts whose last RPC failed (probe), revalidates
// the table (revalidate.go) and settles a contact claimed from a new
// address (checkMove). The table itself is pure bookkeeping; routing is
// the one place that acts on it.
type routing struct {
	self    ID
	tab     *table
	log     *slog.Logger
	noProbe bool // tests: no background probes, no revalidation

	// interval is Config.RevalidateInterval; grace is verifyGrace (see
	// revalidate.go).
	interval, grace time.Duration
	kick            chan struct{} // wakes the revalidation loop

	// ping sends one ping to addr and returns the id it answered with;
	// spawn runs a bounded background task; welcome is told about a
	// contact new to the table. All three belong to the Node.
	ping func(ctx context.Context, addr netip.AddrPort) (ID, error)
	// pingOnce is ping without retries: a probe repeats it anyway.
	pingOnce func(ctx context.Context, addr netip.AddrPort) (ID, error)
	spawn    func(what string, fn func(ctx context.Context)) bool
	welcome  func(c Contact)

	addMu   sync.Mutex // serialises add so a newcomer is welcomed once
	probeMu sync.Mutex // guards probing and moving
	probing map[ID]bool
	moving  map[ID]bool
}

func newRouting(n *Node) *routing {
	cfg := n.cfg
	return &routing{
		self: n.id,
		tab: newTable(n.id, tableConfig{K: cfg.K, B: cfg.B, MaxFailures: cfg.MaxFailures, Now: cfg.Now,
			IPLimits: cfg.IPLimits.withDefaults()}),
		log:      n.log,
		noProbe:  n.hooks != nil && n.hooks.noProbe(),
		interval: cfg.RevalidateInterval,
		grace:    min(verifyGrace, cfg.RevalidateInterval),
		kick:     make(chan struct{}, 1),
		ping:     n.ping,
		pingOnce: n.pingOnce,
		spawn:    n.spawn,
		welcome:  n.welcome,
		probing:  make(map[ID]bool),
		moving:   make(map[ID]bool),
	}
}

// addInbound records that c sent us a request (an inbound contact): it goes into the routing table,
// unverified until it answers one of ours (see the table's rules); if its
// bucket is full the head is pinged in the background; and once c, new to
// the table, has answered us, it is welcomed with the keys it should hold
// (see welcomes).
func (r *routing) addInbound(c Contact) { r.add(c, false) }

// addFound records that c answered one of our RPCs at c.Addr (a found
// contact): as addInbound, and c is verified.
func (r *routing) addFound(c Contact) { r.add(c, true) }

func (r *routing) add(c Contact, verified bool) {
	if c.ID == r.self || !c.Addr.IsValid() {
		return
	}
	c.Addr = normalizeAddrPort(c.Addr)
	r.addMu.Lock()
	res := r.tab.add(c, verified)
	r.addMu.Unlock()
	if res.head != nil {
		// If no slot is free the ping is dropped; the table asks for it
		// again after its PendingTimeout.
		h := *res.head
		r.spawn("ping head", func(ctx context.Context) { r.pingHead(ctx, h) })
	}
	if res.known != nil {
		r.checkMove(*res.known, c)
	}
	if res.added && !verified {
		r.wake()
	}
	if r.welcomes(res) {
		r.welcome(c)
	}
}

// welcomes tells whether the outcome of an add makes its contact a
// newcomer to hand keys to. A contact that only called us is welcomed
// once it first answers us, at the address it called from (res.proved:
// the revalidation ping verifyGrace later, most often), not when it
// enters the table: a spoofed id, which never answers, then costs no
// hand-off at all, not even the pass over the routing table (issue 18,
// finding 3). Without revalidation (the package's tests turn it off),
// nothing would verify it: it is welcomed when it enters, and the
// hand-off's own ping proves it.
func (r *routing) welcomes(res addResult) bool {
	if r.noProbe {
		return res.added
	}
	return res.proved
}

// record updates the routing table after an RPC to c: an answer (even an
// error reply) marks it answered; a peer failure (see isPeerFailure)
// counts against it, if the table knows it at that address.
func (r *routing) record(ctx context.Context, c Contact, err error) {
	var rerr *rpcudp.RemoteError
	switch {
	case err == nil, errors.As(err, &rerr):
		r.addFound(c)
	case isPeerFailure(ctx, err):
		if r.tab.failedAt(c) {
			r.log.Debug("kademlia: contact removed after failing", "contact", c)
		} else if !r.noProbe && !errors.Is(err, errMalformedReply) && r.tab.suspectAt(c) {
			r.probe(c) // silent, not lying: is it still there?
		}
	}
}

// probe checks, in the background, a contact whose RPC just failed. While
// it is suspect, lookups skip it and find_node answers leave it out, so a
// dead peer (a client that has exited, say) costs one lookup one
// QueryTimeout instead of costing every lookup one until it is dropped.
// The probe pings it until it answers (it is then as good as ever) or has
// failed MaxFailures times in a row (it is then removed): a contact is
// still only dropped after several consecutive failures, not after one
// timeout. One probe per contact at a time.
func (r *routing) probe(c Contact) {
	r.probeMu.Lock()
	if r.probing[c.ID] {
		r.probeMu.Unlock()
		return
	}
	r.probing[c.ID] = true
	r.probeMu.Unlock()
	done := func() {
		r.probeMu.Lock()
		delete(r.probing, c.ID)
		r.probeMu.Unlock()
	}
	if !r.spawn("probe", func(ctx context.Context) {
		defer done()
		r.probeUntilSettled(ctx, c)
	}) {
		done()
	}
}

// probeUntilSettled pings c while it is suspect, until it answers with its
// id, is removed, or the failure says nothing about c.
func (r *routing) probeUntilSettled(ctx context.Context, c Contact) {
	for ctx.Err() == nil && r.tab.suspectAt(c) {
		id, err := r.pingOnce(ctx, c.Addr)
		if err == nil {
			if id == c.ID {
				r.addFound(c)
				return
			}
			err = errMalformedReply
		}
		if !isPeerFailure(ctx, err) || r.tab.failedAt(c) {
			return
		}
	}
}

// pingHead pings the head of a full bucket and reports the outcome to the
// table, which evicts it for a newcomer if it does not answer.
func (r *routing) pingHead(ctx context.Context, head Contact) {
	id, err := r.ping(ctx, head.Addr)
	var rerr *rpcudp.RemoteError
	switch {
	case err == nil:
		r.tab.pingResult(head.ID, id == head.ID)
	case errors.As(err, &rerr):
		r.tab.pingResult(head.ID, true) // it answered, if only with an error
	case isPeerFailure(ctx, err):
		r.tab.pingResult(head.ID, false)
	}
	// Otherwise (closing, cancelled) nothing is known about the head; the
	// table asks for another ping after its PendingTimeout.
}

// isPeerFailure reports whether a failed RPC is the peer's fault: a
// timeout, a malformed answer, or a send error (an unreachable address).
// The end of our own context, the endpoint closing or our own limits say
// nothing about the peer.
func isPeerFailure(ctx context.Context, err error) bool {
	switch {
	case err == nil, ctx.Err() != nil,
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, rpcudp.ErrClosed), errors.Is(err, rpcudp.ErrTooManyPending),
		errors.Is(err, rpcudp.ErrMessageTooLarge), errors.Is(err, ErrNodeClosed):
		return false
	}
	var rerr *rpcudp.RemoteError
	return !errors.As(err, &rerr)
}
