package kademlia

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/rpcudp/go-rpcudp/rpcudp"
)

// Metrics is a snapshot of a node's counters, for operators (examples/node
// serves it to Prometheus); counters only grow.
type Metrics struct {
	// RPC is the endpoint's counters; StoredKeys and StoredBytes the
	// Storage's (StoredBytes -1 if it has no Bytes() int64 method).
	RPC         rpcudp.Stats
	StoredKeys  int
	StoredBytes int64
	// NodeLookups and ValueLookups sum up the lookups of each Kind.
	NodeLookups, ValueLookups LookupMetrics
	// HandOff counts newcomers handed keys (Unproved: silent to our ping;
	// Throttled: budget spent) and the keys stored, failed and Skipped.
	HandOff struct {
		Newcomers, Unproved, Throttled uint64
		Keys, Bytes, Failed, Skipped   uint64
	}
	// Replies counts what the reply budget sent and dropped.
	Replies struct {
		Sent, SentBytes, Dropped, DroppedBytes uint64
		Sources                                int
	}
	// Republish counts the keys of the hourly and 24-hour republishes.
	Republish struct{ Keys, Originals, Failed uint64 }
	// Refused counts the stores refused: by the validator's sentinel, over
	// the sender's network's quota (a 64th of the storage), or Unproved
	// (the sender did not answer our ping from its address).
	Refused struct {
		BadRecord, BadSignature, Stale, SeqConflict uint64
		Quota, Unproved                             uint64
	}
}

// LookupMetrics sums up the lookups of one kind (see LookupStats).
type LookupMetrics struct {
	// Count, Found, RPCs, Invalid and Stale sum the LookupStats fields;
	// Seconds and Hops are the distributions of Duration and Hops.
	Count, Found, RPCs, Invalid, Stale uint64
	Seconds, Hops                      Histogram
}

// Histogram is a distribution, shaped for Prometheus: Counts[i] counts the
// observations in (Bounds[i-1], Bounds[i]], the last count those over every
// bound (per bucket, not cumulative).
type Histogram struct {
	Bounds []float64
	Counts []uint64
	Count  uint64
	Sum    float64
}

// nodeMetrics holds a node's counters; its zero value is ready.
type nodeMetrics struct {
	handOffs, handOffUnproved, handOffKeys, handOffBytes atomic.Uint64
	handOffFailed, handOffSkipped, handOffThrottled      atomic.Uint64
	republishKeys, republishOriginals, republishFailed   atomic.Uint64
	refusedBad, refusedSig, refusedStale, refusedCAS     atomic.Uint64
	refusedQuota, refusedUnproved                        atomic.Uint64

	mu                  sync.Mutex
	nodeLook, valueLook lookupCounts
}

// lookupCounts accumulates the lookups of one kind (under nodeMetrics.mu).
type lookupCounts struct {
	count, found, rpcs, invalid, stale uint64
	seconds, hops                      histCounts
}

// histCounts is a Histogram being filled.
type histCounts struct {
	counts []uint64
	count  uint64
	sum    float64
}

func (h *histCounts) observe(bounds []float64, v float64) {
	if h.counts == nil {
		h.counts = make([]uint64, len(bounds)+1)
	}
	i := 0
	for i < len(bounds) && v > bounds[i] {
		i++
	}
	h.counts[i]++
	h.count++
	h.sum += v
}

func (h *histCounts) histogram(bounds []float64) Histogram {
	out := Histogram{Bounds: bounds, Counts: make([]uint64, len(bounds)+1), Count: h.count, Sum: h.sum}
	copy(out.Counts, h.counts)
	return out
}

// lookupSecondsBounds are the buckets of lookup durations: 1 ms to 10 s.
func lookupSecondsBounds() []float64 {
	return []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
}

// lookupHopsBounds are the buckets of lookup hops.
func lookupHopsBounds() []float64 { return []float64{0, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20} }

