package kademlia

import (
	"slices"
	"sort"
	"sync"
	"time"
)

// Default values used for zero (or negative) TableConfig fields.
const (
	// DefaultK is the bucket size k (and the lookup width) of the paper and
	// of Python's kademlia (ksize=20).
	DefaultK = 20
	// DefaultB is the split-depth modulus b of the paper's section 4.2
	// (Python's kademlia hard-codes 5).
	DefaultB = 5
	// DefaultMaxFailures is how many consecutive failed RPCs remove a
	// contact from the table.
	DefaultMaxFailures = 5
	// DefaultReplacementFactor caps each bucket's replacement cache at
	// K*DefaultReplacementFactor entries, as Python's kademlia does.
	DefaultReplacementFactor = 5
	// DefaultPendingTimeout is how long a requested head ping may stay
	// unanswered (no PingResult) before the bucket asks for another one.
	DefaultPendingTimeout = time.Minute
)

// TableConfig tunes a Table. Zero (or negative) fields take the defaults.
type TableConfig struct {
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
	// PendingTimeout bounds how long a head ping returned by Seen is
	// considered in flight; after it, the next newcomer for that bucket
	// requests a new ping. Default one minute.
	PendingTimeout time.Duration
	// Now returns the current time. Default time.Now; tests inject a fake
	// clock.
	Now func() time.Time
}

