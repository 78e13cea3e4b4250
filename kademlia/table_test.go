package kademlia

import (
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"net/netip"
	"slices"
	"testing"
)

func newRTTable(self ID, cfg tableConfig) (*table, *fakeClock) {
	clk := newFakeClock()
	cfg.Now = clk.Now
	return newTable(self, cfg), clk
}

// rtContact makes a contact for id with an address derived from its last
// bytes.
func rtContact(id ID) Contact {
	a := netip.AddrFrom4([4]byte{10, id[17], id[18], id[19]})
	return Contact{ID: id, Addr: netip.AddrPortFrom(a, 1000+uint16(id[16]))}
}

// farID returns distinct ids whose first byte is 0x80: with self = 0 they
// all land, with B = 5, in the bucket [0x80…, 0x87ff…], which does not hold
// self and has depth 5, so it can never be split.
func farID(i int) ID {
	id := ID{0x80}
	id[IDLen-2] = byte(i >> 8)
	id[IDLen-1] = byte(i)
	return id
}

func farContacts(n int) []Contact {
	cs := make([]Contact, n)
	for i := range cs {
		cs[i] = rtContact(farID(i + 1))
	}
	return cs
}

// bucketIDs returns the ids of the contacts and replacements of the bucket
// covering id.
func bucketIDs(tab *table, id ID) (entries, repl []ID) {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	b := tab.bucketFor(id)
	for _, e := range b.entries {
		entries = append(entries, e.c.ID)
	}
	for _, e := range b.replacements {
		repl = append(repl, e.c.ID)
	}
	return entries, repl
}

