package kademlia

import (
	"slices"
	"sort"
	"sync"
	"time"
)

// Default values used for zero (or negative) tableConfig fields.
const (
	// defaultK is the bucket size k (and the lookup width) of the paper and
	// of Python's kademlia (ksize=20).
	defaultK = 20
	// defaultB is the split-depth modulus b of the paper's section 4.2
	// (Python's kademlia hard-codes 5).
	defaultB = 5
	// defaultMaxFailures is how many consecutive failed RPCs remove a
	// contact from the table.
	defaultMaxFailures = 5
	// defaultReplacementFactor caps each bucket's replacement cache at
	// K*defaultReplacementFactor entries, as Python's kademlia does.
	defaultReplacementFactor = 5
	// defaultPendingTimeout is how long a requested head ping may stay
	// unanswered (no pingResult) before the bucket asks for another one.
	defaultPendingTimeout = time.Minute
)

// tableConfig tunes a table. Zero (or negative) fields take the defaults.
type tableConfig struct {
	// K is the maximum number of contacts per bucket. Default 20.
	K int
	// B is the split-depth modulus: a full bucket that does not contain our
	// own id is still split while its depth is not a multiple of B.
	// Default 5. B = 1 gives the classic table that only ever splits the
	// bucket holding our own id.
	B int
	// MaxFailures is the number of consecutive failed RPCs after which a
	// contact is removed. Default 5.
	MaxFailures int
	// ReplacementFactor caps each bucket's replacement cache at
	// K*ReplacementFactor contacts. Default 5.
	ReplacementFactor int
	// PendingTimeout bounds how long a head ping returned by addFound is
	// considered in flight; after it, the next newcomer for that bucket
	// requests a new ping. Default one minute.
	PendingTimeout time.Duration
	// Now returns the current time. Default time.Now; tests inject a fake
	// clock.
	Now func() time.Time
	// IPLimits bounds the contacts per IP network (see IPLimits). The zero
	// value here means no limits; the Node passes its Config's, with
	// defaults.
	IPLimits IPLimits
}

