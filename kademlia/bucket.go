package kademlia

import (
	"slices"
	"time"
)

// idRange is an inclusive range [Lo, Hi] of ids, the part of the id space one
// bucket covers.
type idRange struct {
	Lo ID // lowest id in the range
	Hi ID // highest id in the range
}

// contains reports whether Lo <= id <= Hi.
func (r idRange) contains(id ID) bool {
	return r.Lo.Compare(id) <= 0 && id.Compare(r.Hi) <= 0
}

// depth returns the number of leading bits shared by every id in the range
// (the common prefix length of Lo and Hi). A bucket range of 2^(160-d) ids
// produced by the table's halving has depth d.
func (r idRange) depth() int { return r.Lo.commonPrefixLen(r.Hi) }

// random returns a random id inside the range, as used to refresh a lonely
// bucket with a lookup.
func (r idRange) random() ID { return randomIDInRange(r.Lo, r.Hi) }

// String returns "[lo, hi]" in hex.
func (r idRange) String() string { return "[" + r.Lo.String() + ", " + r.Hi.String() + "]" }

// fullIDRange is the range of the initial bucket: every 160-bit id.
func fullIDRange() idRange {
	var hi ID
	for i := range hi {
		hi[i] = 0xff
	}
	return idRange{Hi: hi}
}

// tableEntry is one contact of a bucket (or of its replacement cache) and
// what the table knows of its liveness.
type tableEntry struct {
	c Contact
	// failures counts consecutive failed RPCs.
	failures int
	// verified: it has answered one of our RPCs at c.Addr (not merely sent
	// us requests); only verified contacts are handed out.
	verified bool
	// since is when it entered the table (or its address was last
	// settled); lastAnswered when it last answered one of our RPCs, and
	// answers how many times it has, at least verifyGrace apart (see
	// recheckAfter: a flurry of answers within a client's short life
	// counts once).
	since, lastAnswered time.Time
	answers             int
	// inbound: it entered the table by calling us (it may be a
	// short-lived client), not by answering us.
	inbound bool
}

// proven reports whether the contact may be handed out: it has answered
// one of our RPCs and not failed one since, and, if it entered the table
// by calling us, it has answered verifyGrace or more after it arrived (a
// short-lived client that has exited by then never is).
func (e *tableEntry) proven() bool {
	return e.verified && e.failures == 0 && (!e.inbound || e.lastAnswered.Sub(e.since) >= verifyGrace)
}

// answer records an answer at now: the entry is verified.
func (e *tableEntry) answer(now time.Time) {
	if e.answers == 0 || now.Sub(e.lastAnswered) >= verifyGrace {
		e.answers++
	}
	e.verified, e.lastAnswered = true, now
}

// kbucket is one k-bucket. The table's mutex guards it.
type kbucket struct {
	idRange
	// entries are the live contacts, least recently seen first (head) and
	// most recently seen last (tail).
	entries []tableEntry
	// replacements is the replacement cache: contacts that were seen while
	// the bucket was full, most recently seen last, unique by id.
	replacements []tableEntry
	// lastUpdated is the last time a contact in the range was seen or the
	// range was looked up (touch).
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
		if b.replacements[i].c.ID == id {
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
		e := b.replacements[n-1]
		b.replacements = b.replacements[:n-1]
		b.entries = append(b.entries, e)
	}
}

// displaceUnverified puts the verified newcomer e in the place of the
// least recently seen unverified entry, if there is one, which moves to
// the replacement cache. It reports whether it did.
func (b *kbucket) displaceUnverified(e tableEntry, limit int) bool {
	i := slices.IndexFunc(b.entries, func(x tableEntry) bool { return !x.verified })
	if i < 0 {
		return false
	}
	old := b.entries[i]
	b.entries = slices.Delete(b.entries, i, i+1)
	if b.pinging && b.pingID == old.c.ID {
		b.pinging = false
	}
	b.removeReplacement(e.c.ID)
	b.entries = append(b.entries, e)
	b.addReplacement(old, limit)
	return true
}

// addReplacement puts e at the most recent end of the replacement cache,
// dropping an older entry with the same id and, beyond limit entries, the
// least recently seen ones.
func (b *kbucket) addReplacement(e tableEntry, limit int) {
	if i := b.replacementIndex(e.c.ID); i >= 0 {
		b.replacements = slices.Delete(b.replacements, i, i+1)
	}
	b.replacements = append(b.replacements, e)
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
	one := &kbucket{idRange: idRange{Lo: b.Lo, Hi: mid}, lastUpdated: b.lastUpdated}
	two := &kbucket{idRange: idRange{Lo: idIncrement(mid), Hi: b.Hi}, lastUpdated: b.lastUpdated}
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
	for _, e := range b.replacements {
		h := pick(e.c.ID)
		h.replacements = append(h.replacements, e)
	}
	for _, h := range []*kbucket{one, two} {
		if free := k - len(h.entries); free > 0 && len(h.replacements) > 0 {
			n := min(free, len(h.replacements))
			h.entries = append(h.entries, h.replacements[len(h.replacements)-n:]...)
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
