package kademlia

import "slices"

// More of the table's mutators: making room for a close neighbour, moving
// a contact to a proven new address, and the buckets a join refreshes.

// displaceForNeighbour puts the verified newcomer e, if it is among the K
// contacts closest to our own id, in the place of the contact of the full
// bucket b farthest from our id, if that one is not among them: a
// bucket next to ours that cannot split must still hold our closest
// neighbours (with a small K they are easily crowded out by the first
// farther contacts met). The displaced contact goes to the replacement
// cache. The caller holds t.mu.
func (t *table) displaceForNeighbour(b *kbucket, e tableEntry) bool {
	far := 0
	for i := range b.entries {
		if closerTo(t.self, b.entries[far].c.ID, b.entries[i].c.ID) {
			far = i
		}
	}
	if !closerTo(t.self, e.c.ID, b.entries[far].c.ID) || t.closerToSelf(e.c.ID, t.cfg.K) >= t.cfg.K {
		return false
	}
	old := b.entries[far]
	b.entries = slices.Delete(b.entries, far, far+1)
	if b.pinging && b.pingID == old.c.ID {
		b.pinging = false
	}
	b.removeReplacement(e.c.ID)
	b.entries = append(b.entries, e)
	b.addReplacement(old, t.maxReplacements())
	return true
}

// closerToSelf counts the contacts closer to our own id than id, up to
// limit. The caller holds t.mu.
func (t *table) closerToSelf(id ID, limit int) int {
	n := 0
	for _, b := range t.buckets {
		for _, e := range b.entries {
			if closerTo(t.self, e.c.ID, id) {
				if n++; n >= limit {
					return n
				}
			}
		}
	}
	return n
}

// move gives the contact with c's id the address c.Addr, verified: the
// caller has seen the old address fail and the new one answer a ping with
// the id. It reports whether the contact was in a bucket and moved (the
// IP limits apply to the new address).
func (t *table) move(c Contact) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.bucketFor(c.ID)
	j := b.indexOf(c.ID)
	if j < 0 || !t.ipAllowed(b, c, c.ID) {
		return false
	}
	now := t.cfg.Now()
	e := &b.entries[j]
	e.c.Addr, e.failures, e.verified, e.lastAnswered, e.answers = c.Addr, 0, true, now, 1
	b.moveToTail(j)
	b.lastUpdated = now
	return true
}

// sparse returns the ranges of the buckets with fewer than below
// contacts that keep accepts.
func (t *table) sparse(below int, keep func(idRange) bool) []idRange {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []idRange
	for _, b := range t.buckets {
		if len(b.entries) < below && keep(b.idRange) {
			out = append(out, b.idRange)
		}
	}
	return out
}
