package kademlia

import (
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"
)

// newRTTable returns a table with a fake clock.
func newRTTable(self ID, cfg TableConfig) (*Table, *fakeClock) {
	clk := newFakeClock()
	cfg.Now = clk.Now
	return NewTable(self, cfg), clk
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
func bucketIDs(tab *Table, id ID) (entries, repl []ID) {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	b := tab.bucketFor(id)
	for _, e := range b.entries {
		entries = append(entries, e.c.ID)
	}
	for _, c := range b.replacements {
		repl = append(repl, c.ID)
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

func failuresOf(tab *Table, id ID) int {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	b := tab.bucketFor(id)
	if j := b.indexOf(id); j >= 0 {
		return b.entries[j].failures
	}
	return -1
}

// checkTable verifies the structural invariants of tab.
func checkTable(t testing.TB, tab *Table) {
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
			t.Fatalf("bucket %d %s does not follow %s", i, b.Range, tab.buckets[i-1].Range)
		}
		// Aligned block of 2^(160-depth) ids.
		size := new(big.Int).Sub(idInt(b.Hi), idInt(b.Lo))
		size.Add(size, one)
		if want := new(big.Int).Lsh(one, uint(IDBits-b.Depth())); size.Cmp(want) != 0 {
			t.Fatalf("bucket %d %s: size %v, want 2^(160-%d)", i, b.Range, size, b.Depth())
		}
		if new(big.Int).Mod(idInt(b.Lo), size).Sign() != 0 {
			t.Fatalf("bucket %d %s is not aligned", i, b.Range)
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
			if !b.Contains(e.c.ID) || seen[e.c.ID] || e.c.ID == tab.self {
				t.Fatalf("bad contact %s in bucket %d %s", e.c, i, b.Range)
			}
			seen[e.c.ID] = true
		}
		for _, c := range b.replacements {
			if !b.Contains(c.ID) || seen[c.ID] || c.ID == tab.self {
				t.Fatalf("bad replacement %s in bucket %d %s", c, i, b.Range)
			}
			seen[c.ID] = true
		}
		if b.pinging && (len(b.entries) == 0 || b.entries[0].c.ID != b.pingID) {
			t.Fatalf("bucket %d pings %s which is not its head", i, b.pingID)
		}
	}
}

func TestTableConfigDefaults(t *testing.T) {
	cfg := NewTable(ID{}, TableConfig{}).Config()
	if cfg.K != 20 || cfg.B != 5 || cfg.MaxFailures != 5 || cfg.ReplacementFactor != 5 ||
		cfg.PendingTimeout != time.Minute || cfg.Now == nil {
		t.Fatalf("defaults = %+v", cfg)
	}
	cfg = NewTable(ID{}, TableConfig{K: 8, B: 1, MaxFailures: 2, ReplacementFactor: 3}).Config()
	if cfg.K != 8 || cfg.B != 1 || cfg.MaxFailures != 2 || cfg.ReplacementFactor != 3 {
		t.Fatalf("explicit config = %+v", cfg)
	}
}

func TestTableIDMidpoint(t *testing.T) {
	top := fullIDRange().Hi
	tests := []struct {
		name       string
		lo, hi, mi ID
	}{
		{"python [0,10]", idFromUint64(0), idFromUint64(10), idFromUint64(5)},
		{"full", ID{}, top, idFromHex(t, "7fffffffffffffffffffffffffffffffffffffff")},
		{"upper half", ID{0x80}, top, idFromHex(t, "bfffffffffffffffffffffffffffffffffffffff")},
		{"carry", idFromUint64(0xff), idFromUint64(0x101), idFromUint64(0x100)},
		{"pair", idFromUint64(6), idFromUint64(7), idFromUint64(6)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := idMidpoint(tt.lo, tt.hi); got != tt.mi {
				t.Fatalf("midpoint = %s, want %s", got, tt.mi)
			}
		})
	}
	if idIncrement(idFromUint64(0xff)) != idFromUint64(0x100) {
		t.Fatal("increment carry")
	}
}

