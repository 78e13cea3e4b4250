package rpcudp

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"time"
)

// replyCache remembers the replies to recent requests, so that a request
// resent by a retrying caller (same id, same sender) is answered again
// without running its handler twice. It is a fixed ring of slots: the
// oldest entry gives way to the newest, entries expire after ttl, and the
// replies held are bounded in bytes too (oldest dropped first). Small
// reply buffers are reused, so a warm cache does not allocate.
type replyCache struct {
	mu       sync.Mutex
	ttl      time.Duration
	idx      map[cacheKey]int
	slots    []cacheSlot // grows up to size; then a ring, oldest at next
	size     int
	next     int
	gen      uint64
	bytes    int // reply bytes held
	maxBytes int
	seed     maphash.Seed
}

// reuseCap is the largest reply buffer a slot keeps for reuse.
const reuseCap = 512

type cacheKey struct {
	id   msgID
	from netip.AddrPort
}

type cacheSlot struct {
	key     cacheKey
	used    bool
	running bool
	sum     uint64 // hash of the request body: a repeat must be the same request
	gen     uint64
	at      time.Time
	reply   []byte
}

// cacheRef names a slot reserved by begin; slot -1 is no slot.
type cacheRef struct {
	slot int
	gen  uint64
}

type cacheState int

const (
	cacheNew      cacheState = iota // first sight: a slot is reserved
	cacheRunning                    // the first copy is still being served
	cacheAnswered                   // answered again from the cache
)

func newReplyCache(size int, ttl time.Duration, maxBytes int) *replyCache {
	// The ring grows to size as requests come, so an idle endpoint costs
	// next to nothing (thousands of them run in one simulation).
	return &replyCache{ttl: ttl, idx: make(map[cacheKey]int), size: size, maxBytes: maxBytes, seed: maphash.MakeSeed()}
}

// evict empties slot i.
func (c *replyCache) evict(i int) {
	s := &c.slots[i]
	if !s.used {
		return
	}
	delete(c.idx, s.key)
	c.bytes -= len(s.reply)
	s.used = false
	s.reply = s.reply[:0]
	if cap(s.reply) > reuseCap {
		s.reply = nil
	}
}

// begin looks a request up. A new one gets a slot marked running; for a
// repeated, answered one (same id, same sender, same body) the cached
// reply is appended to dst and returned, for the caller to send again.
func (c *replyCache) begin(id msgID, from netip.AddrPort, body, dst []byte) (cacheState, cacheRef, []byte) {
	k := cacheKey{id, from}
	sum := maphash.Bytes(c.seed, body)
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if i, ok := c.idx[k]; ok {
		s := &c.slots[i]
		if now.Sub(s.at) < c.ttl && s.sum == sum {
			if s.running {
				return cacheRunning, cacheRef{slot: -1}, dst
			}
			return cacheAnswered, cacheRef{slot: -1}, append(dst, s.reply...)
		}
		c.evict(i)
	}
	var i int
	if len(c.slots) < c.size {
		c.slots = append(c.slots, cacheSlot{})
		i = len(c.slots) - 1
	} else {
		i = c.next
		c.next = (c.next + 1) % c.size
		c.evict(i)
	}
	s := &c.slots[i]
	c.gen++
	s.key, s.used, s.running, s.gen, s.at, s.sum = k, true, true, c.gen, now, sum
	c.idx[k] = i
	return cacheNew, cacheRef{slot: i, gen: s.gen}, dst
}

// finish stores the reply in the reserved slot, unless the slot was
// recycled meanwhile.
func (c *replyCache) finish(r cacheRef, reply []byte) {
	if c == nil || r.slot < 0 {
		return
	}
	c.mu.Lock()
	if s := &c.slots[r.slot]; s.gen == r.gen && s.used {
		s.running = false
		s.reply = append(s.reply[:0], reply...)
		c.bytes += len(reply)
		// Over the byte budget: drop the oldest replies (the ring order
		// from next on), never the one just stored.
		for j := c.next; c.bytes > c.maxBytes; j = (j + 1) % len(c.slots) {
			if j == r.slot {
				break
			}
			if !c.slots[j].running {
				c.evict(j)
			}
		}
	}
	c.mu.Unlock()
}

// abort releases a reserved slot: the request was not served, so a resend
// should be treated as new.
func (c *replyCache) abort(r cacheRef) {
	if c == nil || r.slot < 0 {
		return
	}
	c.mu.Lock()
	if s := &c.slots[r.slot]; s.gen == r.gen {
		c.evict(r.slot)
	}
	c.mu.Unlock()
}
