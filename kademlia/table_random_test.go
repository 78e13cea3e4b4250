package kademlia

import (
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

func bruteClosest(all []Contact, target ID, n int, exclude func(Contact) bool) []Contact {
	var out []Contact
	for _, c := range all {
		if exclude == nil || !exclude(c) {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b Contact) int { return cmpDistance(target, a.ID, b.ID) })
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// TestTableClosestMatchesBruteForce builds random tables of 500 contacts
// and compares Closest with sorting all contacts, for random targets,
// targets in the table, our own id and several n.
func TestTableClosestMatchesBruteForce(t *testing.T) {
	configs := []tableConfig{{}, {K: 8, B: 1}, {K: 4, B: 2}, {K: 20, B: 5}}
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
					tab.addFound(rtContact(id))
				}
				checkTable(t, tab)
				all := tab.contacts()
				if len(all) != tab.len() {
					t.Fatalf("Contacts %d != Len %d", len(all), tab.len())
				}
				targets := []ID{self, all[r.IntN(len(all))].ID, {}, fullIDRange().Hi}
				for range 30 {
					targets = append(targets, seededID(r))
				}
				excludeOdd := func(c Contact) bool { return c.ID[IDLen-1]&1 == 1 }
				for _, target := range targets {
					for _, n := range []int{1, 3, 20, 50, 1000} {
						for _, ex := range []func(Contact) bool{nil, excludeOdd} {
							got := tab.closest(target, n, ex)
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
	tab, clk := newRTTable(self, tableConfig{K: 4, ReplacementFactor: 2, MaxFailures: 2})
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
			if h := tab.addFound(rtContact(id)); h != nil && r.IntN(4) != 0 {
				tab.pingResult(h.ID, r.IntN(2) == 0)
			}
		case op < 8:
			tab.failed(id)
		case op < 9:
			tab.remove(id)
		default:
			clk.Advance(time.Duration(r.IntN(120)) * time.Second)
			tab.touch(id)
		}
		if step%50 == 0 {
			checkTable(t, tab)
		}
	}
	checkTable(t, tab)
}

// TestTableLonely checks Lonely and Touch with a fake clock.
func TestTableLonely(t *testing.T) {
	tab, clk := newRTTable(ID{}, tableConfig{K: 2, B: 1})
	// Fill enough to get several buckets at t0.
	ids := []ID{{0x80}, {0x81}, {0x40}, {0x41}, {0x20}, {0x21}, {0x10}, {0x11}, {0x08}}
	for _, id := range ids {
		tab.addFound(rtContact(id))
	}
	checkTable(t, tab)
	n := tab.numBuckets()
	if n != 5 {
		t.Fatalf("only %d buckets", n)
	}
	if got := tab.lonely(time.Hour); len(got) != 0 {
		t.Fatalf("fresh table has lonely buckets: %v", got)
	}
	clk.Advance(2 * time.Hour)
	if got := tab.lonely(time.Hour); len(got) != n {
		t.Fatalf("after 2h: %d lonely, want %d", len(got), n)
	}
	tab.addFound(rtContact(ID{0x80, 1}))  // refreshes [0x80, 0xff]
	tab.touch(ID{0x40, 0xaa})             // lookup in [0x40, 0x7f]
	tab.pingResult(ids[4], true)          // answered head counts too
	tab.pingResult(idFromUint64(3), true) // unknown id: no refresh
	lonely := tab.lonely(time.Hour)
	if len(lonely) != n-3 {
		t.Fatalf("lonely %v, want %d buckets", lonely, n-3)
	}
	for _, r := range lonely {
		for _, fresh := range []ID{{0x80, 1}, {0x40, 0xaa}, ids[4]} {
			if r.contains(fresh) {
				t.Fatalf("refreshed range %s reported lonely", r)
			}
		}
	}
	if got := tab.lonely(3 * time.Hour); len(got) != 0 {
		t.Fatalf("Lonely(3h) = %v", got)
	}
}

// TestTableConcurrent exercises every method from several goroutines (for
// the race detector).
func TestTableConcurrent(t *testing.T) {
	tab := newTable(RandomID(), tableConfig{K: 4})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := mrand.New(mrand.NewPCG(uint64(g), 99))
			for range 300 {
				id := seededID(r)
				if h := tab.addFound(rtContact(id)); h != nil {
					tab.pingResult(h.ID, r.IntN(2) == 0)
				}
				tab.closest(id, 8, nil)
				tab.failed(id)
				tab.isNew(id)
				tab.contains(id)
				tab.touch(id)
				tab.lonely(time.Hour)
				tab.len()
				tab.contacts()
				tab.numBuckets()
				tab.ranges()
			}
		}()
	}
	wg.Wait()
	checkTable(t, tab)
}

func TestTablePingResultOutsideBuckets(t *testing.T) {
	const k = 2
	self := ID{}
	tab, _ := newRTTable(self, tableConfig{K: k})
	if tab.selfID() != self {
		t.Fatalf("Self() = %s", tab.selfID())
	}
	cs := farContacts(k + 2)
	for _, c := range cs {
		tab.addFound(c)
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
		tab.pingResult(tt.id, tt.ok)
		entries, repl := bucketIDs(tab, cs[0].ID)
		if !slices.Equal(entries, contactIDs(cs[:k])) || !slices.Equal(repl, tt.wantRepl) {
			t.Fatalf("%s: entries %v repl %v", tt.name, entries, repl)
		}
	}
	if s := fullIDRange().String(); s != "[0000000000000000000000000000000000000000, ffffffffffffffffffffffffffffffffffffffff]" {
		t.Fatalf("idRange.String() = %s", s)
	}
}