// TestTableRangeContains ports Python's test_in_range.
func TestTableRangeContains(t *testing.T) {
	r := Range{Lo: idFromUint64(0), Hi: idFromUint64(10)}
	for _, tt := range []struct {
		x    uint64
		want bool
	}{{5, true}, {11, false}, {10, true}, {0, true}} {
		if got := r.Contains(idFromUint64(tt.x)); got != tt.want {
			t.Errorf("Contains(%d) = %v, want %v", tt.x, got, tt.want)
		}
	}
	if d := fullIDRange().Depth(); d != 0 {
		t.Errorf("full range depth %d", d)
	}
	if d := (Range{Lo: ID{0x80}, Hi: idFromHex(t, "87ffffffffffffffffffffffffffffffffffffff")}).Depth(); d != 5 {
		t.Errorf("[80,87ff..] depth %d", d)
	}
	for range 50 {
		if id := r.Random(); !r.Contains(id) {
			t.Fatalf("Random() %s outside %s", id, r)
		}
	}
}

// TestTableBucketSplit ports Python's test_split and test_split_no_overlap
// and checks how contacts, replacements and a pending ping are
// redistributed.
func TestTableBucketSplit(t *testing.T) {
	t.Run("python [0,10]", func(t *testing.T) {
		b := &kbucket{Range: Range{Lo: idFromUint64(0), Hi: idFromUint64(10)}}
		b.entries = []tableEntry{{c: rtContact(idFromUint64(5))}, {c: rtContact(idFromUint64(6))}}
		one, two := b.split(5, 25)
		if len(one.entries) != 1 || one.Range != (Range{idFromUint64(0), idFromUint64(5)}) {
			t.Errorf("one = %s with %d", one.Range, len(one.entries))
		}
		if len(two.entries) != 1 || two.Range != (Range{idFromUint64(6), idFromUint64(10)}) {
			t.Errorf("two = %s with %d", two.Range, len(two.entries))
		}
	})
	t.Run("no overlap", func(t *testing.T) {
		b := &kbucket{Range: fullIDRange()}
		left, right := b.split(20, 100)
		if idIncrement(left.Hi) != right.Lo {
			t.Fatalf("gap or overlap: %s %s", left.Range, right.Range)
		}
		if left.Lo != (ID{}) || right.Lo != (ID{0x80}) || right.Hi != fullIDRange().Hi {
			t.Fatalf("halves %s %s", left.Range, right.Range)
		}
		if left.Depth() != 1 || right.Depth() != 1 {
			t.Fatalf("depths %d %d", left.Depth(), right.Depth())
		}
	})
	t.Run("redistribute", func(t *testing.T) {
		then := time.Unix(1000, 0)
		lo := []ID{{0x01}, {0x7f}, {0x02}}
		hi := []ID{{0x81}, {0xff}}
		b := &kbucket{Range: fullIDRange(), lastUpdated: then}
		// Interleave so that order preservation is visible.
		for i, id := range []ID{lo[0], hi[0], lo[1], hi[1], lo[2]} {
			b.entries = append(b.entries, tableEntry{c: rtContact(id), failures: i})
		}
		b.pinging, b.pingID, b.pingSince = true, lo[0], then
		// Replacements: three for the high half (room for 1), one low.
		b.replacements = []Contact{rtContact(ID{0x90}), rtContact(ID{0x10}), rtContact(ID{0xa0}), rtContact(ID{0xb0})}
		one, two := b.split(3, 15)
		if got, want := ids(one.entries), []ID{lo[0], lo[1], lo[2]}; !slices.Equal(got, want) {
			t.Errorf("low half %v, want %v", got, want)
		}
		if got, want := ids(two.entries), []ID{hi[0], hi[1], {0xb0}}; !slices.Equal(got, want) {
			t.Errorf("high half %v, want %v (most recent replacement promoted)", got, want)
		}
		if got, want := contactIDs(one.replacements), []ID{{0x10}}; !slices.Equal(got, want) {
			t.Errorf("low replacements %v, want %v", got, want)
		}
		if got, want := contactIDs(two.replacements), []ID{{0x90}, {0xa0}}; !slices.Equal(got, want) {
			t.Errorf("high replacements %v, want %v", got, want)
		}
		if one.entries[1].failures != 2 || two.entries[1].failures != 3 {
			t.Errorf("failure counts not carried: %d %d", one.entries[1].failures, two.entries[1].failures)
		}
		if !one.pinging || one.pingID != lo[0] || two.pinging {
			t.Errorf("pending ping not carried to the low half only")
		}
		if !one.lastUpdated.Equal(then) || !two.lastUpdated.Equal(then) {
			t.Errorf("lastUpdated not inherited")
		}
	})
}

