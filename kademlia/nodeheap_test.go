package kademlia

import (
	"fmt"
	mrand "math/rand/v2"
	"net/netip"
	"slices"
	"testing"
)

// heapContacts returns contacts with ids 0..n-1 (Python's
// mknode(intid=x)).
func heapContacts(n int) []Contact {
	cs := make([]Contact, n)
	for i := range cs {
		cs[i] = rtContact(idFromUint64(uint64(i)))
	}
	return cs
}

func heapIntIDs(cs []Contact) []uint64 {
	out := make([]uint64, len(cs))
	for i, c := range cs {
		var x uint64
		for _, b := range c.ID[IDLen-8:] {
			x = x<<8 | uint64(b)
		}
		out[i] = x
	}
	return out
}

// TestHeapMaxSize ports Python's TestNodeHeap.test_max_size.
func TestHeapMaxSize(t *testing.T) {
	tests := []struct{ maxSize, pushed, want int }{
		{3, 10, 3},
		{3, 2, 2},
		{5, 0, 0},
		{0, 30, defaultK},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("max%d/push%d", tt.maxSize, tt.pushed), func(t *testing.T) {
			h := newNodeHeap(idFromUint64(0), tt.maxSize)
			if h.len() != 0 || len(h.contacts()) != 0 {
				t.Fatal("new heap not empty")
			}
			for _, c := range heapContacts(tt.pushed) {
				h.push(c)
			}
			if h.len() != tt.want || len(h.contacts()) != tt.want || len(h.closest(1000)) != tt.want {
				t.Fatalf("len %d contacts %d, want %d", h.len(), len(h.contacts()), tt.want)
			}
		})
	}
}

// TestHeapIteration ports Python's test_iteration: the heap yields the
// closest entries in ascending distance, whatever the push order.
func TestHeapIteration(t *testing.T) {
	tests := []struct {
		name  string
		order func([]Contact)
	}{
		{"ascending", func([]Contact) {}},
		{"descending", func(cs []Contact) { slices.Reverse(cs) }},
		{"shuffled", func(cs []Contact) {
			r := mrand.New(mrand.NewPCG(1, 1))
			r.Shuffle(len(cs), func(i, j int) { cs[i], cs[j] = cs[j], cs[i] })
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newNodeHeap(idFromUint64(0), 5)
			cs := heapContacts(10)
			tt.order(cs)
			if added := h.push(cs...); added != 10 {
				t.Fatalf("push added %d", added)
			}
			if got := heapIntIDs(h.contacts()); !slices.Equal(got, []uint64{0, 1, 2, 3, 4}) {
				t.Fatalf("order %v", got)
			}
			if got := heapIntIDs(h.closest(2)); !slices.Equal(got, []uint64{0, 1}) {
				t.Fatalf("closest(2) %v", got)
			}
			if got := h.closest(0); got != nil {
				t.Fatalf("closest(0) = %v", got)
			}
		})
	}
}

// TestHeapRemove ports Python's test_remove: removed entries make room for
// the next closest remembered ones.
func TestHeapRemove(t *testing.T) {
	h := newNodeHeap(idFromUint64(0), 5)
	cs := heapContacts(10)
	for _, c := range cs {
		h.push(c)
	}
	h.remove(cs[0].ID, cs[1].ID)
	if got := heapIntIDs(h.contacts()); !slices.Equal(got, []uint64{2, 3, 4, 5, 6}) {
		t.Fatalf("after remove: %v", got)
	}
	h.remove(cs[0].ID, idFromUint64(1000)) // absent ids are ignored
	if h.len() != 5 || h.contains(cs[0].ID) || !h.contains(cs[9].ID) {
		t.Fatal("remove of absent ids changed the heap")
	}
	// A removed id may come back, with fresh state.
	h.push(cs[0])
	if got := heapIntIDs(h.closest(1)); !slices.Equal(got, []uint64{0}) {
		t.Fatalf("re-pushed id missing: %v", got)
	}
	if u := h.uncontacted(); len(u) != 5 {
		t.Fatalf("uncontacted %v", heapIntIDs(u))
	}
}

func TestHeapDedup(t *testing.T) {
	h := newNodeHeap(idFromUint64(0), 5)
	c := rtContact(idFromUint64(3))
	other := c
	other.Addr = netip.MustParseAddrPort("192.0.2.1:9")
	if n := h.push(c, c, other); n != 1 {
		t.Fatalf("push added %d, want 1", n)
	}
	h.markQueried(c.ID)
	if n := h.push(other); n != 0 {
		t.Fatalf("duplicate push added %d", n)
	}
	if got := h.contacts(); len(got) != 1 || got[0] != c {
		t.Fatalf("contacts %v, want the first address kept", got)
	}
	if len(h.uncontacted()) != 0 {
		t.Fatal("duplicate push reset the queried state")
	}
}

