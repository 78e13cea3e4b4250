package kademlia

import "time"

// TableSnapshot is a copy of a node's routing table (Node.Table).
type TableSnapshot struct {
	// Buckets are the k-buckets in id order, covering the id space.
	Buckets []Bucket
}

// Bucket is one k-bucket of a TableSnapshot.
type Bucket struct {
	// Lo and Hi bound its ids (inclusive), Depth is its prefix length;
	// Contacts are least recently seen first; Replacements counts its
	// replacement cache; LastUpdated is when its range was last touched.
	Lo, Hi       ID
	Depth        int
	Contacts     []Contact
	Replacements int
	LastUpdated  time.Time
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
