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
	// DefaultStorageTTL is how long a stored value lives unless it is
	// published again: one week, as Python's ForgetfulStorage.
	DefaultStorageTTL = 7 * 24 * time.Hour
	// DefaultStorageMaxItems bounds the number of stored items.
	DefaultStorageMaxItems = 1 << 20
	// DefaultStorageMaxBytes bounds the sum of key and value sizes (256 MiB).
	DefaultStorageMaxBytes = 256 << 20
)

// StorageConfig configures a Storage implementation. Zero fields take the
// defaults above.
type StorageConfig struct {
	// TTL is the lifetime of an item put without PutOptions.TTL.
	TTL time.Duration
	// MaxItems is the maximum number of items held at once.
	MaxItems int
	// MaxBytes is the maximum of the sum over items of the key size (20)
	// plus the msgpack-encoded value size (Value.Len).
	MaxBytes int64
	// Now is the clock; nil means time.Now. Tests inject a fake clock.
	Now func() time.Time
}

// withDefaults returns c with zero or negative fields replaced by defaults.
func (c StorageConfig) withDefaults() StorageConfig {
	if c.TTL <= 0 {
		c.TTL = DefaultStorageTTL
	}
	if c.MaxItems <= 0 {
		c.MaxItems = DefaultStorageMaxItems
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = DefaultStorageMaxBytes
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
	// Len returns the number of unexpired items (0 after Close).
	Len() int
	// Close releases resources. Later calls return ErrStorageClosed;
	// closing twice is not an error.
	Close() error
}

// itemSize is the number of bytes an item counts against MaxBytes.
func itemSize(v Value) int64 { return int64(len(ID{})) + int64(v.Len()) }

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

// resolveTTL validates opts.TTL and applies the storage default.
func resolveTTL(opts PutOptions, def time.Duration) (time.Duration, error) {
	switch {
	case opts.TTL < 0:
		return 0, fmt.Errorf("kademlia: storage put: negative TTL %v", opts.TTL)
	case opts.TTL == 0:
		return def, nil
	}
	return opts.TTL, nil
}

// checkPutValue rejects values that cannot be stored.
func checkPutValue(v Value) error {
	if v.IsZero() {
		return fmt.Errorf("%w: cannot store the zero Value", ErrValueType)
	}
	return nil
}

// checkBounds reports ErrStorageFull when count items totalling bytes exceed
// the configured bounds.
func checkBounds(cfg StorageConfig, count int, bytes int64, key ID, size int64) error {
	if count > cfg.MaxItems {
		return fmt.Errorf("%w: storing key %s would exceed %d items", ErrStorageFull, key, cfg.MaxItems)
	}
	if bytes > cfg.MaxBytes {
		return fmt.Errorf("%w: storing key %s (%d bytes) would exceed %d bytes", ErrStorageFull, key, size, cfg.MaxBytes)
	}
	return nil
}

// mergeOriginal computes the Original flag of a replaced item.
func mergeOriginal(opts PutOptions, hadOld bool, oldOriginal bool, oldValue, v Value) bool {
	return opts.Original || (hadOld && oldOriginal && oldValue.Equal(v))
}

// sortItems orders items oldest first (by Stored, then key).
func sortItems(items []StoredItem) {
	sort.SliceStable(items, func(i, j int) bool {
		a, b := items[i].Meta.Stored, items[j].Meta.Stored
		if !a.Equal(b) {
			return a.Before(b)
		}
		return items[i].Key.Less(items[j].Key)
	})
}
