package kademlia

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/rpcudp/go-rpcudp/rpcudp"
)

// Metrics is a snapshot of what happens inside a node, for operators
// (Node.Metrics). The package imports no metrics library: examples/node
// serves a snapshot to Prometheus; counters only grow over a node's life.
type Metrics struct {
	// RPC is the node's rpcudp endpoint's counters: datagrams in and out,
	// calls by outcome, requests served, inbound drops by reason.
	RPC rpcudp.Stats
	// Buckets is the routing table, bucket by bucket, in id order.
	Buckets []BucketMetrics
	// StoredKeys is the number of keys the node's Storage holds;
	// StoredBytes their size as the Storage counts it against its bound,
	// or -1 when the Storage cannot tell (it has no Bytes() int64 method).
	StoredKeys  int
	StoredBytes int64
	// NodeLookups and ValueLookups describe the iterative lookups, by
	// kind (LookupStats.Kind "node" and "value").
	NodeLookups, ValueLookups LookupMetrics
	// HandOff counts the keys handed to newly seen contacts.
	HandOff HandOffMetrics
	// Replies counts the answers the per-source reply budget let go or
	// refused (Config.ReplyBytesPerSecond).
	Replies ReplyMetrics
	// Republish counts the hourly republish of held keys and the 24-hour
	// republish of the node's own keys.
	Republish RepublishMetrics
	// Refused counts the store requests this node refused, by reason
	// (see Config.Validators).
	Refused RefusedMetrics
}

// RefusedMetrics counts store requests refused, by reason: by their
// value's validator (by the sentinel error of the refusal), by the
// sender's quota, or for want of the sender's proof.
type RefusedMetrics struct {
	// BadRecord: malformed or truncated, or at the wrong key
	// (ErrBadRecord); BadSignature: ErrBadSignature; Stale: older than
	// the copy held, or than one held before (ErrStaleRecord);
	// SeqConflict: a compare-and-swap whose expected seq is behind the
	// copy held (ErrSeqConflict).
	BadRecord, BadSignature, Stale, SeqConflict uint64
	// Quota: over the share of the storage the sender's network may hold
	// (a 64th of its bounds). Unproved: the sender did not answer our
	// ping from its address (a spoofed store, most likely): dropped
	// without an answer.
	Quota, Unproved uint64
}

// BucketMetrics is one k-bucket's size.
type BucketMetrics struct {
	// Depth is the length of the id prefix the bucket covers (0 for the
	// whole space).
	Depth int
	// Contacts and Replacements count the bucket's contacts and its
	// replacement cache.
	Contacts, Replacements int
}

// LookupMetrics describes the lookups of one kind.
type LookupMetrics struct {
	// Count counts the lookups; Found those that found what they looked
	// for (LookupStats.Found); RPCs the requests they sent.
	Count, Found, RPCs uint64
	// Invalid and Stale count the copies value lookups were answered
	// that their validator refused, and the valid but older copies
	// (LookupStats.Invalid, Stale): both are repaired after a quorum read.
	Invalid, Stale uint64
	// Seconds is the distribution of their durations, Hops of their
	// LookupStats.Hops.
	Seconds, Hops Histogram
}

// Histogram is a distribution of observations in fixed buckets, shaped
// for Prometheus: Counts[i] counts the observations at most Bounds[i] (and
// more than Bounds[i-1]); the last count, Counts[len(Bounds)], those over
// every bound. Counts are per bucket, not cumulative.
type Histogram struct {
	Bounds []float64
	Counts []uint64
	Count  uint64
	Sum    float64
}

// HandOffMetrics counts the hand-off of stored keys to newcomers.
type HandOffMetrics struct {
	// Newcomers counts the contacts that had keys to be handed; Unproved
	// those that did not answer the ping that must come first; Throttled
	// the newcomers not even considered because the budget was spent.
	Newcomers, Unproved, Throttled uint64
	// Keys and Bytes count the stores that succeeded and their datagram
	// bytes; Failed the stores that failed.
	Keys, Bytes, Failed uint64
	// Skipped counts the keys left to the republish: over
	// Config.HandOffKeys or Config.HandOffBytesPerSecond, or meant for a
	// newcomer that did not answer.
	Skipped uint64
}

// ReplyMetrics counts what the per-source reply budget decided.
type ReplyMetrics struct {
	// Sent and SentBytes count the answers let go (and their datagram
	// bytes); Dropped and DroppedBytes the answers refused.
	Sent, SentBytes, Dropped, DroppedBytes uint64
	// Sources is the number of source addresses tracked now.
	Sources int
}

// RepublishMetrics counts the keys republished.
type RepublishMetrics struct {
	// Keys counts the hourly republish's keys set again, Originals the
	// 24-hour republish's; Failed the republishes that failed.
	Keys, Originals, Failed uint64
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
	for _, b := range n.Table().Buckets {
		m.Buckets = append(m.Buckets, BucketMetrics{
			Depth: b.Lo.commonPrefixLen(b.Hi), Contacts: len(b.Contacts), Replacements: b.Replacements,
		})
	}
	n.metrics.mu.Lock()
	m.NodeLookups, m.ValueLookups = n.metrics.nodeLook.metrics(), n.metrics.valueLook.metrics()
	n.metrics.mu.Unlock()
	nm := &n.metrics
	m.HandOff = HandOffMetrics{
		Newcomers: nm.handOffs.Load(), Unproved: nm.handOffUnproved.Load(), Throttled: nm.handOffThrottled.Load(),
		Keys:  nm.handOffKeys.Load(),
		Bytes: nm.handOffBytes.Load(), Failed: nm.handOffFailed.Load(), Skipped: nm.handOffSkipped.Load(),
	}
	m.Republish = RepublishMetrics{
		Keys: nm.republishKeys.Load(), Originals: nm.republishOriginals.Load(), Failed: nm.republishFailed.Load(),
	}
	m.Refused = RefusedMetrics{
		BadRecord: nm.refusedBad.Load(), BadSignature: nm.refusedSig.Load(),
		Stale: nm.refusedStale.Load(), SeqConflict: nm.refusedCAS.Load(),
		Quota: nm.refusedQuota.Load(), Unproved: nm.refusedUnproved.Load(),
	}
	if b := n.budget; b != nil {
		m.Replies = ReplyMetrics{
			Sent: b.replied.Load(), SentBytes: b.repliedBytes.Load(),
			Dropped: b.drops.Load(), DroppedBytes: b.droppedBytes.Load(), Sources: b.tracked(),
		}
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