// withDefaults returns cfg with every unset field filled in.
func (cfg tableConfig) withDefaults() tableConfig {
	if cfg.K <= 0 {
		cfg.K = defaultK
	}
	if cfg.B <= 0 {
		cfg.B = defaultB
	}
	if cfg.MaxFailures <= 0 {
		cfg.MaxFailures = defaultMaxFailures
	}
	if cfg.ReplacementFactor <= 0 {
		cfg.ReplacementFactor = defaultReplacementFactor
	}
	if cfg.PendingTimeout <= 0 {
		cfg.PendingTimeout = defaultPendingTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return cfg
}

// table is a Kademlia routing table: an ordered list of k-buckets that
// together cover the whole 160-bit id space with disjoint inclusive ranges.
// It starts as one bucket [0x00…00, 0xff…ff] and grows by splitting. It is
// pure bookkeeping: it never sends anything, but tells the caller when a
// bucket's head must be pinged (see addFound). All methods are safe for
// concurrent use.
//
// Adding (addFound, addInbound). A contact is only ever added because it
// answered us (addFound: it is verified) or called us (addInbound: it is
// unverified until it answers one of our RPCs at that address). Our own id is never added. For
// the bucket whose range covers the contact's id:
//
//   - a contact already in the bucket at the same address moves to the
//     tail (most recently seen), its failure count is reset, and an answer
//     verifies it;
//   - a contact already in the bucket at another address changes nothing:
//     a datagram claiming a known id proves nothing. The caller (routing)
//     moves it only when the old address fails a ping and the new one
//     answers one with the id (move);
//   - a new contact is refused when its IP network (IPLimits: by default
//     an IPv4 /24 or an IPv6 /32, loopback exempt) already has PerBucket
//     contacts in the bucket or PerTable in the table, replacement caches
//     included;
//   - otherwise, if the bucket has fewer than K contacts, the contact is
//     appended at the tail;
//   - otherwise, if the bucket's range contains our own id or its depth is
//     not a multiple of B (the paper's section 4.2 rule, as in Python's
//     kademlia), the bucket is split at the midpoint of its range and the
//     add is retried;
//   - otherwise a verified newcomer that is among the K contacts closest
//     to our own id takes the place of the bucket's contact farthest from
//     our id, if that one is not (our neighbourhood must stay complete);
//     or else of the least recently seen unverified contact, if any
//     (either goes to the replacement cache);
//   - otherwise the newcomer goes to the bucket's replacement cache (most
//     recent last, K*ReplacementFactor entries at most, oldest dropped
//     first) and add returns the least recently seen contact (the head)
//     for the caller to ping, at most once per bucket until pingResult
//     reports the outcome (or PendingTimeout passes).
//
// Handing out. Only verified contacts without a failure since their last
// answer are handed out (closestAnswering: find_node answers, lookup
// seeds); BootstrappableNeighbors takes only those that answered recently.
// The routing layer revalidates (revalidate.go): it pings unverified
// contacts a few seconds after they arrive and verified ones not heard
// from for Config.RevalidateInterval.
//
// Evicting. A contact leaves its bucket when:
//
//   - pingResult reports that the head did not answer and the replacement
//     cache has an entry (otherwise the miss only counts as a failure);
//   - failed has counted MaxFailures consecutive failed RPCs (any contact
//     that answers or calls us, through addFound, addInbound or pingResult, has its count
//     reset); one timeout never removes a verified contact, but an
//     unverified one leaves at its first failure; a failure of an RPC to
//     another address than the table's (failedAt) does not count;
//   - remove is called.
//
// Whenever a contact leaves a bucket, the most recently seen entry of its
// replacement cache, if any, takes its place at the tail.
type table struct {
	mu      sync.Mutex
	self    ID
	cfg     tableConfig
	buckets []*kbucket // ordered by range; ranges are contiguous and disjoint
}

// newTable returns an empty routing table for the node whose id is self.
func newTable(self ID, cfg tableConfig) *table {
	cfg = cfg.withDefaults()
	return &table{
		self:    self,
		cfg:     cfg,
		buckets: []*kbucket{{idRange: fullIDRange(), lastUpdated: cfg.Now()}},
	}
}

// selfID returns our own id.
func (t *table) selfID() ID { return t.self }

// config returns the table's configuration with defaults filled in.
func (t *table) config() tableConfig { return t.cfg }

// bucketIndex returns the index of the bucket whose range covers id.
// The caller holds t.mu.
func (t *table) bucketIndex(id ID) int {
	// The ranges are contiguous and cover everything, so the first bucket
	// whose upper bound is >= id covers it.
	return sort.Search(len(t.buckets), func(i int) bool {
		return id.Compare(t.buckets[i].Hi) <= 0
	})
}

func (t *table) bucketFor(id ID) *kbucket { return t.buckets[t.bucketIndex(id)] }

// canSplit reports whether the full bucket b may be split (paper 4.2).
func (t *table) canSplit(b *kbucket) bool {
	if b.Lo == b.Hi {
		return false
	}
	return b.contains(t.self) || b.depth()%t.cfg.B != 0
}

func (t *table) maxReplacements() int { return t.cfg.K * t.cfg.ReplacementFactor }

// splitAt replaces bucket i by its two halves.
func (t *table) splitAt(i int) {
	one, two := t.buckets[i].split(t.cfg.K, t.maxReplacements())
	t.buckets = slices.Replace(t.buckets, i, i+1, one, two)
}

// addResult is what add did with a contact.
type addResult struct {
	// head is non-nil when c's bucket is full and cannot be split: the
	// caller must ping the head and report the outcome with pingResult.
	head *Contact
	// added: c was new to the buckets and went into one.
	added bool
	// proved: c has just answered one of our RPCs for the first time
	// since it entered the buckets (it is now verified).
	proved bool
	// known is set when c's id is in a bucket at another address: nothing
	// changed, known is the contact as the table holds it.
	known *Contact
	// refused: c was turned away by the IP limits.
	refused bool
}

// addFound records that c answered one of our RPCs at c.Addr (it is verified),
// following the add rules in the table documentation. It returns the head
// to ping, if any (see addResult.head): while that ping is pending (at
// most PendingTimeout), further newcomers for the bucket only go to the
// replacement cache, so the head is pinged once, not once per newcomer.
func (t *table) addFound(c Contact) (pingHead *Contact) { return t.add(c, true).head }

// addInbound records that c sent us a request: it enters the buckets
// unverified (see the table documentation) unless it is there already.
func (t *table) addInbound(c Contact) (pingHead *Contact) { return t.add(c, false).head }

// add records c, verified if it answered one of our RPCs (see addFound
// and addInbound), and marks its bucket as updated.
func (t *table) add(c Contact, verified bool) addResult {
	if c.ID == t.self {
		return addResult{}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.cfg.Now()
	for {
		i := t.bucketIndex(c.ID)
		b := t.buckets[i]
		if j := b.indexOf(c.ID); j >= 0 {
			return t.refreshEntry(b, j, c, verified, now)
		}
		if !t.ipAllowed(b, c, ID{}) {
			return addResult{refused: true}
		}
		e := tableEntry{c: c, verified: verified, since: now, inbound: !verified}
		if r := b.replacementIndex(c.ID); r >= 0 && b.replacements[r].c.Addr == c.Addr {
			// It waited in the replacement cache: it keeps its history.
			e.since, e.inbound = b.replacements[r].since, b.replacements[r].inbound
		}
		if verified {
			e.lastAnswered, e.answers = now, 1
		}
		if len(b.entries) < t.cfg.K {
			b.removeReplacement(c.ID)
			b.entries = append(b.entries, e)
			b.lastUpdated = now
			return addResult{added: true, proved: verified}
		}
		if t.canSplit(b) {
			t.splitAt(i)
			continue
		}
		b.lastUpdated = now
		if verified && (t.displaceForNeighbour(b, e) || b.displaceUnverified(e, t.maxReplacements())) {
			return addResult{added: true, proved: true}
		}
		b.addReplacement(e, t.maxReplacements())
		if b.pinging && now.Sub(b.pingSince) < t.cfg.PendingTimeout {
			return addResult{}
		}
		head := b.entries[0].c
		b.pinging, b.pingID, b.pingSince = true, head.ID, now
		return addResult{head: &head}
	}
}

// refreshEntry applies the add rules to entry j of b, which has c's id.
// A different address changes nothing (see the table documentation: only
// move moves a contact). The caller holds t.mu.
func (t *table) refreshEntry(b *kbucket, j int, c Contact, verified bool, now time.Time) addResult {
	e := &b.entries[j]
	if e.c.Addr != c.Addr {
		known := e.c
		return addResult{known: &known}
	}
	res := addResult{proved: verified && !e.verified}
	e.failures = 0
	if verified {
		e.answer(now)
	}
	b.moveToTail(j)
	if b.pinging && b.pingID == c.ID {
		// It has just shown it is alive.
		b.pinging = false
	}
	b.lastUpdated = now
	return res
}

// pingResult reports the outcome of pinging id, normally the head returned
// by add. If ok, the contact moves to the tail with its failure count
// reset. If not, it is evicted and replaced by the most recently seen
// entry of its bucket's replacement cache; with an empty cache the miss
// counts as one failure instead (see failed). Either way the bucket's
// pending head ping, if it was for id, is cleared. Report a failed head
// ping here only, not also through failed. Unknown ids are ignored, except
// that a failed id is dropped from a replacement cache.
func (t *table) pingResult(id ID, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.bucketFor(id)
	if b.pinging && b.pingID == id {
		b.pinging = false
	}
	j := b.indexOf(id)
	switch {
	case j < 0:
		if !ok {
			b.removeReplacement(id)
		}
	case ok:
		now := t.cfg.Now()
		e := &b.entries[j]
		e.failures = 0
		e.answer(now)
		b.moveToTail(j)
		b.lastUpdated = now
	case len(b.replacements) > 0:
		b.removeAt(j)
	default:
		b.entries[j].failures++
		if !b.entries[j].verified || b.entries[j].failures >= t.cfg.MaxFailures {
			b.removeAt(j)
		}
	}
}

// failed records that an RPC to id failed (timed out). The contact's count
// of consecutive failures grows by one and, once it reaches MaxFailures
// (or at once for a contact that never answered us: unverified), the
// contact is removed and the most recently seen replacement takes its
// place. A contact that is only in a replacement cache is dropped from it
// at once. failed reports whether id was removed from the table or its
// replacement cache by this call.
func (t *table) failed(id ID) (removed bool) {
	return t.failedAt(Contact{ID: id})
}

// failedAt is failed for an RPC sent to c.Addr: when c.Addr is valid and
// the table knows c's id at another address, the failure says nothing
// about that contact and is ignored (a stranger naming a known id at a
// dead address must not get the contact evicted).
func (t *table) failedAt(c Contact) (removed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.bucketFor(c.ID)
	if j := b.indexOf(c.ID); j >= 0 {
		e := &b.entries[j]
		if c.Addr.IsValid() && e.c.Addr != c.Addr {
			return false
		}
		e.failures++
		if e.verified && e.failures < t.cfg.MaxFailures {
			return false
		}
		b.removeAt(j)
		return true
	}
	if i := b.replacementIndex(c.ID); i >= 0 && c.Addr.IsValid() && b.replacements[i].c.Addr != c.Addr {
		return false
	}
	return b.removeReplacement(c.ID)
}

// remove removes id from the table at once, promoting the most recently
// seen replacement in its place, and drops it from the replacement cache.
// It reports whether id was found in either.
func (t *table) remove(id ID) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.bucketFor(id)
	if j := b.indexOf(id); j >= 0 {
		b.removeAt(j)
		return true
	}
	return b.removeReplacement(id)
}

// isNew reports whether id is in no bucket (replacement caches do not
// count), i.e. whether a contact with this id would be new to us.
func (t *table) isNew(id ID) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.bucketFor(id).indexOf(id) < 0
}

