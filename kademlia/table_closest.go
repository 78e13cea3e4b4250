package kademlia

import (
	"slices"
	"time"
)

// closest returns the n contacts of the table (not of the replacement
// caches) closest to target in XOR distance, closest first, skipping those
// for which exclude returns true (nil excludes none). The target itself is
// returned if it is in the table; exclude it explicitly if needed. exclude
// is called with the table locked and must not call the table.
//
// The result is exactly that of sorting every contact by distance: because
// every bucket covers an aligned block of ids (a common prefix), the
// distances of its contacts form one interval, disjoint from every other
// bucket's, so buckets are visited by increasing interval and only as many
// as needed.
func (t *table) closest(target ID, n int, exclude func(Contact) bool) []Contact {
	return t.closestFiltered(target, n, exclude, nil)
}

// closestAnswering is closest with only the proven contacts (see
// tableEntry.proven): the contacts a lookup should ask and a find_node
// answer should name.
func (t *table) closestAnswering(target ID, n int, exclude func(Contact) bool) []Contact {
	return t.closestFiltered(target, n, exclude, (*tableEntry).proven)
}

// closestRecent is closestAnswering restricted to the contacts that
// answered one of our RPCs within the last d: good addresses to bootstrap
// from next time.
func (t *table) closestRecent(target ID, n int, d time.Duration) []Contact {
	cutoff := t.cfg.Now().Add(-d)
	return t.closestFiltered(target, n, nil, func(e *tableEntry) bool {
		return e.proven() && !e.lastAnswered.Before(cutoff)
	})
}

// suspect reports whether id is in a bucket and its last RPC failed: it
// has failed at least once since it last answered or called us.
func (t *table) suspect(id ID) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.bucketFor(id)
	j := b.indexOf(id)
	return j >= 0 && b.entries[j].failures > 0
}

// suspectAt is suspect for the contact c as the table holds it: false if
// the table knows c's id at another address.
func (t *table) suspectAt(c Contact) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.bucketFor(c.ID)
	j := b.indexOf(c.ID)
	return j >= 0 && b.entries[j].c.Addr == c.Addr && b.entries[j].failures > 0
}

// closestFiltered is closest over the entries keep accepts (nil: all).
func (t *table) closestFiltered(target ID, n int, exclude func(Contact) bool, keep func(*tableEntry) bool) []Contact {
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
		order = append(order, keyed{key: prefixMask(b.Lo.xor(target), b.depth()), b: b})
	}
	slices.SortFunc(order, func(x, y keyed) int { return x.key.Compare(y.key) })
	out := make([]Contact, 0, min(n, t.cfg.K))
	for _, o := range order {
		if len(out) >= n {
			break
		}
		start := len(out)
		for i := range o.b.entries {
			e := &o.b.entries[i]
			if (exclude == nil || !exclude(e.c)) && (keep == nil || keep(e)) {
				out = append(out, e.c)
			}
		}
		slices.SortFunc(out[start:], func(x, y Contact) int { return cmpDistance(target, x.ID, y.ID) })
	}
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// hasCloser reports whether a contact of the table (not of the
// replacement caches), other than those exclude accepts (nil: none), is
// closer to target than our own id: closest(target, 1, exclude) compared
// with our id, without sorting or allocating. exclude is called with the
// table locked and must not call the table.
//
// A bucket that does not cover our id covers an aligned block of ids
// which all first differ from ours at the same bit i (the common prefix
// length of the block and our id); such an id is closer to target than
// ours exactly when target differs from our id at bit i too. So only the
// contacts of the bucket covering our id are compared one by one.
func (t *table) hasCloser(target ID, exclude func(Contact) bool) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	bit := func(id ID, i int) byte { return id[i/8] >> (7 - i%8) & 1 }
	for _, b := range t.buckets {
		if len(b.entries) == 0 {
			continue
		}
		if !b.contains(t.self) {
			if i := b.Lo.commonPrefixLen(t.self); bit(target, i) == bit(t.self, i) {
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
			if closerTo(target, e.c.ID, t.self) && (exclude == nil || !exclude(e.c)) {
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
