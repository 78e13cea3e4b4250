package kademlia

import (
	"context"
	"maps"
)

// lookupResult is the outcome of one iterative lookup.
type lookupResult struct {
	// closest are up to K contacts that answered, closest to the target
	// first.
	closest []Contact
	// value and found: a value lookup's value.
	value Value
	found bool
	// answered counts the peers that answered well-formed; copies those
	// that answered a valid value.
	answered, copies int
	stats            LookupStats
	// failed are the candidates that did not answer (or were cut short
	// as slow): a second lookup of the same read skips them.
	failed map[ID]struct{}
}

// queryResult is one peer's answer during a lookup.
type queryResult struct {
	peer     Contact
	contacts []Contact
	value    Value
	hasValue bool
	err      error
}

// lookup is one iterative Kademlia lookup of target (paper section 2.3),
// in the style of go-ethereum's p2p/discover lookup: up to Alpha requests
// are in flight at all times (a slow peer delays nobody: as soon as one
// answers, the next closest unasked candidate is asked). The candidates
// are the K closest contacts known (a nodeHeap seeded from the routing
// table). A peer that times out or answers malformed is dropped from the
// candidates for the rest of the lookup. The lookup ends when the K
// closest known candidates have all answered (or failed and been dropped),
// when no candidate remains, when ctx ends, or, for a value lookup
// (wantValue), once its readPolicy's quorum is met (see quorumMet; by
// default at the first valid value, as in Python).
//
// Every value answered is checked by its namespace's Validator: invalid
// copies are ignored. Of the values found, the validator's Select chooses
// (for plain values, the most common wins, as in Python); see choose. The
// value chosen is stored, in the background, at the closest node that
// answered without it (the paper's caching; the receiving node shortens
// the value's lifetime, see storeOptions) and, for a validated value, at
// the holders that answered stale or invalid copies (read repair).
type lookup struct {
	n         *Node
	ctx       context.Context
	target    ID
	wantValue bool
	pol       readPolicy

	cands    *nodeHeap
	depth    map[ID]int // responses that led to each candidate
	results  chan queryResult
	inflight int
	cancels  map[ID]context.CancelFunc // of the queries in flight
	pace     pace                      // when a query is slow enough to free its slot
	values   []queryResult             // answers that carried a valid value
	invalid  []Contact                 // peers that answered an invalid value
	// nearestWithout is the closest peer that answered without the
	// value: where a found value is cached.
	nearestWithout *Contact
	answered       int
	stats          LookupStats
}

// lookup runs a lookup of target (see the lookup type). It marks the
// bucket covering target as refreshed and reports its LookupStats to
// Config.OnLookup.
func (n *Node) lookup(ctx context.Context, target ID, wantValue bool) (lookupResult, error) {
	return n.lookupWidth(ctx, target, wantValue, n.cfg.K)
}

// lookupWidth is lookup keeping the width closest candidates in view
// instead of K (see selfLookup).
func (n *Node) lookupWidth(ctx context.Context, target ID, wantValue bool, width int) (lookupResult, error) {
	return n.lookupWith(ctx, target, wantValue, width, readPolicy{})
}

// lookupWith is lookupWidth reading values by pol (see readPolicy).
func (n *Node) lookupWith(ctx context.Context, target ID, wantValue bool, width int, pol readPolicy) (lookupResult, error) {
	start := n.cfg.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	l := n.newLookup(ctx, target, wantValue, width, pol)
	err := l.run()
	cancel()
	l.drain()
	res := l.result()
	res.stats.Duration = n.cfg.Now().Sub(start)
	n.log.Debug("kademlia: lookup done", "kind", res.stats.Kind, "target", target, "rpcs", res.stats.RPCs,
		"hops", res.stats.Hops, "found", res.stats.Found, "closest", len(res.closest), "err", err)
	if n.cfg.OnLookup != nil {
		n.cfg.OnLookup(res.stats)
	}
	return res, err
}

