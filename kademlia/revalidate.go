package kademlia

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
)

// Revalidation keeps the routing table free of dead contacts, as
// go-ethereum's table does. A contact that has only called us (a
// short-lived client, say) is pinged verifyGrace after it arrived
// (go-ethereum's endpoint proof) and 16 times that after its first
// answer (go-ethereum's fast revalidation of new entries); it is handed
// out only once it has answered verifyGrace or more after it arrived (see
// tableEntry.proven), and a silence removes it at once: a client that
// has exited by then is never handed out. A contact that has answered a
// request we chose to send it (a lookup's query, a bootstrap ping) is
// handed out at once. Once established, a contact that has not answered
// one of our RPCs for Config.RevalidateInterval is pinged; if it stays
// silent it becomes suspect (no longer handed out) and is probed until it
// answers or has failed MaxFailures times. So a node that has gone is
// handed out at most RevalidateInterval after it last answered (less if a
// lookup finds it silent first).

const (
	// defaultRevalidateInterval is Config.RevalidateInterval's default.
	defaultRevalidateInterval = 10 * time.Minute
	// verifyGrace is how long a contact that has only called us waits for
	// its first ping, and must have lived to be handed out.
	verifyGrace = 2 * time.Second
	// minRevalidateWait separates two revalidation passes.
	minRevalidateWait = time.Second
	// revalidateParallel bounds the pings of one pass in flight.
	revalidateParallel = 8
)

// recheckAfter is how long after its last answer a contact that called
// us first, and has answered answers times (verifyGrace apart), is pinged
// again: 16 times verifyGrace after its first answer (a client that
// lived longer than verifyGrace goes at its first silence), then
// interval.
func recheckAfter(answers int, grace, interval time.Duration) time.Duration {
	if answers <= 1 {
		return min(16*grace, interval)
	}
	return interval
}

// due returns the contacts to ping now: those that entered by calling us
// and have not answered grace after it (at grace after it), or whose last
// answer is recheckAfter old; the others whose last answer is interval
// old; leaving out suspect ones (a probe owns them). next is when the
// next one falls due (zero if none).
func (t *table) due(interval, grace time.Duration) (due []Contact, next time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.cfg.Now()
	for _, b := range t.buckets {
		for _, e := range b.entries {
			if e.failures > 0 {
				continue
			}
			var at time.Time
			switch {
			case !e.verified, e.inbound && e.lastAnswered.Sub(e.since) < grace:
				at = e.since.Add(grace) // its proof (see tableEntry.proven)
			case e.inbound:
				at = e.lastAnswered.Add(recheckAfter(e.answers, grace, interval))
			default:
				at = e.lastAnswered.Add(interval)
			}
			if !at.After(now) {
				due = append(due, e.c)
			} else if next.IsZero() || at.Before(next) {
				next = at
			}
		}
	}
	return due, next
}

// wake tells the revalidation loop that an unverified contact arrived:
// its ping falls due verifyGrace later.
func (r *routing) wake() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// revalidate runs until ctx ends: it pings the contacts due (see due),
// then sleeps until the next falls due (at least minRevalidateWait, at
// most interval), or an unverified contact arrives.
func (r *routing) revalidate(ctx context.Context) {
	timer := time.NewTimer(r.interval)
	defer timer.Stop()
	for {
		due, next := r.tab.due(r.interval, r.grace)
		r.pingEach(ctx, due)
		wait := r.interval
		if !next.IsZero() {
			wait = min(max(next.Sub(r.tab.cfg.Now()), minRevalidateWait), r.interval)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-r.kick:
			// Newcomers: their next ping falls due within grace.
			timer.Stop()
			select {
			case <-ctx.Done():
				return
			case <-time.After(minRevalidateWait):
			}
		}
	}
}

// pingEach pings the contacts, revalidateParallel at a time, and records
// the outcomes.
func (r *routing) pingEach(ctx context.Context, cs []Contact) {
	fanOut(ctx, cs, revalidateParallel, func(_ int, c Contact) { r.check(ctx, c) })
}