func ids(es []tableEntry) []ID {
	out := make([]ID, len(es))
	for i, e := range es {
		out[i] = e.c.ID
	}
	return out
}

// TestTableAddContact ports Python's TestRoutingTable.test_add_contact.
func TestTableAddContact(t *testing.T) {
	tab, _ := newRTTable(RandomID(), TableConfig{})
	if head := tab.Seen(rtContact(RandomID())); head != nil {
		t.Fatalf("Seen returned %v", head)
	}
	if tab.Buckets() != 1 || tab.Len() != 1 || len(tab.Contacts()) != 1 {
		t.Fatalf("buckets %d len %d", tab.Buckets(), tab.Len())
	}
	checkTable(t, tab)
}

func TestTableSeenIgnoresSelf(t *testing.T) {
	self := RandomID()
	tab, _ := newRTTable(self, TableConfig{})
	if head := tab.Seen(rtContact(self)); head != nil || tab.Len() != 0 || !tab.IsNew(self) {
		t.Fatalf("own id was added")
	}
}

// TestTableAddNode ports Python's test_add_node: a full bucket keeps K
// contacts, newcomers go to the replacement cache, and a contact seen again
// moves to the tail.
func TestTableAddNode(t *testing.T) {
	const k = 10
	tab, _ := newRTTable(ID{}, TableConfig{K: k})
	cs := farContacts(2 * k)
	for _, c := range cs {
		tab.Seen(c)
	}
	checkTable(t, tab)
	if tab.Len() != k {
		t.Fatalf("Len = %d, want %d", tab.Len(), k)
	}
	entries, repl := bucketIDs(tab, cs[0].ID)
	if !slices.Equal(entries, contactIDs(cs[:k])) || !slices.Equal(repl, contactIDs(cs[k:])) {
		t.Fatalf("entries %v repl %v", entries, repl)
	}
	// Seen again: to the tail, in order.
	tab.Seen(cs[0])
	tab.Seen(cs[3])
	entries, _ = bucketIDs(tab, cs[0].ID)
	want := append(contactIDs(cs[1:3]), contactIDs(cs[4:k])...)
	want = append(want, cs[0].ID, cs[3].ID)
	if !slices.Equal(entries, want) {
		t.Fatalf("after re-seeing: %v, want %v", entries, want)
	}
	// A replacement seen again moves to the most recent end, no duplicate.
	tab.Seen(cs[k])
	_, repl = bucketIDs(tab, cs[0].ID)
	if want := append(contactIDs(cs[k+1:]), cs[k].ID); !slices.Equal(repl, want) {
		t.Fatalf("replacements %v, want %v", repl, want)
	}
	checkTable(t, tab)
}

func TestTableSeenUpdatesAddressAndResetsFailures(t *testing.T) {
	tab, _ := newRTTable(ID{}, TableConfig{})
	c := rtContact(farID(1))
	tab.Seen(c)
	tab.Seen(rtContact(farID(2)))
	tab.Failed(c.ID)
	tab.Failed(c.ID)
	if n := failuresOf(tab, c.ID); n != 2 {
		t.Fatalf("failures = %d", n)
	}
	moved := c
	moved.Addr = netip.MustParseAddrPort("192.0.2.7:4000")
	tab.Seen(moved)
	got, ok := tab.Contains(c.ID)
	if !ok || got.Addr != moved.Addr {
		t.Fatalf("Contains = %v %v, want new address", got, ok)
	}
	if n := failuresOf(tab, c.ID); n != 0 {
		t.Fatalf("failures after Seen = %d", n)
	}
	if cs := tab.Contacts(); cs[len(cs)-1].ID != c.ID {
		t.Fatalf("not moved to tail: %v", cs)
	}
}

