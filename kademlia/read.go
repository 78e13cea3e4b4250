package kademlia

import (
	"context"
	"errors"
	"fmt"
)

// Value reads: a value lookup is a lookup (lookup.go) whose query asks
// find_value. Each value answered is checked by its namespace's Validator
// (invalid copies are ignored), the read ends at its quorum, one copy is
// chosen (choose), and the copy chosen is written back to the holders of
// others and cached at the closest peer that answered without it
// (repair).

// readPolicy is how a value lookup reads.
type readPolicy struct {
	// quorum is how many copies of the value chosen end the lookup (0 or
	// 1: the first valid value, as in Python); see quorumMet.
	quorum int
	// ns, if not empty, is the only namespace accepted: any other value
	// is invalid (GetRecord asks for RecordNamespace).
	ns string
	// local is this node's own valid copy, if any: one more answer to
	// choose from (repaired too, if stale).
	local *Value
	// failed are contacts that failed an earlier lookup of the same read
	// (a miss asks again, see read): they are not asked again, so that
	// dead peers and a liar's fakes cost the read once (issue 18).
	failed map[ID]struct{}
}

// quorumView: a quorum read of Q copies ends only once the quorumView*Q
// closest candidates have answered (see quorumMet).
const quorumView = 2

// need returns how many valid copies end the lookup.
func (p readPolicy) need() int { return max(p.quorum, 1) }

// valueRead is one value lookup of key by pol: what the lookup's queries
// found, and where to cache and repair.
type valueRead struct {
	n   *Node
	l   *lookup
	key ID
	pol readPolicy
	// found receives the values answered, from the queries' goroutines;
	// a query sends before its reply, so receiving a reply first drains
	// its value (see take).
	found   chan foundValue
	values  []foundValue // valid values answered
	invalid []Contact    // peers that answered an invalid value
	holders map[ID]bool  // peers that answered a value
	// nearestWithout is the closest peer that answered without the
	// value: where a found value is cached.
	nearestWithout *Contact
}

// foundValue is a value a peer answered.
type foundValue struct {
	peer  Contact
	value Value
}

// readResult is the outcome of one value lookup.
type readResult struct {
	lookupResult
	// value and found: the value chosen; copies counts the peers that
	// answered a valid value.
	value  Value
	found  bool
	copies int
}

// readValue runs one value lookup of key keeping width candidates in
// view (see valueRead).
func (n *Node) readValue(ctx context.Context, key ID, width int, pol readPolicy) (readResult, error) {
	r := &valueRead{n: n, key: key, pol: pol, holders: make(map[ID]bool),
		found: make(chan foundValue, maxInflight(n.cfg.Alpha))}
	var out readResult
	res, err := n.search(ctx, key, width, pol.failed, func(l *lookup) func(*lookupResult) {
		r.l = l
		l.stats.Kind = "value"
		l.query, l.onAnswer, l.stop = r.query, r.answered, r.quorumMet
		return func(res *lookupResult) { out = r.result(res) }
	})
	out.lookupResult = res
	return out, err
}

// query asks c for the value. With a quorum, a peer that answers with a
// value is also asked find_node: a node holding a value names no contacts
// (Python's protocol), so a ring of holders of stale copies planted just
// outside the K closest would otherwise keep the lookup from ever reaching
// the K closest, which hold the newest (TestSuiteRecordsPoisoned).
func (r *valueRead) query(ctx context.Context, c Contact) ([]Contact, error) {
	v, has, cs, err := r.n.callFindValue(ctx, c, r.key)
	if err != nil || !has {
		return cs, err
	}
	if r.pol.quorum > 1 {
		cs, _ = r.n.callFindNode(ctx, c, r.key)
	}
	r.found <- foundValue{peer: c, value: v}
	return cs, nil
}

// answered takes the values found so far, and notes c as where to cache
// if it answered without one.
func (r *valueRead) answered(c Contact) {
	r.take()
	if !r.holders[c.ID] && (r.nearestWithout == nil || closerTo(r.key, c.ID, r.nearestWithout.ID)) {
		r.nearestWithout = &c
	}
}

// take checks the values found so far: it keeps the valid ones and the
// peers that answered invalid ones.
func (r *valueRead) take() {
	for {
		select {
		case f := <-r.found:
			r.holders[f.peer.ID] = true
			if _, err := r.n.guard.check(r.key, f.value, r.pol.ns); err != nil {
				r.n.log.Debug("kademlia: lookup: invalid value ignored", "key", r.key, "peer", f.peer, "err", err)
				r.invalid = append(r.invalid, f.peer)
				r.l.stats.Invalid++
				continue
			}
			r.values = append(r.values, f)
		default:
			return
		}
	}
}

// result completes the lookup's result with the value chosen (a value
// that arrived while the lookup drained counts too) and starts the
// caching store and read repair.
func (r *valueRead) result(res *lookupResult) readResult {
	r.take()
	res.stats.Invalid = r.l.stats.Invalid
	out := readResult{copies: len(r.values)}
	all := r.values
	if r.pol.local != nil {
		all = append(all[:len(all):len(all)], foundValue{peer: Contact{ID: r.n.id}, value: *r.pol.local})
	}
	if len(all) > 0 {
		best, stale, validated := r.n.guard.choose(r.key, all)
		out.value, out.found = best.value, true
		res.stats.Hops = 0
		if best.peer.ID != r.n.id {
			res.stats.Hops = r.l.depth[best.peer.ID] + 1
		}
		res.stats.Stale = len(stale)
		if validated {
			stale = append(stale, r.invalid...)
		} else {
			stale = nil
		}
		r.repair(out.value, stale)
	}
	res.stats.Found = out.found
	return out
}

