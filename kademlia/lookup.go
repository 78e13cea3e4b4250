package kademlia

import (
	"context"
	"maps"
)

// lookup is one iterative Kademlia lookup of target (paper section 2.3),
// in the style of go-ethereum's p2p/discover lookup: it knows nothing of
// values. query asks one peer and returns the contacts it names; up to
// Alpha queries are in flight at all times (as soon as one answers, the
// next closest unasked candidate is asked). The candidates are the width
// closest contacts known (a nodeHeap seeded from the routing table); a
// peer that fails or answers malformed is dropped from them. The lookup
// ends when the candidates in view have all answered (or failed), when
// none remains, when ctx ends, or when stop says so. A value read
// (read.go) is a lookup whose query asks find_value.
type lookup struct {
	n      *Node
	ctx    context.Context
	target ID
	query  func(ctx context.Context, c Contact) ([]Contact, error)
	// onAnswer, if set, is told of every peer that answered, on the
	// lookup's goroutine; stop, if set, ends the lookup once it is true.
	onAnswer func(c Contact)
	stop     func() bool

	cands    *nodeHeap
	depth    map[ID]int // responses that led to each candidate
	replies  chan reply
	inflight int
	cancels  map[ID]context.CancelFunc // of the queries in flight
	pace     pace                      // when a query is slow enough to free its slot
	answered int
	stats    LookupStats
}

// reply is one peer's answer to a lookup's query.
type reply struct {
	peer     Contact
	contacts []Contact
	err      error
}

// lookupResult is the outcome of one iterative lookup.
type lookupResult struct {
	// closest are up to K contacts that answered, closest to the target
	// first; answered counts the peers that answered well-formed.
	closest  []Contact
	answered int
	stats    LookupStats
	// failed are the candidates that did not answer (or were cut short
	// as slow): a second lookup of the same read skips them.
	failed map[ID]struct{}
}

// lookup runs a node lookup of target (see the lookup type).
func (n *Node) lookup(ctx context.Context, target ID) (lookupResult, error) {
	return n.lookupWidth(ctx, target, n.cfg.K)
}

// lookupWidth is lookup keeping the width closest candidates in view
// instead of K (see selfLookup).
func (n *Node) lookupWidth(ctx context.Context, target ID, width int) (lookupResult, error) {
	return n.search(ctx, target, width, nil, func(l *lookup) func(*lookupResult) {
		l.query = func(ctx context.Context, c Contact) ([]Contact, error) { return n.callFindNode(ctx, c, target) }
		return nil
	})
}

// search runs a lookup of target, made by setup (the query, the hooks;
// it returns what completes the result before it is reported, or nil),
// skipping the contacts in skip. It marks the bucket covering target as
// refreshed and reports the LookupStats to Config.OnLookup.
func (n *Node) search(ctx context.Context, target ID, width int, skip map[ID]struct{},
	setup func(*lookup) func(*lookupResult)) (lookupResult, error) {
	start := n.cfg.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	l := n.newLookup(ctx, target, width, skip)
	finish := setup(l)
	err := l.run()
	cancel()
	l.drain()
	res := l.result()
	if finish != nil {
		finish(&res)
	}
	res.stats.Duration = n.cfg.Now().Sub(start)
	n.log.Debug("kademlia: lookup done", "kind", res.stats.Kind, "target", target, "rpcs", res.stats.RPCs,
		"hops", res.stats.Hops, "found", res.stats.Found, "closest", len(res.closest), "err", err)
	if n.cfg.OnLookup != nil {
		n.cfg.OnLookup(res.stats)
	}
	return res, err
}

// newLookup seeds a lookup with the width closest answering contacts,
// but those in skip (they failed an earlier lookup of the same read).
func (n *Node) newLookup(ctx context.Context, target ID, width int, skip map[ID]struct{}) *lookup {
	n.rt.tab.touch(target)
	l := &lookup{
		n: n, ctx: ctx, target: target,
		cands:   newNodeHeap(target, width),
		depth:   make(map[ID]int),
		cancels: make(map[ID]context.CancelFunc),
		replies: make(chan reply, maxInflight(n.cfg.Alpha)), // never blocks a query
		pace:    newPace(n.cfg.QueryTimeout),
		stats:   LookupStats{Kind: "node", Target: target},
	}
	l.cands.lim = n.rt.tab.cfg.IPLimits
	maps.Copy(l.cands.failed, skip)
	for _, c := range n.seeds(target, width) {
		l.cands.push(c)
		l.depth[c.ID] = 0
	}
	return l
}

// seeds returns the contacts a lookup of target starts from: the width
// closest verified ones; if there is none (a node only others have joined
// through, in its first seconds), the closest unverified ones.
func (n *Node) seeds(target ID, width int) []Contact {
	if cs := n.rt.tab.closestAnswering(target, width, nil); len(cs) > 0 {
		return cs
	}
	return n.rt.tab.closestFiltered(target, width, nil, func(e *tableEntry) bool { return e.failures == 0 })
}