// newLookup seeds a lookup with the K closest answering contacts, but
// those pol says failed an earlier lookup of the same read.
func (n *Node) newLookup(ctx context.Context, target ID, wantValue bool, width int, pol readPolicy) *lookup {
	kind := "node"
	if wantValue {
		kind = "value"
	}
	n.rt.tab.touch(target)
	l := &lookup{
		n: n, ctx: ctx, target: target, wantValue: wantValue, pol: pol,
		cands:   newNodeHeap(target, width),
		depth:   make(map[ID]int),
		cancels: make(map[ID]context.CancelFunc),
		results: make(chan queryResult, maxInflight(n.cfg.Alpha)), // never blocks a query
		pace:    newPace(n.cfg.QueryTimeout),
		stats:   LookupStats{Kind: kind, Target: target},
	}
	l.cands.lim = n.rt.tab.cfg.IPLimits
	maps.Copy(l.cands.failed, pol.failed)
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

// run asks candidates until the lookup converges (every one of the K
// closest known answered, or nobody is left to ask: queries still in
// flight are to peers that have fallen out of the K closest), a value is
// found or the context ends.
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
		case r := <-l.results:
			l.receive(r)
			if l.quorumMet() {
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
		go l.n.query(ctx, c, l.target, l.wantValue, l.pol.quorum > 1, l.results)
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
func (l *lookup) receive(r queryResult) {
	l.inflight--
	l.ended(r)
	if r.err == nil {
		// We chose to ask it, from our table or another node's answer:
		// it is a node, not merely someone who called us.
		l.n.rt.tab.chosen(r.peer)
	}
	switch {
	case r.err != nil:
		l.cands.markFailed(r.peer.ID)
	case r.hasValue:
		l.cands.markAnswered(r.peer.ID)
		l.answered++
		l.takeValue(r)
		l.addCandidates(r) // a quorum read's holders name contacts too (see query)
	default:
		l.cands.markAnswered(r.peer.ID)
		l.answered++
		if l.nearestWithout == nil || closerTo(l.target, r.peer.ID, l.nearestWithout.ID) {
			p := r.peer
			l.nearestWithout = &p
		}
		l.addCandidates(r)
	}
}

// addCandidates adds the contacts a peer named, one hop further than it.
func (l *lookup) addCandidates(r queryResult) {
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
func (l *lookup) ended(r queryResult) {
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
		case r := <-l.results:
			l.receive(r)
		default:
			return
		}
	}
}

// drain waits for the queries still in flight, which end at once: their
// context is cancelled.
//
// A query cut short this way that was slow (see pace) counts as a failure
// of its peer (see ended).
//
// A value that arrived meanwhile still counts: its holder is repaired
// too if its copy is stale or invalid (see result).
func (l *lookup) drain() {
	l.pace.cutSlow()
	for ; l.inflight > 0; l.inflight-- {
		r := <-l.results
		if r.err != nil && l.pace.isCut(r.peer.ID) {
			l.cands.markFailed(r.peer.ID) // skipped by a second lookup (see readPolicy)
		}
		l.ended(r)
		if r.err == nil && r.hasValue {
			l.takeValue(r)
		}
	}
}

// takeValue keeps a value answered, or the peer that answered it if its
// validator refuses it.
func (l *lookup) takeValue(r queryResult) {
	if _, err := l.n.guard.check(l.target, r.value, l.pol.ns); err != nil {
		l.n.log.Debug("kademlia: lookup: invalid value ignored", "key", l.target, "peer", r.peer, "err", err)
		l.invalid = append(l.invalid, r.peer)
		l.stats.Invalid++
		return
	}
	l.values = append(l.values, r)
}

// result sums the lookup up and, for a value found, starts the caching
// store and read repair.
func (l *lookup) result() lookupResult {
	res := lookupResult{closest: l.cands.answered(l.n.cfg.K), answered: l.answered, copies: len(l.values),
		stats: l.stats, failed: l.cands.failed}
	all := l.values
	if l.pol.local != nil {
		all = append(all[:len(all):len(all)], queryResult{peer: Contact{ID: l.n.id}, value: *l.pol.local, hasValue: true})
	}
	if len(all) > 0 {
		best, stale, validated := l.n.guard.choose(l.target, all)
		res.value, res.found = best.value, true
		if best.peer.ID != l.n.id {
			res.stats.Hops = l.depth[best.peer.ID] + 1
		}
		res.stats.Stale = len(stale)
		if validated {
			stale = append(stale, l.invalid...)
		} else {
			stale = nil
		}
		l.repair(res.value, stale)
	} else {
		for _, c := range res.closest {
			res.stats.Hops = max(res.stats.Hops, l.depth[c.ID]+1)
			if c.ID == l.target {
				res.stats.Found = true
			}
		}
	}
	if l.wantValue {
		res.stats.Found = res.found
	}
	return res
}

// query asks one peer during a lookup and sends the outcome to out.
//
// With descend (a quorum read), a peer that answers with a value is also
// asked find_node: a node holding a value names no contacts (Python's
// protocol), so a ring of holders of stale copies planted just outside
// the K closest would otherwise keep the lookup from ever reaching the K
// closest, which hold the newest (TestSuiteRecordsPoisoned).
func (n *Node) query(ctx context.Context, c Contact, target ID, wantValue, descend bool, out chan<- queryResult) {
	r := queryResult{peer: c}
	if wantValue {
		r.value, r.hasValue, r.contacts, r.err = n.callFindValue(ctx, c, target)
		if descend && r.err == nil && r.hasValue {
			r.contacts, _ = n.callFindNode(ctx, c, target)
		}
	} else {
		r.contacts, r.err = n.callFindNode(ctx, c, target)
	}
	out <- r
}

// mostCommon returns the answer whose value was answered most often, the
// earliest of equals (Python's Counter.most_common).
func mostCommon(values []queryResult) queryResult {
	best, bestCount := 0, 0
	for i, a := range values {
		count := 0
		for _, b := range values {
			if a.value.Equal(b.value) {
				count++
			}
		}
		if count > bestCount {
			best, bestCount = i, count
		}
	}
	return values[best]
}