func contactIDs(cs []Contact) []ID {
	ids := make([]ID, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return ids
}

func failuresOf(tab *table, id ID) int {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	b := tab.bucketFor(id)
	if j := b.indexOf(id); j >= 0 {
		return b.entries[j].failures
	}
	return -1
}

// checkTable verifies the structural invariants of tab.
func checkTable(t testing.TB, tab *table) {
	t.Helper()
	tab.mu.Lock()
	defer tab.mu.Unlock()
	if len(tab.buckets) == 0 {
		t.Fatal("no buckets")
	}
	if !tab.buckets[0].Lo.IsZero() {
		t.Fatalf("first bucket starts at %s", tab.buckets[0].Lo)
	}
	if last := tab.buckets[len(tab.buckets)-1].Hi; last != fullIDRange().Hi {
		t.Fatalf("last bucket ends at %s", last)
	}
	seen := map[ID]bool{}
	one := big.NewInt(1)
	for i, b := range tab.buckets {
		if i > 0 && b.Lo != idIncrement(tab.buckets[i-1].Hi) {
			t.Fatalf("bucket %d %s does not follow %s", i, b.idRange, tab.buckets[i-1].idRange)
		}
		// Aligned block of 2^(160-depth) ids.
		size := new(big.Int).Sub(idInt(b.Hi), idInt(b.Lo))
		size.Add(size, one)
		if want := new(big.Int).Lsh(one, uint(idBits-b.depth())); size.Cmp(want) != 0 {
			t.Fatalf("bucket %d %s: size %v, want 2^(160-%d)", i, b.idRange, size, b.depth())
		}
		if new(big.Int).Mod(idInt(b.Lo), size).Sign() != 0 {
			t.Fatalf("bucket %d %s is not aligned", i, b.idRange)
		}
		if len(b.entries) > tab.cfg.K {
			t.Fatalf("bucket %d holds %d > K contacts", i, len(b.entries))
		}
		if len(b.replacements) > tab.cfg.K*tab.cfg.ReplacementFactor {
			t.Fatalf("bucket %d holds %d replacements", i, len(b.replacements))
		}
		if len(b.replacements) > 0 && len(b.entries) < tab.cfg.K {
			t.Fatalf("bucket %d has replacements but only %d contacts", i, len(b.entries))
		}
		for _, e := range b.entries {
			if !b.contains(e.c.ID) || seen[e.c.ID] || e.c.ID == tab.self {
				t.Fatalf("bad contact %s in bucket %d %s", e.c, i, b.idRange)
			}
			seen[e.c.ID] = true
		}
		for _, e := range b.replacements {
			if !b.contains(e.c.ID) || seen[e.c.ID] || e.c.ID == tab.self {
				t.Fatalf("bad replacement %s in bucket %d %s", e.c, i, b.idRange)
			}
			seen[e.c.ID] = true
		}
		if b.pinging && (len(b.entries) == 0 || b.entries[0].c.ID != b.pingID) {
			t.Fatalf("bucket %d pings %s which is not its head", i, b.pingID)
		}
	}
}

// TestTableAddContact ports Python's TestRoutingTable.test_add_contact.
func TestTableAddContact(t *testing.T) {
	tab, _ := newRTTable(RandomID(), tableConfig{})
	if head := tab.addFound(rtContact(RandomID())); head != nil {
		t.Fatalf("Seen returned %v", head)
	}
	if tab.numBuckets() != 1 || tab.len() != 1 || len(tab.contacts()) != 1 {
		t.Fatalf("buckets %d len %d", tab.numBuckets(), tab.len())
	}
	checkTable(t, tab)
}

func TestTableSeenIgnoresSelf(t *testing.T) {
	self := RandomID()
	tab, _ := newRTTable(self, tableConfig{})
	if head := tab.addFound(rtContact(self)); head != nil || tab.len() != 0 || !tab.isNew(self) {
		t.Fatalf("own id was added")
	}
}

// TestTableAddNode ports Python's test_add_node: a full bucket keeps K
// contacts, newcomers go to the replacement cache, and a contact seen again
// moves to the tail.
func TestTableAddNode(t *testing.T) {
	const k = 10
	tab, _ := newRTTable(ID{}, tableConfig{K: k})
	cs := farContacts(2 * k)
	for _, c := range cs {
		tab.addFound(c)
	}
	checkTable(t, tab)
	if tab.len() != k {
		t.Fatalf("Len = %d, want %d", tab.len(), k)
	}
	entries, repl := bucketIDs(tab, cs[0].ID)
	if !slices.Equal(entries, contactIDs(cs[:k])) || !slices.Equal(repl, contactIDs(cs[k:])) {
		t.Fatalf("entries %v repl %v", entries, repl)
	}
	// Seen again: to the tail, in order.
	tab.addFound(cs[0])
	tab.addFound(cs[3])
	entries, _ = bucketIDs(tab, cs[0].ID)
	want := append(contactIDs(cs[1:3]), contactIDs(cs[4:k])...)
	want = append(want, cs[0].ID, cs[3].ID)
	if !slices.Equal(entries, want) {
		t.Fatalf("after re-seeing: %v, want %v", entries, want)
	}
	// A replacement seen again moves to the most recent end, no duplicate.
	tab.addFound(cs[k])
	_, repl = bucketIDs(tab, cs[0].ID)
	if want := append(contactIDs(cs[k+1:]), cs[k].ID); !slices.Equal(repl, want) {
		t.Fatalf("replacements %v, want %v", repl, want)
	}
	checkTable(t, tab)
}

// TestTableSeenKeepsAddressMoveChangesIt: a known id seen from another
// address changes nothing (issue 9, finding 3: a datagram proves no
// id); move, which the routing layer calls once the old address has
// failed and the new one has proved the id, changes the address and
// resets the failures.
func TestTableSeenKeepsAddressMoveChangesIt(t *testing.T) {
	tab, _ := newRTTable(ID{}, tableConfig{})
	c := rtContact(farID(1))
	tab.addFound(c)
	tab.addFound(rtContact(farID(2)))
	tab.failed(c.ID)
	tab.failed(c.ID)
	if n := failuresOf(tab, c.ID); n != 2 {
		t.Fatalf("failures = %d", n)
	}
	moved := c
	moved.Addr = netip.MustParseAddrPort("192.0.2.7:4000")
	for _, add := range []func(Contact) *Contact{tab.addFound, tab.addInbound} {
		add(moved)
		if got, _ := tab.contains(c.ID); got.Addr != c.Addr {
			t.Fatalf("seen from another address moved the contact to %v", got.Addr)
		}
		if n := failuresOf(tab, c.ID); n != 2 {
			t.Fatalf("failures after a datagram from another address = %d", n)
		}
	}
	if tab.failedAt(moved) || failuresOf(tab, c.ID) != 2 {
		t.Fatal("a failure at another address counted against the contact")
	}
	if !tab.move(moved) {
		t.Fatal("move failed")
	}
	got, ok := tab.contains(c.ID)
	if !ok || got.Addr != moved.Addr {
		t.Fatalf("Contains = %v %v, want new address", got, ok)
	}
	if n := failuresOf(tab, c.ID); n != 0 {
		t.Fatalf("failures after move = %d", n)
	}
	if cs := tab.contacts(); cs[len(cs)-1].ID != c.ID {
		t.Fatalf("not moved to tail: %v", cs)
	}
}

// TestTableRemoveNode ports Python's test_remove_node.
func TestTableRemoveNode(t *testing.T) {
	const k = 3
	tab, _ := newRTTable(ID{}, tableConfig{K: k})
	nodes := farContacts(10)
	for _, c := range nodes {
		tab.addFound(c)
	}
	probe := nodes[0].ID
	expect := func(entries, repl []Contact) {
		t.Helper()
		e, r := bucketIDs(tab, probe)
		if !slices.Equal(e, contactIDs(entries)) {
			t.Fatalf("entries %v, want %v", e, contactIDs(entries))
		}
		if !slices.Equal(r, contactIDs(repl)) {
			t.Fatalf("replacements %v, want %v", r, contactIDs(repl))
		}
		checkTable(t, tab)
	}
	expect(nodes[:k], nodes[k:])

	// Removing a replacement only drops it from the cache.
	last := nodes[len(nodes)-1]
	nodes = nodes[:len(nodes)-1]
	if !tab.remove(last.ID) {
		t.Fatal("Remove(replacement) = false")
	}
	expect(nodes[:k], nodes[k:])

	// Removing a contact promotes the most recent replacement.
	first := nodes[0]
	nodes = nodes[1:]
	if !tab.remove(first.ID) {
		t.Fatal("Remove(contact) = false")
	}
	expect(append(slices.Clone(nodes[:k-1]), nodes[len(nodes)-1]), nodes[k-1:len(nodes)-1])

	r := mrand.New(mrand.NewPCG(5, 6))
	r.Shuffle(len(nodes), func(i, j int) { nodes[i], nodes[j] = nodes[j], nodes[i] })
	for _, c := range nodes {
		if !tab.remove(c.ID) {
			t.Fatalf("Remove(%s) = false", c)
		}
	}
	expect(nil, nil)
	if tab.len() != 0 || tab.remove(first.ID) {
		t.Fatal("table not empty, or Remove of unknown id reported true")
	}
}

// TestTableReplacementFactor ports Python's test_replacement_factor.
func TestTableReplacementFactor(t *testing.T) {
	const k, factor = 3, 2
	tab, _ := newRTTable(ID{}, tableConfig{K: k, ReplacementFactor: factor})
	nodes := farContacts(10)
	for _, c := range nodes {
		tab.addFound(c)
	}
	_, repl := bucketIDs(tab, nodes[0].ID)
	if len(repl) != k*factor || !slices.Equal(repl, contactIDs(nodes[k+1:])) {
		t.Fatalf("replacements %v, want %v", repl, contactIDs(nodes[k+1:]))
	}
	if slices.Contains(repl, nodes[k].ID) {
		t.Fatal("oldest replacement not dropped")
	}
}

// TestTableSplitRule checks the section 4.2 rule: the bucket holding our id
// always splits; others split while their depth is not a multiple of B.
func TestTableSplitRule(t *testing.T) {
	hexRange := func(lo, hi byte) idRange {
		r := idRange{Lo: ID{lo}}
		r.Hi[0] = hi
		for i := 1; i < IDLen; i++ {
			r.Hi[i] = 0xff
		}
		return r
	}
	tests := []struct {
		b    int
		want []idRange
	}{
		{1, []idRange{hexRange(0x00, 0x7f), hexRange(0x80, 0xff)}},
		{2, []idRange{hexRange(0x00, 0x7f), hexRange(0x80, 0xbf), hexRange(0xc0, 0xff)}},
		{3, []idRange{hexRange(0x00, 0x7f), hexRange(0x80, 0x9f), hexRange(0xa0, 0xbf), hexRange(0xc0, 0xff)}},
		{5, []idRange{
			hexRange(0x00, 0x7f), hexRange(0x80, 0x87), hexRange(0x88, 0x8f),
			hexRange(0x90, 0x9f), hexRange(0xa0, 0xbf), hexRange(0xc0, 0xff),
		}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("B=%d", tt.b), func(t *testing.T) {
			const k = 4
			tab, _ := newRTTable(ID{}, tableConfig{K: k, B: tt.b})
			cs := farContacts(k + 1)
			var heads []*Contact
			for _, c := range cs {
				heads = append(heads, tab.addFound(c))
			}
			checkTable(t, tab)
			if got := tab.ranges(); !slices.Equal(got, tt.want) {
				t.Fatalf("ranges %v, want %v", got, tt.want)
			}
			if tab.numBuckets() != len(tt.want) {
				t.Fatalf("Buckets() = %d", tab.numBuckets())
			}
			// The last newcomer found the far bucket full and unsplittable.
			if h := heads[k]; h == nil || h.ID != cs[0].ID {
				t.Fatalf("head to ping = %v, want %s", h, cs[0])
			}
			if tab.len() != k {
				t.Fatalf("Len = %d", tab.len())
			}
		})
	}
	t.Run("own bucket always splits", func(t *testing.T) {
		self := ID{}
		tab, _ := newRTTable(self, tableConfig{K: 2, B: 5})
		near := []ID{idFromUint64(1), idFromUint64(2), idFromUint64(3), idFromUint64(4), {0x00, 0x01}}
		for _, id := range near {
			if h := tab.addFound(rtContact(id)); h != nil {
				t.Fatalf("Seen(%s) asked to ping %s", id, h)
			}
		}
		checkTable(t, tab)
		for _, id := range near {
			if tab.isNew(id) {
				t.Fatalf("%s not in the table", id)
			}
		}
	})
}

// TestTableFailureCounting checks that a contact survives MaxFailures-1
// consecutive failures, that an answer resets the count, and that the
// MaxFailures-th failure removes it and promotes a replacement.
func TestTableFailureCounting(t *testing.T) {
	for _, maxF := range []int{0, 1, 3, 5} {
		want := maxF
		if want == 0 {
			want = defaultMaxFailures
		}
		t.Run(fmt.Sprintf("MaxFailures=%d", maxF), func(t *testing.T) {
			const k = 3
			tab, _ := newRTTable(ID{}, tableConfig{K: k, MaxFailures: maxF})
			cs := farContacts(k + 1) // one replacement
			for _, c := range cs {
				tab.addFound(c)
			}
			victim := cs[1]
			for i := 1; i < want; i++ {
				if tab.failed(victim.ID) {
					t.Fatalf("removed after %d failures", i)
				}
				if got := failuresOf(tab, victim.ID); got != i {
					t.Fatalf("failures = %d, want %d", got, i)
				}
			}
			if want > 1 {
				tab.addFound(victim) // answered: count reset
				if got := failuresOf(tab, victim.ID); got != 0 {
					t.Fatalf("failures after Seen = %d", got)
				}
				for i := 1; i < want; i++ {
					if tab.failed(victim.ID) {
						t.Fatalf("removed after reset and %d failures", i)
					}
				}
			}
			if !tab.failed(victim.ID) {
				t.Fatalf("not removed after %d failures", want)
			}
			if !tab.isNew(victim.ID) {
				t.Fatal("victim still in the table")
			}
			if tab.isNew(cs[k].ID) || tab.len() != k {
				t.Fatalf("replacement not promoted (len %d)", tab.len())
			}
			if tab.failed(victim.ID) {
				t.Fatal("Failed of an unknown id reported a removal")
			}
			checkTable(t, tab)
		})
	}
}

func TestTableIsNewAndContains(t *testing.T) {
	tab, _ := newRTTable(ID{}, tableConfig{K: 2})
	cs := farContacts(3)
	for _, c := range cs {
		tab.addFound(c)
	}
	tests := []struct {
		name   string
		id     ID
		isNew  bool
		exists bool
	}{
		{"contact", cs[0].ID, false, true},
		{"contact 2", cs[1].ID, false, true},
		{"replacement only", cs[2].ID, true, false},
		{"unknown", farID(77), true, false},
		{"self", ID{}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tab.isNew(tt.id); got != tt.isNew {
				t.Errorf("IsNew = %v", got)
			}
			c, ok := tab.contains(tt.id)
			if ok != tt.exists || (ok && c.ID != tt.id) {
				t.Errorf("Contains = %v, %v", c, ok)
			}
		})
	}
}

