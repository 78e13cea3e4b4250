package kademlia

import (
	"container/heap"
	"container/list"
	"fmt"
	"sync"
	"time"
)

// memoryStorage is an in-memory Storage, the Go counterpart of Python's
// ForgetfulStorage with size bounds added. Iteration is oldest first: a Put
// moves its key to the end, as Python's OrderedDict-based storage does.
// Expired items are removed eagerly by every call (a min-heap on expiry
// makes that O(log n) per expired item).
type memoryStorage struct {
	cfg StorageConfig

	mu     sync.Mutex
	items  map[ID]*memItem
	order  *list.List // of *memItem, oldest (least recently put) first
	expiry memExpiryHeap
	bytes  int64
	closed bool
}

var _ Storage = (*memoryStorage)(nil)

type memItem struct {
	key   ID
	value Value
	meta  Meta
	elem  *list.Element
	index int // position in the expiry heap
}

// memExpiryHeap is a min-heap of items ordered by expiry.
type memExpiryHeap []*memItem

func (h memExpiryHeap) Len() int { return len(h) }
func (h memExpiryHeap) Less(i, j int) bool {
	return h[i].meta.Expires.Before(h[j].meta.Expires)
}
func (h memExpiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *memExpiryHeap) Push(x any) {
	it := x.(*memItem)
	it.index = len(*h)
	*h = append(*h, it)
}
func (h *memExpiryHeap) Pop() any {
	old := *h
	n := len(old)
	it := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	it.index = -1
	return it
}

// newMemoryStorage returns an empty memoryStorage configured by cfg (zero
// fields take the Default* values).
func newMemoryStorage(cfg StorageConfig) *memoryStorage {
	return &memoryStorage{
		cfg:   cfg.withDefaults(),
		items: make(map[ID]*memItem),
		order: list.New(),
	}
}

// Put implements Storage.
func (s *memoryStorage) Put(key ID, v Value, opts PutOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("storage put: %w", ErrStorageClosed)
	}
	now := s.cfg.Now()
	s.purgeLocked(now)
	old, exists := s.items[key]
	var oldItem *StoredItem
	size := itemSize(v)
	count, bytes := len(s.items)+1, s.bytes+size
	if exists {
		oldItem = &StoredItem{Key: key, Value: old.value, Meta: old.meta}
		count--
		bytes -= itemSize(old.value)
	}
	meta, err := s.cfg.newMeta(now, v, opts, oldItem)
	if err != nil {
		return err
	}
	if err := s.cfg.checkBounds(count, bytes, key, size); err != nil {
		return err
	}
	if exists {
		old.value, old.meta = v, meta
		s.order.MoveToBack(old.elem)
		heap.Fix(&s.expiry, old.index)
	} else {
		it := &memItem{key: key, value: v, meta: meta}
		it.elem = s.order.PushBack(it)
		heap.Push(&s.expiry, it)
		s.items[key] = it
	}
	s.bytes = bytes
	return nil
}

// Get implements Storage.
func (s *memoryStorage) Get(key ID) (Value, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Value{}, false, fmt.Errorf("storage get: %w", ErrStorageClosed)
	}
	s.purgeLocked(s.cfg.Now())
	it, ok := s.items[key]
	if !ok {
		return Value{}, false, nil
	}
	return it.value, true, nil
}

// Meta implements Storage.
func (s *memoryStorage) Meta(key ID) (Meta, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Meta{}, false, fmt.Errorf("storage meta: %w", ErrStorageClosed)
	}
	it, held := s.items[key]
	if !held || !s.cfg.Now().Before(it.meta.Expires) {
		return Meta{}, false, nil
	}
	return it.meta, true, nil
}

// TTL implements Storage.
func (s *memoryStorage) TTL() time.Duration { return s.cfg.TTL }

// Delete implements Storage.
func (s *memoryStorage) Delete(key ID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("storage delete: %w", ErrStorageClosed)
	}
	if it, ok := s.items[key]; ok {
		heap.Remove(&s.expiry, it.index)
		s.removeLocked(it)
	}
	return nil
}