// quorumMet reports whether a value lookup has read enough: without a
// quorum, one valid value (Python's rule); with a quorum Q, Q copies of
// the value choose picks among those answered so far, once the
// quorumView*Q closest candidates in view have all answered. Copies from
// far peers alone cannot end it: liars anywhere on the path can answer
// stale copies first, but the nodes closest to the key, the holders, are
// asked before the read ends.
//
// Why twice Q: liars answer values, never contacts, so a lookup whose
// closest known candidates are liars learns of nobody closer; with only
// the Q closest required, 20% liars answering stale records made about 1%
// of reads (160 honest nodes, 40 liars, K 20, Q 3, simnet) return a stale
// record; with 2Q, none of 2,000 did, at 8.6 queries per read (a read run
// to convergence takes 21).
func (r *valueRead) quorumMet() bool {
	r.take()
	q := r.pol.need()
	if len(r.values) < q {
		return false
	}
	if q == 1 {
		return true
	}
	for i, e := range r.l.cands.view() {
		if i == quorumView*q {
			break
		}
		if !e.answered {
			return false
		}
	}
	best, _, _ := r.n.guard.choose(r.key, r.values)
	copies := 0
	for _, a := range r.values {
		if a.value.Equal(best.value) {
			copies++
		}
	}
	return copies >= q
}

// choose returns the answer a read returns, the holders of other copies
// and whether the answer is a validated value. Validated values win over
// plain ones; among those of the first namespace seen, its Validator's
// Select chooses, and every holder of another copy is stale. Among plain
// values, the most common wins, as in Python, and none is stale.
func (g *storeGuard) choose(key ID, answers []foundValue) (best foundValue, stale []Contact, ok bool) {
	var (
		group  []int
		bodies [][]byte
		first  validated
	)
	for i, a := range answers {
		s, err := g.split(a.value)
		if err != nil || s.val == nil || (first.val != nil && s.ns != first.ns) {
			continue
		}
		if first.val == nil {
			first = s
		}
		group, bodies = append(group, i), append(bodies, s.body)
	}
	if first.val == nil {
		return mostCommon(answers), nil, false
	}
	i, err := first.val.Select(key, bodies)
	if err != nil || i < 0 || i >= len(group) {
		i = 0
	}
	best = answers[group[i]]
	if s, err := g.split(best.value); err == nil {
		if v, _, err := s.canonical(key, best.value); err == nil {
			best.value = v
		}
	}
	for _, a := range answers {
		if !a.value.Equal(best.value) {
			stale = append(stale, a.peer)
		}
	}
	return best, stale, true
}

// repair writes v, in the background, to the holders of stale or invalid
// copies and to the closest peer that answered without a value (the
// paper's caching store); and at once to this node, if its copy is
// among the stale ones.
func (r *valueRead) repair(v Value, stale []Contact) {
	targets := stale
	what := "read repair"
	if len(stale) == 0 {
		what = "cache store"
	}
	if r.nearestWithout != nil {
		targets = append(targets[:len(targets):len(targets)], *r.nearestWithout)
	}
	if len(targets) == 0 {
		return
	}
	n, key := r.n, r.key
	remote := make([]Contact, 0, len(targets))
	for _, c := range targets {
		if c.ID != n.id {
			remote = append(remote, c)
			continue
		}
		// Our own stale copy is replaced at once: the read returns
		// with it in place.
		if opts, err := n.storeOptions(key); err == nil {
			if err := n.putChecked(key, v, opts); err != nil {
				n.log.Debug("kademlia: read repair: local store refused", "key", key, "err", err)
			}
		}
	}
	if len(remote) == 0 {
		return
	}
	n.spawn(what, func(ctx context.Context) {
		ok, failures := n.storeAll(ctx, remote, key, v)
		n.log.Debug("kademlia: "+what, "key", key, "stored", ok, "of", len(remote), "err", errors.Join(failures...))
	})
}

// read runs a value lookup of key by pol (the local copy, unless
// skipLocal, is one more answer) and, when it finds nothing, a second one
// keeping twice as many candidates in view (a defence against liars near
// the key). A node with no peers answers with its local copy.
func (n *Node) read(ctx context.Context, key ID, pol readPolicy, skipLocal bool) (Value, bool, error) {
	if !skipLocal {
		v, ok, err := n.storage.Get(key)
		if err != nil {
			return Value{}, false, n.closedOr(err)
		}
		if _, cerr := n.guard.check(key, v, pol.ns); ok && cerr == nil {
			pol.local = &v
		}
	}
	ctx, cancel, err := n.opContext(ctx)
	if err != nil {
		return Value{}, false, err
	}
	defer cancel()
	if n.rt.tab.len() == 0 {
		if pol.local != nil {
			return *pol.local, true, nil
		}
		return Value{}, false, fmt.Errorf("%w: no known peers to get %s from", ErrNoPeers, key)
	}
	res, err := n.readValue(ctx, key, n.cfg.K, pol)
	if err != nil {
		return Value{}, false, err
	}
	if res.copies == 0 && res.answered > 0 {
		// A miss asks again with twice the view: nodes that answer
		// lookups with only each other can fill a K-wide view and hide
		// the honest holders behind them (TestSuitePoisonedLookups).
		// It skips the contacts that failed the first.
		pol.failed = res.failed
		if res, err = n.readValue(ctx, key, 2*n.cfg.K, pol); err != nil {
			return Value{}, false, err
		}
	}
	if res.found {
		return res.value, true, nil
	}
	if res.answered == 0 {
		return Value{}, false, fmt.Errorf("%w: no peer answered the lookup of %s", ErrNoPeers, key)
	}
	return Value{}, false, nil
}

// mostCommon returns the answer whose value was answered most often, the
// earliest of equals (Python's Counter.most_common).
func mostCommon(values []foundValue) foundValue {
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