// TestTableRemoveNode ports Python's test_remove_node.
func TestTableRemoveNode(t *testing.T) {
	const k = 3
	tab, _ := newRTTable(ID{}, TableConfig{K: k})
	nodes := farContacts(10)
	for _, c := range nodes {
		tab.Seen(c)
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
	if !tab.Remove(last.ID) {
		t.Fatal("Remove(replacement) = false")
	}
	expect(nodes[:k], nodes[k:])

	// Removing a contact promotes the most recent replacement.
	first := nodes[0]
	nodes = nodes[1:]
	if !tab.Remove(first.ID) {
		t.Fatal("Remove(contact) = false")
	}
	expect(append(slices.Clone(nodes[:k-1]), nodes[len(nodes)-1]), nodes[k-1:len(nodes)-1])

	r := mrand.New(mrand.NewPCG(5, 6))
	r.Shuffle(len(nodes), func(i, j int) { nodes[i], nodes[j] = nodes[j], nodes[i] })
	for _, c := range nodes {
		if !tab.Remove(c.ID) {
			t.Fatalf("Remove(%s) = false", c)
		}
	}
	expect(nil, nil)
	if tab.Len() != 0 || tab.Remove(first.ID) {
		t.Fatal("table not empty, or Remove of unknown id reported true")
	}
}

// TestTableReplacementFactor ports Python's test_replacement_factor.
func TestTableReplacementFactor(t *testing.T) {
	const k, factor = 3, 2
	tab, _ := newRTTable(ID{}, TableConfig{K: k, ReplacementFactor: factor})
	nodes := farContacts(10)
	for _, c := range nodes {
		tab.Seen(c)
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
	hexRange := func(lo, hi byte) Range {
		r := Range{Lo: ID{lo}}
		r.Hi[0] = hi
		for i := 1; i < IDLen; i++ {
			r.Hi[i] = 0xff
		}
		return r
	}
	tests := []struct {
		b    int
		want []Range
	}{
		{1, []Range{hexRange(0x00, 0x7f), hexRange(0x80, 0xff)}},
		{2, []Range{hexRange(0x00, 0x7f), hexRange(0x80, 0xbf), hexRange(0xc0, 0xff)}},
		{3, []Range{hexRange(0x00, 0x7f), hexRange(0x80, 0x9f), hexRange(0xa0, 0xbf), hexRange(0xc0, 0xff)}},
		{5, []Range{
			hexRange(0x00, 0x7f), hexRange(0x80, 0x87), hexRange(0x88, 0x8f),
			hexRange(0x90, 0x9f), hexRange(0xa0, 0xbf), hexRange(0xc0, 0xff),
		}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("B=%d", tt.b), func(t *testing.T) {
			const k = 4
			tab, _ := newRTTable(ID{}, TableConfig{K: k, B: tt.b})
			cs := farContacts(k + 1)
			var heads []*Contact
			for _, c := range cs {
				heads = append(heads, tab.Seen(c))
			}
			checkTable(t, tab)
			if got := tab.Ranges(); !slices.Equal(got, tt.want) {
				t.Fatalf("ranges %v, want %v", got, tt.want)
			}
			if tab.Buckets() != len(tt.want) {
				t.Fatalf("Buckets() = %d", tab.Buckets())
			}
			// The last newcomer found the far bucket full and unsplittable.
			if h := heads[k]; h == nil || h.ID != cs[0].ID {
				t.Fatalf("head to ping = %v, want %s", h, cs[0])
			}
			if tab.Len() != k {
				t.Fatalf("Len = %d", tab.Len())
			}
		})
	}
	t.Run("own bucket always splits", func(t *testing.T) {
		self := ID{}
		tab, _ := newRTTable(self, TableConfig{K: 2, B: 5})
		near := []ID{idFromUint64(1), idFromUint64(2), idFromUint64(3), idFromUint64(4), {0x00, 0x01}}
		for _, id := range near {
			if h := tab.Seen(rtContact(id)); h != nil {
				t.Fatalf("Seen(%s) asked to ping %s", id, h)
			}
		}
		checkTable(t, tab)
		for _, id := range near {
			if tab.IsNew(id) {
				t.Fatalf("%s not in the table", id)
			}
		}
	})
}

// TestTableHeadPingOnce checks that a full, unsplittable bucket asks for
// one ping of its head however many newcomers arrive, and what PingResult
// does with the answer.
func TestTableHeadPingOnce(t *testing.T) {
	const k = 4
	tests := []struct {
		name      string
		ok        bool
		dropRepl  bool // empty the replacement cache before the result
		wantOrder func(cs []Contact) []Contact
		wantRepl  func(cs []Contact) []Contact
		wantFails int // failures of the head afterwards (-1: gone)
	}{
		{
			name:      "head answers: moves to tail, newcomers stay in cache",
			ok:        true,
			wantOrder: func(cs []Contact) []Contact { return []Contact{cs[1], cs[2], cs[3], cs[0]} },
			wantRepl:  func(cs []Contact) []Contact { return cs[k : k+3] },
			wantFails: 0,
		},
		{
			name:      "head silent: evicted for most recent newcomer",
			ok:        false,
			wantOrder: func(cs []Contact) []Contact { return []Contact{cs[1], cs[2], cs[3], cs[k+2]} },
			wantRepl:  func(cs []Contact) []Contact { return cs[k : k+2] },
			wantFails: -1,
		},
		{
			name:      "head silent, empty cache: counts a failure",
			ok:        false,
			dropRepl:  true,
			wantOrder: func(cs []Contact) []Contact { return cs[:k] },
			wantRepl:  func([]Contact) []Contact { return nil },
			wantFails: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, _ := newRTTable(ID{}, TableConfig{K: k})
			cs := farContacts(k + 3)
			for _, c := range cs[:k] {
				if h := tab.Seen(c); h != nil {
					t.Fatalf("ping requested before the bucket is full")
				}
			}
			h := tab.Seen(cs[k])
			if h == nil || *h != cs[0] {
				t.Fatalf("first newcomer: head = %v, want %s", h, cs[0])
			}
			for _, c := range cs[k+1:] {
				if h := tab.Seen(c); h != nil {
					t.Fatalf("head pinged again for %s", c)
				}
			}
			if tt.dropRepl {
				for _, c := range cs[k:] {
					if !tab.Failed(c.ID) {
						t.Fatalf("Failed(replacement %s) = false", c)
					}
				}
			}
			tab.PingResult(cs[0].ID, tt.ok)
			checkTable(t, tab)
			entries, repl := bucketIDs(tab, cs[0].ID)
			if want := contactIDs(tt.wantOrder(cs)); !slices.Equal(entries, want) {
				t.Fatalf("entries %v, want %v", entries, want)
			}
			if want := contactIDs(tt.wantRepl(cs)); !slices.Equal(repl, want) {
				t.Fatalf("replacements %v, want %v", repl, want)
			}
			if got := failuresOf(tab, cs[0].ID); got != tt.wantFails {
				t.Fatalf("head failures = %d, want %d", got, tt.wantFails)
			}
			// The pending ping is cleared: the next newcomer pings the
			// (possibly new) head once more.
			next := rtContact(farID(1000))
			h = tab.Seen(next)
			if h == nil || h.ID != tt.wantOrder(cs)[0].ID {
				t.Fatalf("after result: head = %v, want %s", h, tt.wantOrder(cs)[0])
			}
			if h := tab.Seen(rtContact(farID(1001))); h != nil {
				t.Fatalf("pinged twice after result")
			}
		})
	}
}

func TestTableHeadPingPendingTimeout(t *testing.T) {
	const k = 2
	tab, clk := newRTTable(ID{}, TableConfig{K: k, PendingTimeout: 10 * time.Second})
	cs := farContacts(k + 3)
	for _, c := range cs[:k] {
		tab.Seen(c)
	}
	if h := tab.Seen(cs[k]); h == nil {
		t.Fatal("no ping requested")
	}
	clk.Advance(9 * time.Second)
	if h := tab.Seen(cs[k+1]); h != nil {
		t.Fatal("pinged again within PendingTimeout")
	}
	clk.Advance(time.Second)
	if h := tab.Seen(cs[k+2]); h == nil || h.ID != cs[0].ID {
		t.Fatalf("lost ping not retried: %v", h)
	}
}

func TestTableHeadPingClearedByOtherPaths(t *testing.T) {
	const k = 3
	tests := []struct {
		name     string
		clear    func(tab *Table, head Contact)
		wantHead int // index in cs of the head asked for next
	}{
		{"head seen", func(tab *Table, h Contact) { tab.Seen(h) }, 1},
		{"head removed", func(tab *Table, h Contact) { tab.Remove(h.ID) }, 1},
		{"head failed out", func(tab *Table, h Contact) {
			for range DefaultMaxFailures {
				tab.Failed(h.ID)
			}
		}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, _ := newRTTable(ID{}, TableConfig{K: k})
			cs := farContacts(k + 2)
			for _, c := range cs[:k] {
				tab.Seen(c)
			}
			h := tab.Seen(cs[k])
			if h == nil || h.ID != cs[0].ID {
				t.Fatalf("head = %v", h)
			}
			tt.clear(tab, *h)
			checkTable(t, tab)
			h = tab.Seen(cs[k+1])
			if h == nil || h.ID != cs[tt.wantHead].ID {
				t.Fatalf("next head = %v, want %s", h, cs[tt.wantHead])
			}
			// A late result for the old head does not clear the new ping.
			tab.PingResult(cs[0].ID, true)
			if h := tab.Seen(rtContact(farID(999))); h != nil {
				t.Fatalf("stale PingResult cleared the new pending ping")
			}
		})
	}
}