// check pings c and records the outcome: an answer with c's id verifies
// it; silence or another id counts as a failure, and removes a contact
// that has not yet answered twice (verifyGrace apart): a client that has
// exited, most likely, not worth MaxFailures probes.
func (r *routing) check(ctx context.Context, c Contact) {
	id, err := r.ping(ctx, c.Addr)
	if err == nil && id != c.ID {
		err = errMalformedReply
	}
	if err != nil && isPeerFailure(ctx, err) && r.tab.removeNew(c) {
		return
	}
	r.record(ctx, c, err)
}

// chosen records that c, at c.Addr, answered a request we chose to send
// it (a lookup's query, a bootstrap ping), not merely our check of a
// contact that called us: it is no longer treated as a possible client.
func (t *table) chosen(c Contact) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.bucketFor(c.ID)
	if j := b.indexOf(c.ID); j >= 0 && b.entries[j].c.Addr == c.Addr && b.entries[j].verified {
		b.entries[j].inbound = false
	}
}

// removeNew removes the contact c (at c.Addr) if it has answered fewer
// than two times, and reports whether it did.
func (t *table) removeNew(c Contact) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.bucketFor(c.ID)
	j := b.indexOf(c.ID)
	if j < 0 || b.entries[j].c.Addr != c.Addr || b.entries[j].answers >= 2 {
		return false
	}
	b.removeAt(j)
	return true
}

// checkMove settles a datagram that claims the id of known from another
// address (moved): known keeps its address while it answers a ping with
// its id; only if it fails, and moved answers a ping with the id, does the
// contact move. One check per id at a time; it runs in the background.
func (r *routing) checkMove(known, moved Contact) {
	if r.noProbe {
		return
	}
	r.probeMu.Lock()
	if r.moving[known.ID] {
		r.probeMu.Unlock()
		return
	}
	r.moving[known.ID] = true
	r.probeMu.Unlock()
	done := func() {
		r.probeMu.Lock()
		delete(r.moving, known.ID)
		r.probeMu.Unlock()
	}
	if !r.spawn("move check", func(ctx context.Context) {
		defer done()
		r.settleMove(ctx, known, moved)
	}) {
		done()
	}
}

func (r *routing) settleMove(ctx context.Context, known, moved Contact) {
	id, err := r.ping(ctx, known.Addr)
	if err == nil && id == known.ID {
		r.addFound(known)
		return
	}
	if err == nil {
		err = errMalformedReply
	}
	if !isPeerFailure(ctx, err) {
		return
	}
	r.tab.failedAt(known)
	if id, err := r.ping(ctx, moved.Addr); err != nil || id != moved.ID {
		return
	}
	if r.tab.move(moved) {
		r.log.Debug("kademlia: contact moved", "from", known, "to", moved.Addr)
	} else {
		r.addFound(moved) // it had left meanwhile
	}
}

// proveAddr is the node's prover for rpcudp's 3x rule
// (rpcudp.WithAntiAmplification): an answer larger than 3x its request,
// to an address that has not yet answered one of our RPCs, waits until it
// answers one ping. Python nodes answer ping, so a Python node's
// find_value for a large value, or its find_node, is answered one round
// trip later; a forged request's victim, which does not answer, gets the
// ping (50 bytes) and nothing more.
func (n *Node) proveAddr(ctx context.Context, addr netip.AddrPort) error {
	_, err := n.pingOnce(ctx, addr)
	return err
}

// pingOnce sends one ping to addr, without retries, and returns the id it
// answers with. It records nothing in the routing table.
func (n *Node) pingOnce(ctx context.Context, addr netip.AddrPort) (ID, error) {
	r, err := n.ep.Call(rpcudp.WithCallOptions(ctx, rpcudp.CallOptions{Retry: &rpcudp.RetryPolicy{}}), addr, methodPing, n.id[:])
	if err != nil {
		return ID{}, fmt.Errorf("kademlia: ping %s: %w", addr, err)
	}
	id, err := binID(r)
	if err != nil {
		return ID{}, fmt.Errorf("kademlia: ping %s: %w: %v", addr, errMalformedReply, err)
	}
	return id, nil
}
