package kademlia

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"time"
)

// ErrStorageFull: a Storage.Put would exceed the storage's bounds.
var ErrStorageFull = errors.New("kademlia: storage full")

// ErrStorageClosed: a Storage method was called after Close.
var ErrStorageClosed = errors.New("kademlia: storage closed")

// Storage defaults, used for zero (or negative) StorageConfig fields.
const (
	// defaultStorageTTL: one week, as Python's ForgetfulStorage.
	defaultStorageTTL = 7 * 24 * time.Hour
	// defaultStorageMaxItems bounds the number of stored items.
	defaultStorageMaxItems = 1 << 20
	// defaultStorageMaxBytes bounds the sum of key and value sizes (256 MiB).
	defaultStorageMaxBytes = 256 << 20
)

// StorageConfig configures a Storage (boltstore.Open's); zero or negative
// fields take the defaults in their comments.
type StorageConfig struct {
	// TTL is the lifetime of an item put without PutOptions.TTL (default
	// one week); MaxItems bounds the items (default 1<<20), MaxBytes
	// their keys' and Value.Len's sum (default 256 MiB); Now is the
	// clock (default time.Now).
	TTL      time.Duration
	MaxItems int
	MaxBytes int64
	Now      func() time.Time
}

// withDefaults returns c with zero or negative fields replaced by the
// defaults.
func (c StorageConfig) withDefaults() StorageConfig {
	if c.TTL <= 0 {
		c.TTL = defaultStorageTTL
	}
	if c.MaxItems <= 0 {
		c.MaxItems = defaultStorageMaxItems
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = defaultStorageMaxBytes
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// PutOptions qualifies a Storage.Put.
type PutOptions struct {
	// TTL is the item's lifetime (0: the storage's; negative: an error).
	TTL time.Duration
	// Original marks the node's own item (the same value put again
	// without it keeps it); KeepExpiry keeps a held key's expiry.
	Original, KeepExpiry bool
}

// Meta is the bookkeeping kept with each stored item.
type Meta struct {
	// Stored is when the item was last put, Expires when it disappears;
	// Original reports that this node published it.
	Stored, Expires time.Time
	Original        bool
}

// StoredItem is an item of Storage.OlderThan and Storage.Originals.
type StoredItem struct {
	Key   ID    // the 20-byte key digest
	Value Value // the stored value
	Meta  Meta  // publish and expiry bookkeeping
}

// Storage holds the values a node stores (boltstore has one on disk). It
// must be safe for concurrent use; expired items (now >= Meta.Expires) are
// invisible; fn given to Iterate may call the Storage; after Close, calls
// fail with ErrStorageClosed (a second Close does not).
type Storage interface {
	// Put stores v under key (ErrStorageFull over the bounds, counting a
	// replaced key's size change only; ErrValueType for the zero Value).
	Put(key ID, v Value, opts PutOptions) error
	// Get returns the value under key, if held; Delete removes it (a
	// missing key is not an error).
	Get(key ID) (Value, bool, error)
	Delete(key ID) error
	// Iterate calls fn for every item until fn returns false.
	Iterate(fn func(key ID, v Value, m Meta) bool) error
	// OlderThan returns the items stored at least d ago, Originals those
	// with Meta.Original, oldest first (for the republishes).
	OlderThan(d time.Duration) ([]StoredItem, error)
	Originals() ([]StoredItem, error)
	// Purge removes the expired items now and returns how many; Meta
	// returns an item's bookkeeping; TTL the lifetime of an item put
	// without PutOptions.TTL; Len the number of items (0 after Close).
	Purge() (int, error)
	Meta(key ID) (Meta, bool, error)
	TTL() time.Duration
	Len() int
	Close() error
}

// itemSize is the number of bytes an item counts against MaxBytes.
func itemSize(v Value) int64 { return int64(IDLen) + int64(v.Len()) }

// expiryFor returns the expiry time of an item put at now with ttl,
// saturating far in the future instead of overflowing.
func expiryFor(now time.Time, ttl time.Duration) time.Time {
	const maxNanos = math.MaxInt64
	n := now.UnixNano()
	if n > 0 && int64(ttl) > maxNanos-n {
		return time.Unix(0, maxNanos)
	}
	return now.Add(ttl)
}

// newMeta applies the rules of Storage.Put: it returns the Meta of v put at now with
// opts over old, the unexpired item held under the key (nil if none). The
// zero Value is an error wrapping ErrValueType, a negative TTL an error.
// Stored is now; Expires is now plus opts.TTL (or c.TTL), or old's with
// KeepExpiry; Original is opts.Original, or old's for an equal value.
func (c StorageConfig) newMeta(now time.Time, v Value, opts PutOptions, old *StoredItem) (Meta, error) {
	if v.IsZero() {
		return Meta{}, fmt.Errorf("%w: cannot store the zero Value", ErrValueType)
	}
	ttl := opts.TTL
	switch {
	case ttl < 0:
		return Meta{}, fmt.Errorf("kademlia: storage put: negative TTL %v", opts.TTL)
	case ttl == 0:
		ttl = c.TTL
	}
	m := Meta{Stored: now, Expires: expiryFor(now, ttl), Original: opts.Original}
	if old != nil {
		if opts.KeepExpiry {
			m.Expires = old.Meta.Expires
		}
		m.Original = opts.Original || (old.Meta.Original && old.Value.Equal(v))
	}
	return m, nil
}

// checkBounds returns an error wrapping ErrStorageFull when items items
// totalling bytes bytes (keys of 20 bytes plus Value.Len) exceed
// c.MaxItems or c.MaxBytes; key and size name the item being put.
func (c StorageConfig) checkBounds(items int, bytes int64, key ID, size int64) error {
	if items > c.MaxItems {
		return fmt.Errorf("%w: storing key %s would exceed %d items", ErrStorageFull, key, c.MaxItems)
	}
	if bytes > c.MaxBytes {
		return fmt.Errorf("%w: storing key %s (%d bytes) would exceed %d bytes", ErrStorageFull, key, size, c.MaxBytes)
	}
	return nil
}

// sortItems orders items oldest first (by Stored, then key).
func sortItems(items []StoredItem) {
	sort.SliceStable(items, func(i, j int) bool {
		a, b := items[i].Meta.Stored, items[j].Meta.Stored
		if !a.Equal(b) {
			return a.Before(b)
		}
		return items[i].Key.less(items[j].Key)
	})
}
