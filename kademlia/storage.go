package kademlia

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"time"
)

// ErrStorageFull is returned (wrapped) by Storage.Put when storing the value
// would exceed StorageConfig.MaxItems or StorageConfig.MaxBytes.
var ErrStorageFull = errors.New("kademlia: storage full")

// ErrStorageClosed is returned (wrapped) by Storage methods called after
// Close.
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

// StorageConfig configures a Storage implementation. Zero (or negative)
// fields take the defaults given in their comments.
type StorageConfig struct {
	// TTL is the lifetime of an item put without PutOptions.TTL (default
	// one week).
	TTL time.Duration
	// MaxItems is the maximum number of items held at once (default
	// 1<<20).
	MaxItems int
	// MaxBytes is the maximum of the sum over items of the key size (20)
	// plus the msgpack-encoded value size (Value.Len) (default 256 MiB).
	MaxBytes int64
	// Now is the clock; nil means time.Now. Tests inject a fake clock.
	Now func() time.Time
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
	// TTL is the item's lifetime from now; 0 means the storage default.
	// Negative TTLs are rejected.
	TTL time.Duration
	// Original marks the item as published by this node, which must
	// republish it every 24 hours (see Storage.Originals). Putting the
	// same value again without Original keeps an existing Original flag;
	// putting a different value replaces the flag with this one.
	Original bool
	// KeepExpiry marks a republish: when the key is already stored, its
	// Stored time is refreshed (and the value replaced) but its expiry is
	// not extended. For a new key it has no effect.
	KeepExpiry bool
}

// Meta is the bookkeeping kept with each stored item.
type Meta struct {
	// Stored is the last time the item was (re)published to this node.
	Stored time.Time
	// Expires is when the item disappears unless extended by a new Put.
	Expires time.Time
	// Original reports that this node is the item's original publisher.
	Original bool
}

// StoredItem is one item returned by Storage.OlderThan and
// Storage.Originals.
type StoredItem struct {
	Key   ID    // the 20-byte key digest
	Value Value // the stored value
	Meta  Meta  // publish and expiry bookkeeping
}

// Storage holds the values this node stores for the DHT. Implementations
// must be safe for concurrent use.
//
// Expired items (now >= Meta.Expires) are invisible to every method and are
// purged lazily; Purge removes them eagerly. Callbacks and returned slices
// never hold internal locks, so fn passed to Iterate may call other methods
// of the same Storage.
type Storage interface {
	// Put stores v under key, replacing any previous value. It returns an
	// error wrapping ErrStorageFull when the item would exceed MaxItems or
	// MaxBytes (replacing an existing key only counts the size change), and
	// an error wrapping ErrValueType for the zero Value.
	Put(key ID, v Value, opts PutOptions) error
	// Get returns the value stored under key and whether it was found.
	Get(key ID) (Value, bool, error)
	// Delete removes key; deleting a missing key is not an error.
	Delete(key ID) error
	// Iterate calls fn for every unexpired item, stopping when fn returns
	// false. Items put or deleted during the iteration may or may not be
	// visited.
	Iterate(fn func(key ID, v Value, m Meta) bool) error
	// OlderThan returns the unexpired items last published at least d ago
	// (Stored <= now-d, as Python's iter_older_than), oldest first. It is
	// the hourly republish set; OlderThan(0) returns every item.
	OlderThan(d time.Duration) ([]StoredItem, error)
	// Originals returns the unexpired items this node originally
	// published (Meta.Original), oldest first, for the 24-hour republish.
	Originals() ([]StoredItem, error)
	// Purge removes expired items now and returns how many it removed.
	Purge() (int, error)
	// Meta returns the bookkeeping of the unexpired item under key (when
	// it was last stored, when it expires) and whether key is held. The
	// node skips the hourly republish of a key stored again meanwhile.
	Meta(key ID) (Meta, bool, error)
	// TTL returns the lifetime of an item put without PutOptions.TTL. The
	// node gives cache stores a fraction of it.
	TTL() time.Duration
	// Len returns the number of unexpired items (0 after Close).
	Len() int
	// Close releases resources. Later calls return ErrStorageClosed;
	// closing twice is not an error.
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
