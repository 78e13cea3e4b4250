package kademlia

import (
	"container/heap"
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// The per-source quota of stores (issue 18, finding 5): without it one
// stranger could fill a node's storage, for a week, from one socket.

// quotaShare is the share of the storage's bounds (items and bytes) that
// the values stored by one source network may hold: 1/64th.
const quotaShare = 64

// errOverQuota refuses a store whose source network holds its share of
// the storage already (it wraps ErrStorageFull, so a Go writer's error
// reply reads "storage full").
var errOverQuota = fmt.Errorf("%w: the sender's network holds its share", ErrStorageFull)

// quotaSource is a source network: an IPv4 /24 or an IPv6 /32 (IPLimits'
// default networks), or, for loopback, one address and port (a loopback source
// cannot be spoofed from another host, and the processes of one host each
// get a share of their own).
type quotaSource struct {
	net  netip.Prefix
	port uint16
}

// sourceOf returns the source network of a.
func sourceOf(a netip.AddrPort) quotaSource {
	ip := a.Addr().Unmap().WithZone("")
	bits := defaultIPv6Prefix
	switch {
	case ip.IsLoopback():
		return quotaSource{net: netip.PrefixFrom(ip, ip.BitLen()), port: a.Port()}
	case ip.Is4():
		bits = defaultIPv4Prefix
	}
	p, _ := ip.Prefix(bits)
	return quotaSource{net: p}
}

// storeQuota bounds what the stores of each source network hold here: at
// most items items and bytes bytes (keys of 20 bytes plus Value.Len, as
// the storage counts them). Every key stored by a store request has one
// owner, the network of the last store that wrote it; a store that
// replaces a key counts only the change in size against its network (and
// moves the key's whole size there from the previous owner's), and a key
// stops counting when its item expires. Puts of the node's own (Set,
// republish, read repair) neither count nor change the owner. The owner
// records are bounded by the storage's MaxItems: beyond, the soonest to
// expire is forgotten first.
type storeQuota struct {
	items     int
	bytes     int64
	maxOwners int
	now       func() time.Time

	mu     sync.Mutex
	owners map[ID]*keyOwner
	expiry ownerHeap
	usage  map[quotaSource]quotaUse
}

// keyOwner is the owner record of one stored key.
type keyOwner struct {
	key     ID
	src     quotaSource
	size    int64
	expires time.Time
	index   int // in the expiry heap
}

// quotaUse is what one source network holds.
type quotaUse struct {
	items int
	bytes int64
}

// newStoreQuota returns the quota for st: quotaShare-th of its bounds,
// at least one largest value. A Storage that does not tell its bounds
// (memoryStorage does; boltstore and the user's do not) is taken to have
// the defaults: 1<<20 items and 256 MiB, so 16,384 items and 4 MiB.
func newStoreQuota(st Storage, now func() time.Time) *storeQuota {
	items, bytes := defaultStorageMaxItems, int64(defaultStorageMaxBytes)
	if b, ok := st.(interface{ bounds() (int, int64) }); ok {
		items, bytes = b.bounds()
	}
	return &storeQuota{
		items:     max(1, items/quotaShare),
		bytes:     max(int64(IDLen+MaxValueSize), bytes/quotaShare),
		maxOwners: max(1, items),
		now:       now,
		owners:    make(map[ID]*keyOwner),
		usage:     make(map[quotaSource]quotaUse),
	}
}

// put runs put, which stores a value of size bytes (itemSize) under key
// and returns its expiry, if src's network has room for it, and records
// src as the key's owner. The caller holds the key's store lock, so
// nothing else puts key meanwhile; put runs under the quota's lock, so
// that concurrent stores from one network cannot overshoot its share.
func (q *storeQuota) put(src quotaSource, key ID, size int64, put func() (time.Time, error)) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.sweep(q.now())
	old := q.owners[key]
	use := q.usage[src]
	if old != nil && old.src == src {
		use.items--
		use.bytes -= old.size
	}
	if use.items+1 > q.items || use.bytes+size > q.bytes {
		return fmt.Errorf("%w (%s: %d items, %d bytes; at most %d, %d)", errOverQuota, src.net, use.items, use.bytes, q.items, q.bytes)
	}
	expires, err := put()
	if err != nil {
		return err
	}
	if old != nil {
		q.drop(old)
	}
	q.add(&keyOwner{key: key, src: src, size: size, expires: expires})
	return nil
}

// add records o, forgetting the soonest to expire when there are too many.
func (q *storeQuota) add(o *keyOwner) {
	for len(q.owners) >= q.maxOwners && len(q.expiry) > 0 {
		q.drop(q.expiry[0])
	}
	q.owners[o.key] = o
	heap.Push(&q.expiry, o)
	u := q.usage[o.src]
	q.usage[o.src] = quotaUse{items: u.items + 1, bytes: u.bytes + o.size}
}

// drop forgets o and takes it off its network's use.
func (q *storeQuota) drop(o *keyOwner) {
	heap.Remove(&q.expiry, o.index)
	delete(q.owners, o.key)
	u := q.usage[o.src]
	if u.items <= 1 {
		delete(q.usage, o.src)
		return
	}
	q.usage[o.src] = quotaUse{items: u.items - 1, bytes: u.bytes - o.size}
}

// sweep forgets the owners of the items expired at now.
func (q *storeQuota) sweep(now time.Time) {
	for len(q.expiry) > 0 && !now.Before(q.expiry[0].expires) {
		q.drop(q.expiry[0])
	}
}

// used returns what src's network holds now, and how many owner records
// are kept (for tests).
func (q *storeQuota) used(src quotaSource) (quotaUse, int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.sweep(q.now())
	return q.usage[src], len(q.owners)
}

// ownerHeap is a min-heap of owner records by expiry.
type ownerHeap []*keyOwner

func (h ownerHeap) Len() int           { return len(h) }
func (h ownerHeap) Less(i, j int) bool { return h[i].expires.Before(h[j].expires) }
func (h ownerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *ownerHeap) Push(x any) {
	o := x.(*keyOwner)
	o.index = len(*h)
	*h = append(*h, o)
}
func (h *ownerHeap) Pop() any {
	old := *h
	o := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return o
}