// TestTableFailureCounting checks that a contact survives MaxFailures-1
// consecutive failures, that an answer resets the count, and that the
// MaxFailures-th failure removes it and promotes a replacement.
func TestTableFailureCounting(t *testing.T) {
	for _, maxF := range []int{0, 1, 3, 5} {
		want := maxF
		if want == 0 {
			want = DefaultMaxFailures
		}
		t.Run(fmt.Sprintf("MaxFailures=%d", maxF), func(t *testing.T) {
			const k = 3
			tab, _ := newRTTable(ID{}, TableConfig{K: k, MaxFailures: maxF})
			cs := farContacts(k + 1) // one replacement
			for _, c := range cs {
				tab.Seen(c)
			}
			victim := cs[1]
			for i := 1; i < want; i++ {
				if tab.Failed(victim.ID) {
					t.Fatalf("removed after %d failures", i)
				}
				if got := failuresOf(tab, victim.ID); got != i {
					t.Fatalf("failures = %d, want %d", got, i)
				}
			}
			if want > 1 {
				tab.Seen(victim) // answered: count reset
				if got := failuresOf(tab, victim.ID); got != 0 {
					t.Fatalf("failures after Seen = %d", got)
				}
				for i := 1; i < want; i++ {
					if tab.Failed(victim.ID) {
						t.Fatalf("removed after reset and %d failures", i)
					}
				}
			}
			if !tab.Failed(victim.ID) {
				t.Fatalf("not removed after %d failures", want)
			}
			if !tab.IsNew(victim.ID) {
				t.Fatal("victim still in the table")
			}
			if tab.IsNew(cs[k].ID) || tab.Len() != k {
				t.Fatalf("replacement not promoted (len %d)", tab.Len())
			}
			if tab.Failed(victim.ID) {
				t.Fatal("Failed of an unknown id reported a removal")
			}
			checkTable(t, tab)
		})
	}
}

