package kademlia

import (
	"slices"
	"sync"
)

// heapEntry is one candidate of an iterative lookup and its state.
type heapEntry struct {
	c        Contact
	queried  bool // an RPC has been sent to it
	answered bool // it answered that RPC
}

// nodeHeap is the shortlist of an iterative lookup: the candidates closest
// to a target, in the role of Python's kademlia NodeHeap, with per-entry
// query state. It is safe for concurrent use.
//
// Every pushed contact is remembered (unique by id, ordered by XOR distance
// to the target), but all views (len, closest, uncontacted, allAnswered)
// see only the maxSize closest: as in Python, removing or failing one of
// those lets the next remembered candidate move up. A contact marked failed
// is removed and never accepted again by this heap, so a dead node reported
// by several peers is not queried twice in one lookup.
type nodeHeap struct {
	mu      sync.Mutex
	target  ID
	maxSize int
	entries []heapEntry // ascending distance to target, unique ids
	failed  map[ID]struct{}
}

// newNodeHeap returns an empty heap for a lookup of target that keeps the
// maxSize closest contacts (DefaultK if maxSize <= 0).
func newNodeHeap(target ID, maxSize int) *nodeHeap {
	if maxSize <= 0 {
		maxSize = DefaultK
	}
	return &nodeHeap{target: target, maxSize: maxSize, failed: make(map[ID]struct{})}
}

// search returns the position of id in the distance order and whether an
// entry with that id is there. The caller holds h.mu.
func (h *nodeHeap) search(id ID) (int, bool) {
	return slices.BinarySearchFunc(h.entries, id, func(e heapEntry, id ID) int {
		return cmpDistance(h.target, e.c.ID, id)
	})
}

// visible returns the number of entries the views see. The caller holds
// h.mu.
func (h *nodeHeap) visible() int { return min(len(h.entries), h.maxSize) }

// push adds contacts not already in the heap (by id) and not marked failed;
// a contact already present keeps its state and address. It returns how
// many contacts were added.
func (h *nodeHeap) push(cs ...Contact) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	added := 0
	for _, c := range cs {
		if _, bad := h.failed[c.ID]; bad {
			continue
		}
		i, found := h.search(c.ID)
		if found {
			continue
		}
		h.entries = slices.Insert(h.entries, i, heapEntry{c: c})
		added++
	}
	return added
}

// remove forgets the given ids entirely (state included); they may be
// pushed again later.
func (h *nodeHeap) remove(ids ...ID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, id := range ids {
		if i, found := h.search(id); found {
			h.entries = slices.Delete(h.entries, i, i+1)
		}
	}
}

// contains reports whether id is among the remembered candidates.
func (h *nodeHeap) contains(id ID) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, found := h.search(id)
	return found
}

// len returns the number of entries in view: min(maxSize, remembered).
func (h *nodeHeap) len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.visible()
}

// closest returns up to n of the maxSize closest contacts, closest first
// (none for n <= 0).
func (h *nodeHeap) closest(n int) []Contact {
	h.mu.Lock()
	defer h.mu.Unlock()
	n = min(n, h.visible())
	if n <= 0 {
		return nil
	}
	out := make([]Contact, n)
	for i := range out {
		out[i] = h.entries[i].c
	}
	return out
}

// contacts returns all the maxSize closest contacts, closest first.
func (h *nodeHeap) contacts() []Contact { return h.closest(h.maxSize) }

// answered returns up to n remembered contacts that answered, closest
// first, looking past the maxSize in view if needed: the result of a lookup.
func (h *nodeHeap) answered(n int) []Contact {
	h.mu.Lock()
	defer h.mu.Unlock()
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

// mark applies f to the entry with the given id, if any.
func (h *nodeHeap) mark(id ID, f func(*heapEntry)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if i, found := h.search(id); found {
		f(&h.entries[i])
	}
}

// markQueried records that an RPC was sent to id.
func (h *nodeHeap) markQueried(id ID) {
	h.mark(id, func(e *heapEntry) { e.queried = true })
}

// markAnswered records that id answered (which implies it was queried).
func (h *nodeHeap) markAnswered(id ID) {
	h.mark(id, func(e *heapEntry) { e.queried, e.answered = true, true })
}

// markFailed records that id did not answer: it is removed from the heap
// and later pushes of it are ignored.
func (h *nodeHeap) markFailed(id ID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failed[id] = struct{}{}
	if i, found := h.search(id); found {
		h.entries = slices.Delete(h.entries, i, i+1)
	}
}

// uncontacted returns the contacts among the maxSize closest that have not
// been queried yet, closest first.
func (h *nodeHeap) uncontacted() []Contact {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Contact
	for _, e := range h.entries[:h.visible()] {
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
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.entries[:h.visible()] {
		if !e.answered {
			return false
		}
	}
	return true
}