// withDefaults returns cfg with every unset field filled in.
func (cfg TableConfig) withDefaults() TableConfig {
	if cfg.K <= 0 {
		cfg.K = DefaultK
	}
	if cfg.B <= 0 {
		cfg.B = DefaultB
	}
	if cfg.MaxFailures <= 0 {
		cfg.MaxFailures = DefaultMaxFailures
	}
	if cfg.ReplacementFactor <= 0 {
		cfg.ReplacementFactor = DefaultReplacementFactor
	}
	if cfg.PendingTimeout <= 0 {
		cfg.PendingTimeout = DefaultPendingTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return cfg
}

// Range is an inclusive range [Lo, Hi] of ids, the part of the id space one
// bucket covers.
type Range struct {
	Lo ID // lowest id in the range
	Hi ID // highest id in the range
}

// Contains reports whether Lo <= id <= Hi.
func (r Range) Contains(id ID) bool {
	return r.Lo.Compare(id) <= 0 && id.Compare(r.Hi) <= 0
}

// Depth returns the number of leading bits shared by every id in the range
// (the common prefix length of Lo and Hi). A bucket range of 2^(160-d) ids
// produced by the table's halving has depth d.
func (r Range) Depth() int { return r.Lo.CommonPrefixLen(r.Hi) }

// Random returns a random id inside the range, as used to refresh a lonely
// bucket with a lookup.
func (r Range) Random() ID { return RandomIDInRange(r.Lo, r.Hi) }

// String returns "[lo, hi]" in hex.
func (r Range) String() string { return "[" + r.Lo.String() + ", " + r.Hi.String() + "]" }

// fullIDRange is the range of the initial bucket: every 160-bit id.
func fullIDRange() Range {
	var hi ID
	for i := range hi {
		hi[i] = 0xff
	}
	return Range{Hi: hi}
}

// tableEntry is one contact of a bucket with its count of consecutive failed
// RPCs.
type tableEntry struct {
	c        Contact
	failures int
}

// kbucket is one k-bucket. The Table's mutex guards it.
type kbucket struct {
	Range
	// entries are the live contacts, least recently seen first (head) and
	// most recently seen last (tail).
	entries []tableEntry
	// replacements is the replacement cache: contacts that were seen while
	// the bucket was full, most recently seen last, unique by id.
	replacements []Contact
	// lastUpdated is the last time a contact in the range was seen or the
	// range was looked up (Touch).
	lastUpdated time.Time
	// pinging is set while the head (pingID) is being pinged on behalf of a
	// newcomer; pingSince is when that ping was requested.
	pinging   bool
	pingID    ID
	pingSince time.Time
}

func (b *kbucket) indexOf(id ID) int {
	for i := range b.entries {
		if b.entries[i].c.ID == id {
			return i
		}
	}
	return -1
}

func (b *kbucket) replacementIndex(id ID) int {
	for i := range b.replacements {
		if b.replacements[i].ID == id {
			return i
		}
	}
	return -1
}

// moveToTail moves entry i to the tail (most recently seen).
func (b *kbucket) moveToTail(i int) {
	e := b.entries[i]
	b.entries = append(b.entries[:i], b.entries[i+1:]...)
	b.entries = append(b.entries, e)
}

// removeAt removes entry i and promotes the most recently seen replacement,
// if any, to the tail. A pending ping of the removed contact is cleared.
func (b *kbucket) removeAt(i int) {
	id := b.entries[i].c.ID
	b.entries = slices.Delete(b.entries, i, i+1)
	if b.pinging && b.pingID == id {
		b.pinging = false
	}
	if n := len(b.replacements); n > 0 {
		c := b.replacements[n-1]
		b.replacements = b.replacements[:n-1]
		b.entries = append(b.entries, tableEntry{c: c})
	}
}

// addReplacement puts c at the most recent end of the replacement cache,
// dropping an older entry with the same id and, beyond limit entries, the
// least recently seen ones.
func (b *kbucket) addReplacement(c Contact, limit int) {
	if i := b.replacementIndex(c.ID); i >= 0 {
		b.replacements = slices.Delete(b.replacements, i, i+1)
	}
	b.replacements = append(b.replacements, c)
	if over := len(b.replacements) - limit; over > 0 {
		b.replacements = slices.Delete(b.replacements, 0, over)
	}
}

// removeReplacement drops id from the replacement cache.
func (b *kbucket) removeReplacement(id ID) bool {
	i := b.replacementIndex(id)
	if i < 0 {
		return false
	}
	b.replacements = slices.Delete(b.replacements, i, i+1)
	return true
}

// idMidpoint returns floor((lo+hi)/2) over 160-bit integers.
func idMidpoint(lo, hi ID) ID {
	var sum [IDLen + 1]byte // 161-bit sum, big-endian
	carry := 0
	for i := IDLen - 1; i >= 0; i-- {
		s := int(lo[i]) + int(hi[i]) + carry
		sum[i+1] = byte(s)
		carry = s >> 8
	}
	sum[0] = byte(carry)
	var mid ID
	for i := range mid {
		mid[i] = sum[i]<<7 | sum[i+1]>>1
	}
	return mid
}

// idIncrement returns id+1 (wrapping at 2^160, which split never reaches).
func idIncrement(id ID) ID {
	for i := IDLen - 1; i >= 0; i-- {
		id[i]++
		if id[i] != 0 {
			break
		}
	}
	return id
}

// split halves the bucket at the midpoint of its range into [Lo, mid] and
// [mid+1, Hi]. Contacts keep their order and failure counts; replacement
// entries go to the half covering them and, where that half has free
// slots, the most recently seen of them become contacts. Both halves keep
// the parent's lastUpdated; a pending head ping follows its contact. The
// range must hold at least two ids. maxRepl caps the halves' caches.
func (b *kbucket) split(k, maxRepl int) (*kbucket, *kbucket) {
	mid := idMidpoint(b.Lo, b.Hi)
	one := &kbucket{Range: Range{Lo: b.Lo, Hi: mid}, lastUpdated: b.lastUpdated}
	two := &kbucket{Range: Range{Lo: idIncrement(mid), Hi: b.Hi}, lastUpdated: b.lastUpdated}
	pick := func(id ID) *kbucket {
		if id.Compare(mid) <= 0 {
			return one
		}
		return two
	}
	for _, e := range b.entries {
		h := pick(e.c.ID)
		h.entries = append(h.entries, e)
	}
	for _, c := range b.replacements {
		h := pick(c.ID)
		h.replacements = append(h.replacements, c)
	}
	for _, h := range []*kbucket{one, two} {
		if free := k - len(h.entries); free > 0 && len(h.replacements) > 0 {
			n := min(free, len(h.replacements))
			promoted := h.replacements[len(h.replacements)-n:]
			for _, c := range promoted {
				h.entries = append(h.entries, tableEntry{c: c})
			}
			h.replacements = h.replacements[:len(h.replacements)-n]
		}
		if over := len(h.replacements) - maxRepl; over > 0 {
			h.replacements = h.replacements[over:]
		}
		h.replacements = slices.Clip(h.replacements)
	}
	if b.pinging {
		if h := pick(b.pingID); h.indexOf(b.pingID) == 0 {
			h.pinging, h.pingID, h.pingSince = true, b.pingID, b.pingSince
		}
	}
	return one, two
}

// Table is a Kademlia routing table: an ordered list of k-buckets that
// together cover the whole 160-bit id space with disjoint inclusive ranges.
// It starts as one bucket [0x00…00, 0xff…ff] and grows by splitting. It is
// pure bookkeeping: it never sends anything, but tells the caller when a
// bucket's head must be pinged (see Seen). All methods are safe for
// concurrent use.
//
// Adding (Seen). A contact is only ever added because it answered us or
// called us. Our own id is never added. For the bucket whose range covers
// the contact's id:
//
//   - a contact already in the bucket moves to the tail (most recently
//     seen), takes the new address if it changed, and its failure count is
//     reset;
//   - otherwise, if the bucket has fewer than K contacts, the contact is
//     appended at the tail;
//   - otherwise, if the bucket's range contains our own id or its depth is
//     not a multiple of B (the paper's section 4.2 rule, as in Python's
//     kademlia), the bucket is split at the midpoint of its range and the
//     add is retried;
//   - otherwise the newcomer goes to the bucket's replacement cache (most
//     recent last, K*ReplacementFactor entries at most, oldest dropped
//     first) and Seen returns the least recently seen contact (the head)
//     for the caller to ping, at most once per bucket until PingResult
//     reports the outcome (or PendingTimeout passes).
//
// Evicting. A contact leaves its bucket when:
//
//   - PingResult reports that the head did not answer and the replacement
//     cache has an entry (otherwise the miss only counts as a failure);
//   - Failed has counted MaxFailures consecutive failed RPCs (any contact
//     that answers or calls us, through Seen or PingResult, has its count
//     reset); one timeout never removes a contact;
//   - Remove is called.
//
// Whenever a contact leaves a bucket, the most recently seen entry of its
// replacement cache, if any, takes its place at the tail.
type Table struct {
	mu      sync.Mutex
	self    ID
	cfg     TableConfig
	buckets []*kbucket // ordered by range; ranges are contiguous and disjoint
}

// NewTable returns an empty routing table for the node whose id is self.
func NewTable(self ID, cfg TableConfig) *Table {
	cfg = cfg.withDefaults()
	return &Table{
		self:    self,
		cfg:     cfg,
		buckets: []*kbucket{{Range: fullIDRange(), lastUpdated: cfg.Now()}},
	}
}

// Self returns our own id.
func (t *Table) Self() ID { return t.self }

// Config returns the table's configuration with defaults filled in.
func (t *Table) Config() TableConfig { return t.cfg }

// bucketIndex returns the index of the bucket whose range covers id.
// The caller holds t.mu.
func (t *Table) bucketIndex(id ID) int {
	// The ranges are contiguous and cover everything, so the first bucket
	// whose upper bound is >= id covers it.
	return sort.Search(len(t.buckets), func(i int) bool {
		return id.Compare(t.buckets[i].Hi) <= 0
	})
}

func (t *Table) bucketFor(id ID) *kbucket { return t.buckets[t.bucketIndex(id)] }

// canSplit reports whether the full bucket b may be split (paper 4.2).
func (t *Table) canSplit(b *kbucket) bool {
	if b.Lo == b.Hi {
		return false
	}
	return b.Contains(t.self) || b.Depth()%t.cfg.B != 0
}

func (t *Table) maxReplacements() int { return t.cfg.K * t.cfg.ReplacementFactor }

// splitAt replaces bucket i by its two halves.
func (t *Table) splitAt(i int) {
	one, two := t.buckets[i].split(t.cfg.K, t.maxReplacements())
	t.buckets = slices.Replace(t.buckets, i, i+1, one, two)
}

// Seen records that c answered one of our RPCs or sent us one, following
// the add rules in the Table documentation, and marks c's bucket as
// updated. It returns nil, or a copy of the head of c's bucket when that
// bucket is full and cannot be split: the caller must then ping the head
// and report the outcome with PingResult. While that ping is pending (at
// most PendingTimeout), further newcomers for the bucket only go to the
// replacement cache and Seen returns nil, so the head is pinged once, not
// once per newcomer.
func (t *Table) Seen(c Contact) (pingHead *Contact) {
	if c.ID == t.self {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.cfg.Now()
	for {
		i := t.bucketIndex(c.ID)
		b := t.buckets[i]
		if j := b.indexOf(c.ID); j >= 0 {
			b.entries[j].c.Addr = c.Addr
			b.entries[j].failures = 0
			b.moveToTail(j)
			if b.pinging && b.pingID == c.ID {
				// It has just shown it is alive.
				b.pinging = false
			}
			b.lastUpdated = now
			return nil
		}
		if len(b.entries) < t.cfg.K {
			b.removeReplacement(c.ID)
			b.entries = append(b.entries, tableEntry{c: c})
			b.lastUpdated = now
			return nil
		}
		if t.canSplit(b) {
			t.splitAt(i)
			continue
		}
		b.addReplacement(c, t.maxReplacements())
		b.lastUpdated = now
		if b.pinging && now.Sub(b.pingSince) < t.cfg.PendingTimeout {
			return nil
		}
		head := b.entries[0].c
		b.pinging, b.pingID, b.pingSince = true, head.ID, now
		return &head
	}
}

// PingResult reports the outcome of pinging id, normally the head returned
// by Seen. If ok, the contact moves to the tail with its failure count
// reset. If not, it is evicted and replaced by the most recently seen
// entry of its bucket's replacement cache; with an empty cache the miss
// counts as one failure instead (see Failed). Either way the bucket's
// pending head ping, if it was for id, is cleared. Report a failed head
// ping here only, not also through Failed. Unknown ids are ignored, except
// that a failed id is dropped from a replacement cache.
func (t *Table) PingResult(id ID, ok bool) {
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
		b.entries[j].failures = 0
		b.moveToTail(j)
		b.lastUpdated = t.cfg.Now()
	case len(b.replacements) > 0:
		b.removeAt(j)
	default:
		b.entries[j].failures++
		if b.entries[j].failures >= t.cfg.MaxFailures {
			b.removeAt(j)
		}
	}
}

// Failed records that an RPC to id failed (timed out). The contact's count
// of consecutive failures grows by one and, once it reaches MaxFailures,
// the contact is removed and the most recently seen replacement takes its
// place. A contact that is only in a replacement cache is dropped from it
// at once. Failed reports whether id was removed from the table or its
// replacement cache by this call.
func (t *Table) Failed(id ID) (removed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.bucketFor(id)
	if j := b.indexOf(id); j >= 0 {
		b.entries[j].failures++
		if b.entries[j].failures < t.cfg.MaxFailures {
			return false
		}
		b.removeAt(j)
		return true
	}
	return b.removeReplacement(id)
}

// Remove removes id from the table at once, promoting the most recently
// seen replacement in its place, and drops it from the replacement cache.
// It reports whether id was found in either.
func (t *Table) Remove(id ID) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.bucketFor(id)
	if j := b.indexOf(id); j >= 0 {
		b.removeAt(j)
		return true
	}
	return b.removeReplacement(id)
}

