package kademlia

import (
	"slices"
)

// heapEntry is one candidate of an iterative lookup and its state.
type heapEntry struct {
	c        Contact
	queried  bool // an RPC has been sent to it
	answered bool // it answered that RPC
	slow     bool // it is much slower than the others: out of view until it answers
}

// nodeHeap is the shortlist of an iterative lookup: the candidates closest
// to a target, in the role of Python's kademlia NodeHeap, with per-entry
// query state. A lookup uses it from one goroutine; it has no lock.
//
// Pushed contacts are remembered (unique by id, ordered by XOR distance
// to the target), at most heapMemory times maxSize (at least defaultK) of
// them that have not been queried (the farthest are forgotten), but all
// views (uncontacted, allAnswered) see only the
// maxSize closest that are not marked slow: as in Python, removing or
// failing one of those lets the next remembered candidate move up, and so
// does marking one slow (until it answers after all). A contact marked failed
// is removed and never accepted again by this heap, so a dead node reported
// by several peers is not queried twice in one lookup.
type nodeHeap struct {
	target  ID
	maxSize int
	entries []heapEntry // ascending distance to target, unique ids
	failed  map[ID]struct{}
	// lim, if PerBucket >= 0, admits at most PerBucket candidates of one
	// IP network (see IPLimits): one operator's many addresses cannot
	// fill a lookup's view.
	lim IPLimits
}

// heapMemory bounds the candidates a heap remembers, in multiples of its
// view: enough to refill the view several times over as candidates fail
// or turn slow, while a liar's many fake contacts cannot pile up (issue
// 18). Queried candidates are never forgotten (their number is bounded by
// the lookup's RPCs), so a heap never queries a contact twice.
const heapMemory = 4

// newNodeHeap returns an empty heap for a lookup of target that keeps the
// maxSize closest contacts (defaultK if maxSize <= 0).
func newNodeHeap(target ID, maxSize int) *nodeHeap {
	if maxSize <= 0 {
		maxSize = defaultK
	}
	return &nodeHeap{target: target, maxSize: maxSize, failed: make(map[ID]struct{})}
}

// search returns the position of id in the distance order and whether an
// entry with that id is there.
func (h *nodeHeap) search(id ID) (int, bool) {
	return slices.BinarySearchFunc(h.entries, id, func(e heapEntry, id ID) int {
		return cmpDistance(h.target, e.c.ID, id)
	})
}

// view returns the entries the views see: the maxSize closest not
// marked slow.
func (h *nodeHeap) view() []*heapEntry {
	out := make([]*heapEntry, 0, min(len(h.entries), h.maxSize))
	for i := range h.entries {
		if len(out) == h.maxSize {
			break
		}
		if !h.entries[i].slow {
			out = append(out, &h.entries[i])
		}
	}
	return out
}

// push adds contacts not already in the heap (by id) and not marked failed;
// a contact already present keeps its state and address. It returns how
// many contacts were added.
func (h *nodeHeap) push(cs ...Contact) int {
	added := 0
	for _, c := range cs {
		if _, bad := h.failed[c.ID]; bad {
			continue
		}
		i, found := h.search(c.ID)
		if found || !h.netAllowed(c) {
			continue
		}
		h.entries = slices.Insert(h.entries, i, heapEntry{c: c})
		added++
	}
	h.forget()
	return added
}

// forget drops the farthest unqueried entries beyond heapMemory times
// the view (or times defaultK, for a narrow view: a K=3 lookup that
// remembered only 12 would lose the candidates it needs).
func (h *nodeHeap) forget() {
	limit := heapMemory * max(h.maxSize, defaultK)
	unqueried := 0
	for _, e := range h.entries {
		if !e.queried {
			unqueried++
		}
	}
	for i := len(h.entries) - 1; i >= 0 && unqueried > limit; i-- {
		if !h.entries[i].queried {
			h.entries = slices.Delete(h.entries, i, i+1)
			unqueried--
		}
	}
}

// mark applies f to the entry with the given id, if any.
func (h *nodeHeap) mark(id ID, f func(*heapEntry)) {
	if i, found := h.search(id); found {
		f(&h.entries[i])
	}
}

// markQueried records that an RPC was sent to id.
func (h *nodeHeap) markQueried(id ID) {
	h.mark(id, func(e *heapEntry) { e.queried = true })
}

// markAnswered records that id answered (which implies it was queried);
// a slow entry comes back into view.
func (h *nodeHeap) markAnswered(id ID) {
	h.mark(id, func(e *heapEntry) { e.queried, e.answered, e.slow = true, true, false })
}

// markSlow takes id out of view until it answers (markAnswered) or
// fails: its query is much slower than the peers' so far.
func (h *nodeHeap) markSlow(id ID) {
	h.mark(id, func(e *heapEntry) { e.slow = true })
}

// markFailed records that id did not answer: it is removed from the heap
// and later pushes of it are ignored.
func (h *nodeHeap) markFailed(id ID) {
	h.failed[id] = struct{}{}
	if i, found := h.search(id); found {
		h.entries = slices.Delete(h.entries, i, i+1)
	}
}

// uncontacted returns the contacts among the maxSize closest that have not
// been queried yet, closest first.
func (h *nodeHeap) uncontacted() []Contact {
	var out []Contact
	for _, e := range h.view() {
		if !e.queried {
			out = append(out, e.c)
		}
	}
	return out
}

// allAnswered reports whether every entry among the maxSize closest has
// answered; it is true for an empty heap. A lookup that sees it true has
// converged: the k closest known nodes are all alive and all asked.
func (h *nodeHeap) allAnswered() bool {
	for _, e := range h.view() {
		if !e.answered {
			return false
		}
	}
	return true
}

// answered returns up to n remembered contacts that answered, closest
// first, looking past the maxSize in view if needed: the result of a lookup.
func (h *nodeHeap) answered(n int) []Contact {
	var out []Contact
	for _, e := range h.entries {
		if len(out) >= n {
			break
		}
		if e.answered {
			out = append(out, e.c)
		}
	}
	return out
}

// netAllowed reports whether the IP limits admit c among the candidates.
func (h *nodeHeap) netAllowed(c Contact) bool {
	if h.lim.PerBucket < 0 {
		return true
	}
	net, limited := h.lim.network(c.Addr.Addr())
	if !limited {
		return true
	}
	n := 0
	for _, e := range h.entries {
		if net.Contains(e.c.Addr.Addr().Unmap()) {
			if n++; n >= h.lim.PerBucket {
				return false
			}
		}
	}
	return true
}
