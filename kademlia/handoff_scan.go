package kademlia

import (
	"sync"
	"time"
)

// The routing table's side of the hand-off rule (shouldHandOff): tests
// that answer from the table's buckets without sorting, so that a
// newcomer costs a node holding many keys little (issue 18, finding 3).

// depthSet tells, for each common prefix length p of a key with our id (0
// to 160), whether keys at that depth may be handed to a newcomer.
type depthSet [IDLen*8 + 1]bool

// handOffDepths returns the depths of the keys that the rule of
// shouldHandOff may hand to newcomer, and whether there is any. It is a
// necessary condition, from one pass over the buckets; shouldHandOff
// decides each key. Let p be the depth of a key (its common prefix length
// with our id) and q the newcomer's; count[j] the contacts other than the
// newcomer at depth j:
//
//   - a contact at depth p shares p+1 leading bits with the key, we only
//     p: it is closer to the key than we are, so no key at depth p is
//     ours to hand when count[p] > 0;
//   - for p > q, every contact deeper than q shares q+1 leading bits with
//     the key, the newcomer only q: they are all closer to it than the
//     newcomer; so is a contact c at depth q that first differs from the
//     newcomer at a bit j < p where c agrees with us (and so with the
//     key). K of those make the newcomer miss the K closest of the key.
//
// In a healthy table (K contacts at every depth down to our
// neighbourhood) a random newcomer is left no depth at all.
func (t *table) handOffDepths(newcomer Contact, k int) (ok *depthSet, some bool) {
	count, atQ := t.depthCounts(newcomer)
	q := newcomer.ID.commonPrefixLen(t.self)
	// closer counts the contacts closer than the newcomer to the keys of
	// depth p, for p > q: those deeper than q, then those at depth q that
	// first differ from the newcomer before p, toward us.
	closer := 0
	for _, c := range count[min(q+1, len(count)):] {
		closer += c
	}
	var toward [IDLen*8 + 1]int
	for _, id := range atQ {
		if j := id.commonPrefixLen(newcomer.ID); bitOf(id, j) == bitOf(t.self, j) {
			toward[j]++
		}
	}
	ok = new(depthSet)
	for p := range ok {
		if p > q {
			closer += toward[p-1]
		}
		ok[p] = count[p] == 0 && (p <= q || closer < k)
		some = some || ok[p]
	}
	return ok, some
}

// depthCounts returns how many contacts of the table, other than
// newcomer, share each common prefix length with our id, and the ids of
// those that share newcomer's.
func (t *table) depthCounts(newcomer Contact) (count [IDLen*8 + 1]int, atQ []ID) {
	q := newcomer.ID.commonPrefixLen(t.self)
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, b := range t.buckets {
		if len(b.entries) == 0 {
			continue
		}
		// A bucket that does not cover our id is an aligned block of ids
		// which all first differ from ours at the same bit.
		depth := -1
		if !b.contains(t.self) {
			depth = b.Lo.commonPrefixLen(t.self)
		}
		for _, e := range b.entries {
			if e.c.ID == newcomer.ID {
				continue
			}
			d := depth
			if d < 0 {
				d = e.c.ID.commonPrefixLen(t.self)
			}
			count[d]++
			if d == q {
				atQ = append(atQ, e.c.ID)
			}
		}
	}
	return count, atQ
}

// bitOf returns bit i of id (0 the most significant).
func bitOf(id ID, i int) byte { return id[i/8] >> (7 - i%8) & 1 }

// countCloser counts the contacts of the table (not of the replacement
// caches) other than id that are closer to target than id, stopping once
// it reaches limit. As hasCloser, it compares contacts one by one only in
// the bucket whose range covers id: every other bucket is an aligned
// block of ids which all first differ from id at one bit, so either all
// its contacts are closer to target than id (target agrees with the
// block at that bit) or none.
func (t *table) countCloser(target, id ID, limit int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, b := range t.buckets {
		if len(b.entries) == 0 {
			continue
		}
		if !b.contains(id) {
			if i := b.Lo.commonPrefixLen(id); bitOf(target, i) == bitOf(b.Lo, i) {
				n += len(b.entries)
			}
		} else {
			for _, e := range b.entries {
				if e.c.ID != id && closerTo(target, e.c.ID, id) {
					n++
				}
			}
		}
		if n >= limit {
			return n
		}
	}
	return n
}

// keyDepthsTTL is how long the depths of the held keys (keyDepths) are
// trusted before a pass over the keys finds them again.
const keyDepthsTTL = time.Minute

// keyDepths caches the depths (common prefix lengths with our id) at which
// the node holds keys, so that a newcomer left only depths without keys
// costs no pass over the storage. It is a superset of the truth: every put
// through the node (putChecked) adds its key's depth at once, and keys
// that expire or are deleted leave theirs until the next pass, at most
// keyDepthsTTL later; so do the keys put into the Storage directly, not
// through the node (they are handed off once that pass has seen them).
type keyDepths struct {
	mu    sync.Mutex
	set   depthSet
	built time.Time // zero: no pass yet
}

// noteKey records that key is held.
func (n *Node) noteKey(key ID) {
	d := &n.heldDepths
	d.mu.Lock()
	d.set[key.commonPrefixLen(n.id)] = true
	d.mu.Unlock()
}

// keysAtAny reports whether the node may hold keys at one of the depths
// want allows (true when the storage cannot tell).
func (n *Node) keysAtAny(want *depthSet) bool {
	d := &n.heldDepths
	d.mu.Lock()
	defer d.mu.Unlock()
	if now := n.cfg.Now(); d.built.IsZero() || now.Sub(d.built) >= keyDepthsTTL || now.Before(d.built) {
		var set depthSet
		_, err := n.heldKeys(func(key ID) bool {
			set[key.commonPrefixLen(n.id)] = true
			return false // keeps no key: nothing is allocated
		})
		if err != nil {
			return true
		}
		d.set, d.built = set, now
	}
	for p, ok := range want {
		if ok && d.set[p] {
			return true
		}
	}
	return false
}