// contains returns the contact with the given id, if it is in a bucket.
func (t *table) contains(id ID) (Contact, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.bucketFor(id)
	if j := b.indexOf(id); j >= 0 {
		return b.entries[j].c, true
	}
	return Contact{}, false
}

// lonely returns the ranges of the buckets not updated (by seen, a
// successful pingResult or touch) for more than olderThan; the caller
// refreshes each with a lookup of a random id in it (idRange.random).
func (t *table) lonely(olderThan time.Duration) []idRange {
	t.mu.Lock()
	defer t.mu.Unlock()
	cutoff := t.cfg.Now().Add(-olderThan)
	var out []idRange
	for _, b := range t.buckets {
		if b.lastUpdated.Before(cutoff) {
			out = append(out, b.idRange)
		}
	}
	return out
}

// touch marks the bucket whose range covers id as updated now: a lookup of
// an id in a range counts as a refresh of that range.
func (t *table) touch(id ID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.bucketFor(id).lastUpdated = t.cfg.Now()
}

// len returns the number of contacts in the buckets (replacement caches
// excluded).
func (t *table) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, b := range t.buckets {
		n += len(b.entries)
	}
	return n
}

// contacts returns every contact in the buckets, in bucket (range) order
// and, within a bucket, least recently seen first.
func (t *table) contacts() []Contact {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Contact
	for _, b := range t.buckets {
		for _, e := range b.entries {
			out = append(out, e.c)
		}
	}
	return out
}

// numBuckets returns the number of buckets.
func (t *table) numBuckets() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.buckets)
}

// ranges returns the ranges of all buckets in order.
func (t *table) ranges() []idRange {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]idRange, len(t.buckets))
	for i, b := range t.buckets {
		out[i] = b.idRange
	}
	return out
}