func TestTableIsNewAndContains(t *testing.T) {
	tab, _ := newRTTable(ID{}, TableConfig{K: 2})
	cs := farContacts(3)
	for _, c := range cs {
		tab.Seen(c)
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
			if got := tab.IsNew(tt.id); got != tt.isNew {
				t.Errorf("IsNew = %v", got)
			}
			c, ok := tab.Contains(tt.id)
			if ok != tt.exists || (ok && c.ID != tt.id) {
				t.Errorf("Contains = %v, %v", c, ok)
			}
		})
	}
}

// TestTableTraversalOrder ports Python's test_iteration of TableTraverser
// with the true XOR order: ids 0..9, target 4.
func TestTableTraversalOrder(t *testing.T) {
	tab, _ := newRTTable(idFromUint64(10), TableConfig{K: 2})
	var cs []Contact
	for i := range uint64(10) {
		c := rtContact(idFromUint64(i))
		cs = append(cs, c)
		tab.Seen(c)
	}
	checkTable(t, tab)
	if tab.Len() != 10 {
		t.Fatalf("Len = %d", tab.Len())
	}
	want := []Contact{cs[4], cs[5], cs[6], cs[7], cs[0], cs[1], cs[2], cs[3], cs[8], cs[9]}
	if got := tab.Closest(cs[4].ID, 10, nil); !slices.Equal(got, want) {
		t.Fatalf("Closest = %v, want %v", contactIDs(got), contactIDs(want))
	}
	if got := tab.Closest(cs[4].ID, 3, func(c Contact) bool { return c.ID == cs[4].ID }); !slices.Equal(got, want[1:4]) {
		t.Fatalf("Closest excluding target = %v", contactIDs(got))
	}
	if got := tab.Closest(cs[4].ID, 0, nil); got != nil {
		t.Fatalf("Closest(n=0) = %v", got)
	}
}

