package kademlia

import "time"

// TableSnapshot is a copy of a node's routing table, taken by Node.Table:
// reading it never touches the live table.
type TableSnapshot struct {
	// Buckets are the k-buckets in id order; their ranges are disjoint and
	// together cover the whole id space.
	Buckets []Bucket
}

// Bucket is one k-bucket of a TableSnapshot.
type Bucket struct {
	// Lo and Hi bound the inclusive range of ids the bucket covers; Depth
	// is the length of the id prefix it covers (0 for the whole space).
	Lo, Hi ID
	Depth  int
	// Contacts are the bucket's contacts, least recently seen first.
	Contacts []Contact
	// Replacements counts the contacts waiting in the bucket's
	// replacement cache for a place in it.
	Replacements int
	// LastUpdated is the last time a contact in the range was seen or the
	// range was looked up.
	LastUpdated time.Time
}

// len returns the number of contacts in the buckets.
func (s TableSnapshot) len() int {
	n := 0
	for _, b := range s.Buckets {
		n += len(b.Contacts)
	}
	return n
}

// Contacts returns every contact, in bucket order and, within a bucket,
// least recently seen first.
func (s TableSnapshot) Contacts() []Contact {
	var out []Contact
	for _, b := range s.Buckets {
		out = append(out, b.Contacts...)
	}
	return out
}

// snapshot copies the table.
func (t *table) snapshot() TableSnapshot {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := TableSnapshot{Buckets: make([]Bucket, len(t.buckets))}
	for i, b := range t.buckets {
		cs := make([]Contact, len(b.entries))
		for j, e := range b.entries {
			cs[j] = e.c
		}
		s.Buckets[i] = Bucket{Lo: b.Lo, Hi: b.Hi, Depth: b.Lo.commonPrefixLen(b.Hi), Contacts: cs, Replacements: len(b.replacements), LastUpdated: b.lastUpdated}
	}
	return s
}
