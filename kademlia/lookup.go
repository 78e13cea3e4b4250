package kademlia

import (
	"context"
)

// lookupResult is the outcome of one iterative lookup.
type lookupResult struct {
	// closest are up to K contacts that answered, closest to the target
	// first.
	closest []Contact
	// value and found: a value lookup's value.
	value Value
	found bool
	// answered counts the peers that answered well-formed.
	answered int
	stats    LookupStats
}

// queryResult is one peer's answer during a lookup.
type queryResult struct {
	peer     Contact
	contacts []Contact
	value    Value
	hasValue bool
	err      error
}

// lookup runs an iterative Kademlia lookup of target (paper section 2.3),
// in the style of go-ethereum's p2p/discover lookup: up to Alpha requests
// are in flight at all times (a slow peer delays nobody: as soon as one
// answers, the next closest unasked candidate is asked). The candidates
// are the K closest contacts known (a nodeHeap seeded from the routing
// table). A peer that times out or answers malformed is dropped from the
// candidates for the rest of the lookup. The lookup ends when the K
// closest known candidates have all answered (or failed and been dropped),
// when no candidate remains, when ctx ends, or, for a value lookup
// (wantValue), at the first value answered.
//
// A value found is stored, in the background, at the closest node that
// answered without it (the paper's caching; the receiving node shortens
// the value's lifetime, see storeOptions). If several peers answered
// values in the same moment, the most common value wins (as in Python).
//
// Each lookup marks the bucket covering target as refreshed and reports
// its LookupStats to Config.OnLookup.
func (n *Node) lookup(ctx context.Context, target ID, wantValue bool) (lookupResult, error) {
	start := n.cfg.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	kind := "node"
	if wantValue {
		kind = "value"
	}
	n.table.Touch(target)
	h := newNodeHeap(target, n.cfg.K)
	depth := make(map[ID]int) // responses that led to each candidate
	for _, c := range n.table.ClosestAnswering(target, n.cfg.K, nil) {
		h.push(c)
		depth[c.ID] = 0
	}

	var (
		res      lookupResult
		results  = make(chan queryResult, n.cfg.Alpha) // never blocks a query
		inflight int
		values   []queryResult
		// nearestWithout is the closest peer that answered without the
		// value: where a found value is cached.
		nearestWithout *Contact
		err            error
	)
	res.stats = LookupStats{Kind: kind, Target: target}

	handle := func(r queryResult) {
		switch {
		case r.err != nil:
			h.markFailed(r.peer.ID)
		case r.hasValue:
			h.markAnswered(r.peer.ID)
			res.answered++
			values = append(values, r)
		default:
			h.markAnswered(r.peer.ID)
			res.answered++
			if nearestWithout == nil || CloserTo(target, r.peer.ID, nearestWithout.ID) {
				p := r.peer
				nearestWithout = &p
			}
			d := depth[r.peer.ID] + 1
			for _, c := range r.contacts {
				if c.ID == n.id || n.table.Suspect(c.ID) {
					continue // ourselves, or a contact that just failed us
				}
				if _, known := depth[c.ID]; !known {
					depth[c.ID] = d
				}
				h.push(c)
			}
		}
	}

loop:
	for {
		// Keep Alpha queries in flight, closest unasked candidates first.
		for inflight < n.cfg.Alpha {
			next := h.uncontacted()
			if len(next) == 0 {
				break
			}
			c := next[0]
			h.markQueried(c.ID)
			inflight++
			res.stats.RPCs++
			go n.query(ctx, c, target, wantValue, results)
		}
		// Converged: every one of the K closest known answered (or there
		// is nobody left to ask). Queries still in flight are to peers
		// that have fallen out of the K closest.
		if h.allAnswered() {
			break
		}
		select {
		case r := <-results:
			inflight--
			handle(r)
			if len(values) > 0 {
				// Take the answers that arrived in the same moment too.
				for more := true; more && inflight > 0; {
					select {
					case r := <-results:
						inflight--
						handle(r)
					default:
						more = false
					}
				}
				break loop
			}
		case <-ctx.Done():
			err = n.ctxError(ctx, nil)
			break loop
		}
	}
	if err == nil && (ctx.Err() != nil || n.ctx.Err() != nil) {
		// Answers failed because the node is closing or the caller gave up.
		err = n.ctxError(ctx, nil)
	}
	cancel()
	for ; inflight > 0; inflight-- {
		<-results // the queries end at once: their context is cancelled
	}

	res.closest = h.answered(n.cfg.K)
	if len(values) > 0 {
		best := mostCommon(values)
		res.value, res.found = best.value, true
		res.stats.Hops = depth[best.peer.ID] + 1
		if nearestWithout != nil {
			c, v := *nearestWithout, res.value
			n.spawn("cache store", func(ctx context.Context) {
				err := n.callStore(ctx, c, target, v)
				if n.onCacheStore != nil {
					n.onCacheStore(c, target, err)
				}
			})
		}
	} else {
		for _, c := range res.closest {
			res.stats.Hops = max(res.stats.Hops, depth[c.ID]+1)
			if c.ID == target {
				res.stats.Found = true
			}
		}
	}
	if wantValue {
		res.stats.Found = res.found
	}
	res.stats.Duration = n.cfg.Now().Sub(start)
	n.log.Debug("kademlia: lookup done", "kind", kind, "target", target, "rpcs", res.stats.RPCs,
		"hops", res.stats.Hops, "found", res.stats.Found, "closest", len(res.closest), "err", err)
	if n.cfg.OnLookup != nil {
		n.cfg.OnLookup(res.stats)
	}
	return res, err
}

// query asks one peer during a lookup and sends the outcome to out.
func (n *Node) query(ctx context.Context, c Contact, target ID, wantValue bool, out chan<- queryResult) {
	r := queryResult{peer: c}
	if wantValue {
		r.value, r.hasValue, r.contacts, r.err = n.callFindValue(ctx, c, target)
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