// Iterate implements Storage, visiting items oldest first. fn runs on a
// snapshot taken when Iterate is called, without holding the lock.
func (s *memoryStorage) Iterate(fn func(key ID, v Value, m Meta) bool) error {
	snap, err := s.snapshot(func(*memItem) bool { return true })
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	for _, it := range snap {
		if !now.Before(it.Meta.Expires) {
			continue // expired while earlier callbacks ran
		}
		if !fn(it.Key, it.Value, it.Meta) {
			break
		}
	}
	return nil
}

// keys implements keyLister: the keys of the unexpired items keep
// accepts, oldest first, copied under the lock (the values are not).
func (s *memoryStorage) keys(keep func(ID) bool) ([]ID, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("storage read: %w", ErrStorageClosed)
	}
	s.purgeLocked(s.cfg.Now())
	var out []ID
	for e := s.order.Front(); e != nil; e = e.Next() {
		if it := e.Value.(*memItem); keep(it.key) {
			out = append(out, it.key)
		}
	}
	return out, nil
}

// bounds returns the storage's MaxItems and MaxBytes (see storeQuota).
func (s *memoryStorage) bounds() (items int, bytes int64) { return s.cfg.MaxItems, s.cfg.MaxBytes }

// OlderThan implements Storage.
func (s *memoryStorage) OlderThan(d time.Duration) ([]StoredItem, error) {
	cutoff := s.cfg.Now().Add(-d)
	items, err := s.snapshot(func(it *memItem) bool { return !it.meta.Stored.After(cutoff) })
	if err != nil {
		return nil, err
	}
	sortItems(items)
	return items, nil
}

// Originals implements Storage.
func (s *memoryStorage) Originals() ([]StoredItem, error) {
	items, err := s.snapshot(func(it *memItem) bool { return it.meta.Original })
	if err != nil {
		return nil, err
	}
	sortItems(items)
	return items, nil
}

// Purge implements Storage.
func (s *memoryStorage) Purge() (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, fmt.Errorf("storage purge: %w", ErrStorageClosed)
	}
	return s.purgeLocked(s.cfg.Now()), nil
}

// Len implements Storage.
func (s *memoryStorage) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0
	}
	s.purgeLocked(s.cfg.Now())
	return len(s.items)
}

// Bytes returns the number of bytes counted against MaxBytes by the
// unexpired items.
func (s *memoryStorage) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0
	}
	s.purgeLocked(s.cfg.Now())
	return s.bytes
}

// Close implements Storage; it drops every item.
func (s *memoryStorage) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.items = nil
	s.order = list.New()
	s.expiry = nil
	s.bytes = 0
	return nil
}

// snapshot returns the unexpired items matching keep, in list order.
func (s *memoryStorage) snapshot(keep func(*memItem) bool) ([]StoredItem, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("storage read: %w", ErrStorageClosed)
	}
	s.purgeLocked(s.cfg.Now())
	out := make([]StoredItem, 0, len(s.items))
	for e := s.order.Front(); e != nil; e = e.Next() {
		it := e.Value.(*memItem)
		if keep(it) {
			out = append(out, StoredItem{Key: it.key, Value: it.value, Meta: it.meta})
		}
	}
	return out, nil
}

// purgeLocked removes every item expired at now and returns how many.
func (s *memoryStorage) purgeLocked(now time.Time) int {
	n := 0
	for len(s.expiry) > 0 && !now.Before(s.expiry[0].meta.Expires) {
		s.removeLocked(heap.Pop(&s.expiry).(*memItem))
		n++
	}
	return n
}

// removeLocked unlinks it from the map and order list (not the heap).
func (s *memoryStorage) removeLocked(it *memItem) {
	s.order.Remove(it.elem)
	delete(s.items, it.key)
	s.bytes -= itemSize(it.value)
}