// TestHeapDistanceOrder compares the heap with brute force for random
// targets and ids.
func TestHeapDistanceOrder(t *testing.T) {
	r := mrand.New(mrand.NewPCG(11, 12))
	for trial := range 20 {
		target := seededID(r)
		k := 1 + r.IntN(25)
		h := newNodeHeap(target, k)
		var all []Contact
		for range 200 {
			c := rtContact(seededID(r))
			if r.IntN(5) == 0 && len(all) > 0 {
				c = all[r.IntN(len(all))] // duplicate
			} else {
				all = append(all, c)
			}
			h.push(c)
		}
		want := bruteClosest(all, target, k, nil)
		if got := h.contacts(); !slices.Equal(got, want) {
			t.Fatalf("trial %d: heap %v\nwant %v", trial, contactIDs(got), contactIDs(want))
		}
	}
}

// TestHeapQueryState walks a lookup through the per-entry states.
func TestHeapQueryState(t *testing.T) {
	h := newNodeHeap(idFromUint64(0), 3)
	if !h.allAnswered() {
		t.Fatal("empty heap: allAnswered = false")
	}
	cs := heapContacts(6)
	h.push(cs[1:]...)
	steps := []struct {
		name            string
		do              func()
		wantView        []uint64
		wantUncontacted []uint64
		wantAll         bool
		wantAnswered    []uint64
	}{
		{"initial", func() {}, []uint64{1, 2, 3}, []uint64{1, 2, 3}, false, nil},
		{"query 1 and 2", func() { h.markQueried(cs[1].ID); h.markQueried(cs[2].ID) },
			[]uint64{1, 2, 3}, []uint64{3}, false, nil},
		{"1 answers", func() { h.markAnswered(cs[1].ID) },
			[]uint64{1, 2, 3}, []uint64{3}, false, []uint64{1}},
		{"2 fails: 4 moves into view", func() { h.markFailed(cs[2].ID) },
			[]uint64{1, 3, 4}, []uint64{3, 4}, false, []uint64{1}},
		{"failed 2 is not re-added", func() { h.push(cs[2]) },
			[]uint64{1, 3, 4}, []uint64{3, 4}, false, []uint64{1}},
		{"closer 0 arrives", func() { h.push(cs[0]) },
			[]uint64{0, 1, 3}, []uint64{0, 3}, false, []uint64{1}},
		{"0 and 3 answer without markQueried", func() { h.markAnswered(cs[0].ID); h.markAnswered(cs[3].ID) },
			[]uint64{0, 1, 3}, nil, true, []uint64{0, 1, 3}},
		{"marking absent ids is a no-op", func() { h.markQueried(idFromUint64(99)); h.markAnswered(idFromUint64(98)) },
			[]uint64{0, 1, 3}, nil, true, []uint64{0, 1, 3}},
		{"1 fails late: 4 in view, unanswered", func() { h.markFailed(cs[1].ID) },
			[]uint64{0, 3, 4}, []uint64{4}, false, []uint64{0, 3}},
	}
	for _, st := range steps {
		st.do()
		if got := heapIntIDs(h.contacts()); !slices.Equal(got, st.wantView) {
			t.Fatalf("%s: view %v, want %v", st.name, got, st.wantView)
		}
		if got := heapIntIDs(h.uncontacted()); !slices.Equal(got, st.wantUncontacted) {
			t.Fatalf("%s: uncontacted %v, want %v", st.name, got, st.wantUncontacted)
		}
		if got := h.allAnswered(); got != st.wantAll {
			t.Fatalf("%s: allAnswered %v, want %v", st.name, got, st.wantAll)
		}
		if got := heapIntIDs(h.answered(10)); !slices.Equal(got, st.wantAnswered) {
			t.Fatalf("%s: answered %v, want %v", st.name, got, st.wantAnswered)
		}
	}
	if got := heapIntIDs(h.answered(1)); !slices.Equal(got, []uint64{0}) {
		t.Fatalf("answered(1) = %v", got)
	}
	if got := h.answered(0); len(got) != 0 {
		t.Fatalf("answered(0) = %v", got)
	}
}