// bruteClosest sorts every contact by distance to target.
func bruteClosest(all []Contact, target ID, n int, exclude func(Contact) bool) []Contact {
	var out []Contact
	for _, c := range all {
		if exclude == nil || !exclude(c) {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b Contact) int { return CompareDistance(target, a.ID, b.ID) })
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// TestTableClosestMatchesBruteForce builds random tables of 500 contacts
// and compares Closest with sorting all contacts, for random targets,
// targets in the table, our own id and several n.
func TestTableClosestMatchesBruteForce(t *testing.T) {
	configs := []TableConfig{{}, {K: 8, B: 1}, {K: 4, B: 2}, {K: 20, B: 5}}
	for ci, cfg := range configs {
		for seed := uint64(0); seed < 3; seed++ {
			t.Run(fmt.Sprintf("cfg%d/seed%d", ci, seed), func(t *testing.T) {
				r := mrand.New(mrand.NewPCG(seed, uint64(ci)))
				self := seededID(r)
				tab, _ := newRTTable(self, cfg)
				for i := 0; i < 500; i++ {
					var id ID
					if i%3 == 0 {
						// Cluster some ids near self to grow deep buckets.
						id = self
						id[IDLen-1-r.IntN(IDLen)] ^= byte(1 + r.IntN(255))
					} else {
						id = seededID(r)
					}
					tab.Seen(rtContact(id))
				}
				checkTable(t, tab)
				all := tab.Contacts()
				if len(all) != tab.Len() {
					t.Fatalf("Contacts %d != Len %d", len(all), tab.Len())
				}
				targets := []ID{self, all[r.IntN(len(all))].ID, {}, fullIDRange().Hi}
				for range 30 {
					targets = append(targets, seededID(r))
				}
				excludeOdd := func(c Contact) bool { return c.ID[IDLen-1]&1 == 1 }
				for _, target := range targets {
					for _, n := range []int{1, 3, 20, 50, 1000} {
						for _, ex := range []func(Contact) bool{nil, excludeOdd} {
							got := tab.Closest(target, n, ex)
							want := bruteClosest(all, target, n, ex)
							if !slices.Equal(got, want) {
								t.Fatalf("target %s n %d: Closest differs from brute force\n got %v\nwant %v",
									target, n, contactIDs(got), contactIDs(want))
							}
						}
					}
				}
			})
		}
	}
}

// TestTableRandomOperations applies random operations and checks the
// invariants after each step.
func TestTableRandomOperations(t *testing.T) {
	r := mrand.New(mrand.NewPCG(7, 8))
	self := seededID(r)
	tab, clk := newRTTable(self, TableConfig{K: 4, ReplacementFactor: 2, MaxFailures: 2})
	var known []ID
	pick := func() ID {
		if len(known) == 0 || r.IntN(3) == 0 {
			id := seededID(r)
			if r.IntN(2) == 0 {
				id = self
				id[IDLen-1-r.IntN(4)] ^= byte(1 + r.IntN(255))
			}
			known = append(known, id)
			return id
		}
		return known[r.IntN(len(known))]
	}
	for step := 0; step < 3000; step++ {
		id := pick()
		switch op := r.IntN(10); {
		case op < 6:
			if h := tab.Seen(rtContact(id)); h != nil && r.IntN(4) != 0 {
				tab.PingResult(h.ID, r.IntN(2) == 0)
			}
		case op < 8:
			tab.Failed(id)
		case op < 9:
			tab.Remove(id)
		default:
			clk.Advance(time.Duration(r.IntN(120)) * time.Second)
			tab.Touch(id)
		}
		if step%50 == 0 {
			checkTable(t, tab)
		}
	}
	checkTable(t, tab)
}

// TestTableLonely checks Lonely and Touch with a fake clock.
func TestTableLonely(t *testing.T) {
	tab, clk := newRTTable(ID{}, TableConfig{K: 2, B: 1})
	// Fill enough to get several buckets at t0.
	ids := []ID{{0x80}, {0x81}, {0x40}, {0x41}, {0x20}, {0x21}, {0x10}, {0x11}, {0x08}}
	for _, id := range ids {
		tab.Seen(rtContact(id))
	}
	checkTable(t, tab)
	n := tab.Buckets()
	if n != 5 {
		t.Fatalf("only %d buckets", n)
	}
	if got := tab.Lonely(time.Hour); len(got) != 0 {
		t.Fatalf("fresh table has lonely buckets: %v", got)
	}
	clk.Advance(2 * time.Hour)
	if got := tab.Lonely(time.Hour); len(got) != n {
		t.Fatalf("after 2h: %d lonely, want %d", len(got), n)
	}
	tab.Seen(rtContact(ID{0x80, 1}))      // refreshes [0x80, 0xff]
	tab.Touch(ID{0x40, 0xaa})             // lookup in [0x40, 0x7f]
	tab.PingResult(ids[4], true)          // answered head counts too
	tab.PingResult(idFromUint64(3), true) // unknown id: no refresh
	lonely := tab.Lonely(time.Hour)
	if len(lonely) != n-3 {
		t.Fatalf("lonely %v, want %d buckets", lonely, n-3)
	}
	for _, r := range lonely {
		for _, fresh := range []ID{{0x80, 1}, {0x40, 0xaa}, ids[4]} {
			if r.Contains(fresh) {
				t.Fatalf("refreshed range %s reported lonely", r)
			}
		}
	}
	if got := tab.Lonely(3 * time.Hour); len(got) != 0 {
		t.Fatalf("Lonely(3h) = %v", got)
	}
}

// TestTableConcurrent exercises every method from several goroutines (for
// the race detector).
func TestTableConcurrent(t *testing.T) {
	tab := NewTable(RandomID(), TableConfig{K: 4})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := mrand.New(mrand.NewPCG(uint64(g), 99))
			for range 300 {
				id := seededID(r)
				if h := tab.Seen(rtContact(id)); h != nil {
					tab.PingResult(h.ID, r.IntN(2) == 0)
				}
				tab.Closest(id, 8, nil)
				tab.Failed(id)
				tab.IsNew(id)
				tab.Contains(id)
				tab.Touch(id)
				tab.Lonely(time.Hour)
				tab.Len()
				tab.Contacts()
				tab.Buckets()
				tab.Ranges()
			}
		}()
	}
	wg.Wait()
	checkTable(t, tab)
}