// lookup records one lookup's statistics.
func (m *nodeMetrics) lookup(s LookupStats) {
	m.mu.Lock()
	defer m.mu.Unlock()
	lc := &m.nodeLook
	if s.Kind == "value" {
		lc = &m.valueLook
	}
	lc.count++
	if s.Found {
		lc.found++
	}
	lc.rpcs += uint64(s.RPCs)
	lc.invalid += uint64(s.Invalid)
	lc.stale += uint64(s.Stale)
	lc.seconds.observe(lookupSecondsBounds(), s.Duration.Seconds())
	lc.hops.observe(lookupHopsBounds(), float64(s.Hops))
}

// refused records a store refused with err.
func (m *nodeMetrics) refused(err error) {
	switch {
	case errors.Is(err, errOverQuota):
		m.refusedQuota.Add(1)
	case errors.Is(err, ErrSeqConflict):
		m.refusedCAS.Add(1)
	case errors.Is(err, ErrStaleRecord):
		m.refusedStale.Add(1)
	case errors.Is(err, ErrBadSignature):
		m.refusedSig.Add(1)
	case errors.Is(err, ErrBadRecord):
		m.refusedBad.Add(1)
	}
}

// republished records one republish pass: keys set again, failures.
func (m *nodeMetrics) republished(original bool, keys, failed int) {
	if original {
		m.republishOriginals.Add(uint64(keys))
	} else {
		m.republishKeys.Add(uint64(keys))
	}
	m.republishFailed.Add(uint64(failed))
}

func (lc *lookupCounts) metrics() LookupMetrics {
	return LookupMetrics{
		Count: lc.count, Found: lc.found, RPCs: lc.rpcs, Invalid: lc.invalid, Stale: lc.stale,
		Seconds: lc.seconds.histogram(lookupSecondsBounds()),
		Hops:    lc.hops.histogram(lookupHopsBounds()),
	}
}

// Metrics returns a snapshot of the node's counters and gauges.
func (n *Node) Metrics() Metrics {
	m := Metrics{StoredKeys: n.storage.Len(), StoredBytes: -1}
	if n.ep != nil { // nil only in the package's offline test nodes
		m.RPC = n.ep.Stats()
	}
	if b, ok := n.storage.(interface{ Bytes() int64 }); ok {
		m.StoredBytes = b.Bytes()
	}
	n.metrics.mu.Lock()
	m.NodeLookups, m.ValueLookups = n.metrics.nodeLook.metrics(), n.metrics.valueLook.metrics()
	n.metrics.mu.Unlock()
	nm := &n.metrics
	h := &m.HandOff
	h.Newcomers, h.Unproved, h.Throttled = nm.handOffs.Load(), nm.handOffUnproved.Load(), nm.handOffThrottled.Load()
	h.Keys, h.Bytes, h.Failed, h.Skipped = nm.handOffKeys.Load(), nm.handOffBytes.Load(), nm.handOffFailed.Load(), nm.handOffSkipped.Load()
	rp := &m.Republish
	rp.Keys, rp.Originals, rp.Failed = nm.republishKeys.Load(), nm.republishOriginals.Load(), nm.republishFailed.Load()
	rf := &m.Refused
	rf.BadRecord, rf.BadSignature, rf.Stale, rf.SeqConflict = nm.refusedBad.Load(), nm.refusedSig.Load(), nm.refusedStale.Load(), nm.refusedCAS.Load()
	rf.Quota, rf.Unproved = nm.refusedQuota.Load(), nm.refusedUnproved.Load()
	if b := n.budget; b != nil {
		r := &m.Replies
		r.Sent, r.SentBytes, r.Dropped, r.DroppedBytes = b.replied.Load(), b.repliedBytes.Load(), b.drops.Load(), b.droppedBytes.Load()
		r.Sources = b.tracked()
	}
	return m
}

// observeLookups wraps Config.OnLookup so that every lookup is also
// recorded in the node's metrics.
func (n *Node) observeLookups(user func(LookupStats)) func(LookupStats) {
	return func(s LookupStats) {
		n.metrics.lookup(s)
		if user != nil {
			user(s)
		}
	}
}