// TestHeapAnsweredBeyondView checks that answered looks past the view.
func TestHeapAnsweredBeyondView(t *testing.T) {
	h := newNodeHeap(idFromUint64(0), 2)
	cs := heapContacts(5)
	h.push(cs...)
	h.markAnswered(cs[4].ID)
	h.markAnswered(cs[1].ID)
	if got := heapIntIDs(h.answered(5)); !slices.Equal(got, []uint64{1, 4}) {
		t.Fatalf("answered = %v", got)
	}
}

// TestHeapForgetsFarthest: a heap remembers at most heapMemory times its
// view (at least defaultK) of unqueried candidates, the closest; queried
// ones are kept.
func TestHeapForgetsFarthest(t *testing.T) {
	h := newNodeHeap(idFromUint64(0), 3)
	limit := heapMemory * defaultK
	cs := heapContacts(2*limit + 50)
	h.push(cs[limit+20 : 2*limit+20]...)
	far := cs[2*limit+19]
	h.markQueried(far.ID)
	h.push(cs[:limit+20]...)
	var kept []uint64
	for _, c := range cs {
		if h.contains(c.ID) {
			kept = append(kept, heapIntIDs([]Contact{c})[0])
		}
	}
	var want []uint64
	for i := range limit {
		want = append(want, uint64(i))
	}
	want = append(want, uint64(2*limit+19))
	if !slices.Equal(kept, want) {
		t.Fatalf("remembered %v, want %v", kept, want)
	}
	// A forgotten contact may come back (it was never asked).
	h.markFailed(cs[0].ID)
	h.push(cs[limit])
	if !h.contains(cs[limit].ID) {
		t.Error("a forgotten contact closer than the farthest remembered was not taken back")
	}
	if h.push(cs[2*limit+49]) != 1 || h.contains(cs[2*limit+49].ID) {
		t.Error("a contact farther than the limit was remembered")
	}
}

// TestHeapIPLimits: a lookup keeps at most PerBucket candidates of one
// network, an IPv6 /32 by default, however many /48s they come from.
func TestHeapIPLimits(t *testing.T) {
	for _, tt := range []struct {
		name string
		lim  IPLimits
		want int
	}{
		{"default", IPLimits{}, defaultIPPerBucket},
		{"by /48", IPLimits{IPv6Prefix: 48}, 20},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newNodeHeap(RandomID(), 20)
			h.lim = tt.lim.withDefaults()
			for i := range 20 {
				addr := netip.MustParseAddrPort(fmt.Sprintf("[2a05:d000:%x::%x]:1", i/2, 1+i%2))
				h.push(Contact{ID: RandomID(), Addr: addr})
			}
			if got := h.len(); got != tt.want {
				t.Errorf("kept %d candidates from 10 /48s of one /32, want %d", got, tt.want)
			}
		})
	}
}

// TestHeapInterleaved runs four streams of operations interleaved (the
// heap has no lock: one lookup drives it from one goroutine).
func TestHeapInterleaved(t *testing.T) {
	h := newNodeHeap(RandomID(), 8)
	rngs := make([]*mrand.Rand, 4)
	for g := range rngs {
		rngs[g] = mrand.New(mrand.NewPCG(uint64(g), 5))
	}
	for range 200 {
		for _, r := range rngs {
			c := rtContact(seededID(r))
			h.push(c)
			h.markQueried(c.ID)
			if r.IntN(2) == 0 {
				h.markAnswered(c.ID)
			} else {
				h.markFailed(c.ID)
			}
			h.uncontacted()
			h.allAnswered()
			h.closest(4)
			h.len()
		}
	}
	if h.len() > 8 {
		t.Fatalf("len %d", h.len())
	}
}

// Test-only views of the nodeHeap.

// remove forgets the given ids entirely (state included); they may be
// pushed again later.
func (h *nodeHeap) remove(ids ...ID) {
	for _, id := range ids {
		if i, found := h.search(id); found {
			h.entries = slices.Delete(h.entries, i, i+1)
		}
	}
}

// contains reports whether id is among the remembered candidates.
func (h *nodeHeap) contains(id ID) bool {
	_, found := h.search(id)
	return found
}

// len returns the number of entries in view: min(maxSize, remembered).
func (h *nodeHeap) len() int {
	return len(h.view())
}

// closest returns up to n of the maxSize closest contacts, closest first
// (none for n <= 0).
func (h *nodeHeap) closest(n int) []Contact {
	v := h.view()
	n = min(n, len(v))
	if n <= 0 {
		return nil
	}
	out := make([]Contact, n)
	for i := range out {
		out[i] = v[i].c
	}
	return out
}

// contacts returns all the maxSize closest contacts, closest first.
func (h *nodeHeap) contacts() []Contact { return h.closest(h.maxSize) }