// IsNew reports whether id is in no bucket (replacement caches do not
// count), i.e. whether a contact with this id would be new to us.
func (t *Table) IsNew(id ID) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.bucketFor(id).indexOf(id) < 0
}

// Contains returns the contact with the given id, if it is in a bucket.
func (t *Table) Contains(id ID) (Contact, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.bucketFor(id)
	if j := b.indexOf(id); j >= 0 {
		return b.entries[j].c, true
	}
	return Contact{}, false
}

// Closest returns the n contacts of the table (not of the replacement
// caches) closest to target in XOR distance, closest first, skipping those
// for which exclude returns true (nil excludes none). The target itself is
// returned if it is in the table; exclude it explicitly if needed. exclude
// is called with the table locked and must not call the Table.
//
// The result is exactly that of sorting every contact by distance: because
// every bucket covers an aligned block of ids (a common prefix), the
// distances of its contacts form one interval, disjoint from every other
// bucket's, so buckets are visited by increasing interval and only as many
// as needed.
func (t *Table) Closest(target ID, n int, exclude func(Contact) bool) []Contact {
	return t.closest(target, n, exclude, false)
}

// ClosestAnswering is Closest without the suspect contacts (see Suspect):
// the contacts a lookup should ask and a find_node answer should name.
func (t *Table) ClosestAnswering(target ID, n int, exclude func(Contact) bool) []Contact {
	return t.closest(target, n, exclude, true)
}