// TestTableTraversalOrder ports Python's test_iteration of TableTraverser
// with the true XOR order: ids 0..9, target 4.
func TestTableTraversalOrder(t *testing.T) {
	tab, _ := newRTTable(idFromUint64(10), tableConfig{K: 2})
	var cs []Contact
	for i := range uint64(10) {
		c := rtContact(idFromUint64(i))
		cs = append(cs, c)
		tab.addFound(c)
	}
	checkTable(t, tab)
	if tab.len() != 10 {
		t.Fatalf("Len = %d", tab.len())
	}
	want := []Contact{cs[4], cs[5], cs[6], cs[7], cs[0], cs[1], cs[2], cs[3], cs[8], cs[9]}
	if got := tab.closest(cs[4].ID, 10, nil); !slices.Equal(got, want) {
		t.Fatalf("Closest = %v, want %v", contactIDs(got), contactIDs(want))
	}
	if got := tab.closest(cs[4].ID, 3, func(c Contact) bool { return c.ID == cs[4].ID }); !slices.Equal(got, want[1:4]) {
		t.Fatalf("Closest excluding target = %v", contactIDs(got))
	}
	if got := tab.closest(cs[4].ID, 0, nil); got != nil {
		t.Fatalf("Closest(n=0) = %v", got)
	}
}

// bruteClosest sorts every contact by distance to target.