func TestTablePingResultOutsideBuckets(t *testing.T) {
	const k = 2
	self := ID{}
	tab, _ := newRTTable(self, TableConfig{K: k})
	if tab.Self() != self {
		t.Fatalf("Self() = %s", tab.Self())
	}
	cs := farContacts(k + 2)
	for _, c := range cs {
		tab.Seen(c)
	}
	tests := []struct {
		name     string
		id       ID
		ok       bool
		wantRepl []ID
	}{
		{"unknown id, ok", farID(500), true, contactIDs(cs[k:])},
		{"unknown id, failed", farID(500), false, contactIDs(cs[k:])},
		{"replacement answered", cs[k].ID, true, contactIDs(cs[k:])},
		{"replacement silent: dropped", cs[k].ID, false, contactIDs(cs[k+1:])},
	}
	for _, tt := range tests {
		tab.PingResult(tt.id, tt.ok)
		entries, repl := bucketIDs(tab, cs[0].ID)
		if !slices.Equal(entries, contactIDs(cs[:k])) || !slices.Equal(repl, tt.wantRepl) {
			t.Fatalf("%s: entries %v repl %v", tt.name, entries, repl)
		}
	}
	if s := fullIDRange().String(); s != "[0000000000000000000000000000000000000000, ffffffffffffffffffffffffffffffffffffffff]" {
		t.Fatalf("Range.String() = %s", s)
	}
}