// run asks candidates until the lookup converges (every one of the
// closest known answered, or nobody is left to ask: queries still in
// flight are to peers that have fallen out of view), stop is true or the
// context ends.
func (l *lookup) run() error {
	defer l.pace.stop()
	for {
		l.fill()
		// Converged: every candidate in view answered; but a view emptied
		// by slow queries waits for them (nobody else is left to ask).
		if l.cands.allAnswered() && (l.inflight == 0 || l.answered > 0) {
			return l.endErr()
		}
		select {
		case r := <-l.replies:
			l.receive(r)
			if l.stop != nil && l.stop() {
				l.receiveReady() // the answers that arrived in the same moment
				return l.endErr()
			}
		case <-l.pace.timer():
			for _, id := range l.pace.overdue() {
				l.cands.markSlow(id)
			}
		case <-l.ctx.Done():
			return l.endErr()
		}
	}
}

// fill keeps Alpha queries in flight that are not slow (see pace),
// closest unasked candidates first. With maxInflight queries in flight,
// it cuts the slowest short instead: its slot is free once it has ended.
func (l *lookup) fill() {
	for l.inflight-l.pace.slowCount() < l.n.cfg.Alpha {
		next := l.cands.uncontacted()
		if len(next) == 0 {
			return
		}
		if l.inflight >= maxInflight(l.n.cfg.Alpha) {
			if id, ok := l.pace.abandon(); ok {
				l.cancels[id]()
			}
			return
		}
		c := next[0]
		l.cands.markQueried(c.ID)
		l.inflight++
		l.stats.RPCs++
		l.pace.sent(c.ID)
		ctx, cancel := context.WithCancel(l.ctx)
		l.cancels[c.ID] = cancel
		go func() {
			cs, err := l.query(ctx, c)
			l.replies <- reply{peer: c, contacts: cs, err: err}
		}()
	}
}

// endErr is the lookup's error: nil, or the node's closing or the
// caller's giving up (answers failed because of it).
func (l *lookup) endErr() error {
	if l.ctx.Err() != nil || l.n.ctx.Err() != nil {
		return l.n.ctxError(l.ctx, nil)
	}
	return nil
}

// receive takes one peer's answer into the lookup.
func (l *lookup) receive(r reply) {
	l.inflight--
	l.ended(r)
	if r.err != nil {
		l.cands.markFailed(r.peer.ID)
		return
	}
	// We chose to ask it, from our table or another node's answer: it is
	// a node, not merely someone who called us.
	l.n.rt.tab.chosen(r.peer)
	l.cands.markAnswered(r.peer.ID)
	l.answered++
	if l.onAnswer != nil {
		l.onAnswer(r.peer)
	}
	l.addCandidates(r)
}

// addCandidates adds the contacts a peer named, one hop further than it.
func (l *lookup) addCandidates(r reply) {
	d := l.depth[r.peer.ID] + 1
	for _, c := range r.contacts {
		if c.ID == l.n.id || l.n.rt.tab.suspect(c.ID) {
			continue // ourselves, or a contact that just failed us
		}
		if _, known := l.depth[c.ID]; !known {
			l.depth[c.ID] = d
		}
		l.cands.push(c)
	}
}

// ended records the end of a query. A slow query cut short (by fill or
// drain) counts as a failure of its peer: it makes the contact suspect,
// and a probe then checks it.
func (l *lookup) ended(r reply) {
	if cancel, ok := l.cancels[r.peer.ID]; ok {
		cancel()
		delete(l.cancels, r.peer.ID)
	}
	if r.err != nil && l.pace.isCut(r.peer.ID) && l.n.ctx.Err() == nil {
		l.n.rt.record(l.n.ctx, r.peer, errSlowPeer)
	}
	l.pace.done(r.peer.ID, r.err == nil)
}

// receiveReady takes the answers already waiting, without blocking.
func (l *lookup) receiveReady() {
	for l.inflight > 0 {
		select {
		case r := <-l.replies:
			l.receive(r)
		default:
			return
		}
	}
}

// drain waits for the queries still in flight, which end at once: their
// context is cancelled. A query cut short this way that was slow (see
// pace) counts as a failure of its peer (see ended).
func (l *lookup) drain() {
	l.pace.cutSlow()
	for ; l.inflight > 0; l.inflight-- {
		r := <-l.replies
		if r.err != nil && l.pace.isCut(r.peer.ID) {
			l.cands.markFailed(r.peer.ID) // skipped by a second lookup (see readPolicy)
		}
		l.ended(r)
	}
}

// result sums the lookup up: the closest that answered, the longest chain
// to them, whether target itself answered.
func (l *lookup) result() lookupResult {
	res := lookupResult{closest: l.cands.answered(l.n.cfg.K), answered: l.answered, stats: l.stats, failed: l.cands.failed}
	for _, c := range res.closest {
		res.stats.Hops = max(res.stats.Hops, l.depth[c.ID]+1)
		if c.ID == l.target {
			res.stats.Found = true
		}
	}
	return res
}
