package kademlia

import (
	"errors"
	"slices"
	"time"
)

// Pacing a lookup: a query much slower than the answers seen so far (a
// dead peer, most likely) stops holding one of the lookup's Alpha slots
// and its place among the K closest, long before its QueryTimeout; its
// answer is still taken if it comes. The threshold adapts to the round
// trips observed: slowFactor times their median, at least minSlowAfter,
// at most QueryTimeout. Until a first answer arrives it is a quarter of
// QueryTimeout. A lookup keeps at most maxInflight queries in flight,
// slow ones included; when it has that many and a candidate is waiting, it
// cuts short the slow query sent first (see abandon), so that contacts
// that never answer (a liar's fakes) each hold a slot for about one
// threshold, not for QueryTimeout: once maxInflight slow queries were in
// flight, every further fake cost a lookup QueryTimeout / maxInflight
// (0.11 s by default; issue 18 measured 0.33 s, QueryTimeout / Alpha).
const (
	slowFactor   = 4
	minSlowAfter = 50 * time.Millisecond
)

// errSlowPeer records a peer whose query was cut short after being slow.
var errSlowPeer = errors.New("kademlia: peer much slower than the others")

// maxInflight bounds a lookup's queries in flight, slow ones included.
func maxInflight(alpha int) int { return 3 * alpha }

// pace tracks a lookup's queries in flight and their round trips. A
// lookup uses it from one goroutine.
type pace struct {
	max     time.Duration // QueryTimeout
	started map[ID]time.Time
	slow    map[ID]bool
	cut     map[ID]bool // slow queries abandoned: their end is a failure
	rtts    []time.Duration
	t       *time.Timer
}

func newPace(queryTimeout time.Duration) pace {
	return pace{max: queryTimeout, started: make(map[ID]time.Time), slow: make(map[ID]bool),
		cut: make(map[ID]bool)}
}

// sent records a query to id.
func (p *pace) sent(id ID) { p.started[id] = time.Now() }

// done records the end of the query to id; an answer adds its round trip.
func (p *pace) done(id ID, answered bool) {
	if t, ok := p.started[id]; ok && answered {
		p.rtts = append(p.rtts, time.Since(t))
	}
	delete(p.started, id)
	delete(p.slow, id)
	delete(p.cut, id)
}

func (p *pace) slowCount() int    { return len(p.slow) }
func (p *pace) isSlow(id ID) bool { return p.slow[id] }
func (p *pace) isCut(id ID) bool  { return p.cut[id] }

// abandon picks the query that was sent first among the slow ones not yet
// abandoned, to be cut short, and reports false if there is none.
func (p *pace) abandon() (ID, bool) {
	var id ID
	var first time.Time
	for q := range p.slow {
		if t := p.started[q]; !p.cut[q] && (first.IsZero() || t.Before(first)) {
			id, first = q, t
		}
	}
	if first.IsZero() {
		return ID{}, false
	}
	p.cut[id] = true
	return id, true
}
func (p *pace) threshold() time.Duration {
	if len(p.rtts) == 0 {
		return p.max / 4
	}
	s := slices.Clone(p.rtts)
	slices.Sort(s)
	return min(max(slowFactor*s[len(s)/2], minSlowAfter), p.max)
}

// timer returns a channel that fires when the next query in flight turns
// slow, or nil if none can yet.
func (p *pace) timer() <-chan time.Time {
	th := p.threshold()
	if th <= 0 {
		return nil
	}
	var next time.Time
	for id, t := range p.started {
		if !p.slow[id] && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if next.IsZero() {
		return nil
	}
	d := max(time.Until(next.Add(th)), 0)
	if p.t == nil {
		p.t = time.NewTimer(d)
	} else {
		p.t.Reset(d)
	}
	return p.t.C
}

// overdue marks and returns the queries in flight for longer than the
// threshold.
func (p *pace) overdue() []ID {
	th := p.threshold()
	var out []ID
	for id, t := range p.started {
		if th > 0 && !p.slow[id] && time.Since(t) >= th {
			p.slow[id] = true
			out = append(out, id)
		}
	}
	return out
}

// cutSlow marks every slow query as abandoned (the lookup is over).
func (p *pace) cutSlow() {
	for id := range p.slow {
		p.cut[id] = true
	}
}

// stop releases the timer.
func (p *pace) stop() {
	if p.t != nil {
		p.t.Stop()
	}
}