// Suspect reports whether id is in a bucket and its last RPC failed: it
// has failed at least once since it last answered or called us.
func (t *Table) Suspect(id ID) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.bucketFor(id)
	j := b.indexOf(id)
	return j >= 0 && b.entries[j].failures > 0
}

func (t *Table) closest(target ID, n int, exclude func(Contact) bool, answering bool) []Contact {
	if n <= 0 {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	type keyed struct {
		key ID // smallest distance from target to the bucket's block
		b   *kbucket
	}
	order := make([]keyed, 0, len(t.buckets))
	for _, b := range t.buckets {
		if len(b.entries) == 0 {
			continue
		}
		order = append(order, keyed{key: prefixMask(b.Lo.Xor(target), b.Depth()), b: b})
	}
	slices.SortFunc(order, func(x, y keyed) int { return x.key.Compare(y.key) })
	out := make([]Contact, 0, min(n, t.cfg.K))
	for _, o := range order {
		if len(out) >= n {
			break
		}
		start := len(out)
		for _, e := range o.b.entries {
			if (exclude == nil || !exclude(e.c)) && (!answering || e.failures == 0) {
				out = append(out, e.c)
			}
		}
		slices.SortFunc(out[start:], func(x, y Contact) int { return CompareDistance(target, x.ID, y.ID) })
	}
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// hasCloser reports whether a contact of the table (not of the
// replacement caches), other than those exclude accepts (nil: none), is
// closer to target than our own id: Closest(target, 1, exclude) compared
// with our id, without sorting or allocating. exclude is called with the
// table locked and must not call the Table.
//
// A bucket that does not cover our id covers an aligned block of ids
// which all first differ from ours at the same bit i (the common prefix
// length of the block and our id); such an id is closer to target than
// ours exactly when target differs from our id at bit i too. So only the
// contacts of the bucket covering our id are compared one by one.
func (t *Table) hasCloser(target ID, exclude func(Contact) bool) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	bit := func(id ID, i int) byte { return id[i/8] >> (7 - i%8) & 1 }
	for _, b := range t.buckets {
		if len(b.entries) == 0 {
			continue
		}
		if !b.Contains(t.self) {
			if i := b.Lo.CommonPrefixLen(t.self); bit(target, i) == bit(t.self, i) {
				continue // the whole block is farther from target than we are
			}
			for _, e := range b.entries {
				if exclude == nil || !exclude(e.c) {
					return true
				}
			}
			continue
		}
		for _, e := range b.entries {
			if CloserTo(target, e.c.ID, t.self) && (exclude == nil || !exclude(e.c)) {
				return true
			}
		}
	}
	return false
}

// prefixMask keeps the first d bits of id and clears the rest.
func prefixMask(id ID, d int) ID {
	var m ID
	full := d / 8
	copy(m[:full], id[:full])
	if r := d % 8; r != 0 && full < IDLen {
		m[full] = id[full] & (0xff << (8 - r))
	}
	return m
}

// Lonely returns the ranges of the buckets not updated (by Seen, a
// successful PingResult or Touch) for more than olderThan; the caller
// refreshes each with a lookup of a random id in it (Range.Random).
func (t *Table) Lonely(olderThan time.Duration) []Range {
	t.mu.Lock()
	defer t.mu.Unlock()
	cutoff := t.cfg.Now().Add(-olderThan)
	var out []Range
	for _, b := range t.buckets {
		if b.lastUpdated.Before(cutoff) {
			out = append(out, b.Range)
		}
	}
	return out
}

// Touch marks the bucket whose range covers id as updated now: a lookup of
// an id in a range counts as a refresh of that range.
func (t *Table) Touch(id ID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.bucketFor(id).lastUpdated = t.cfg.Now()
}

// Len returns the number of contacts in the buckets (replacement caches
// excluded).
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, b := range t.buckets {
		n += len(b.entries)
	}
	return n
}

// Contacts returns every contact in the buckets, in bucket (range) order
// and, within a bucket, least recently seen first.
func (t *Table) Contacts() []Contact {
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

// Buckets returns the number of buckets.
func (t *Table) Buckets() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.buckets)
}

// Ranges returns the ranges of all buckets in order.
func (t *Table) Ranges() []Range {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Range, len(t.buckets))
	for i, b := range t.buckets {
		out[i] = b.Range
	}
	return out
}
