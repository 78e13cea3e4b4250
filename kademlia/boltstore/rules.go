package boltstore

import (
	"fmt"
	"math"
	"time"

	"github.com/rpcudp/go-rpcudp/kademlia"
)

// The rules of kademlia.Storage.Put, which this store applies itself.

// withDefaults returns cfg with its zero or negative fields set to the
// defaults kademlia.StorageConfig documents.
func withDefaults(cfg kademlia.StorageConfig) kademlia.StorageConfig {
	out := kademlia.StorageConfig{TTL: 7 * 24 * time.Hour, MaxItems: 1 << 20, MaxBytes: 256 << 20, Now: time.Now}
	if cfg.TTL > 0 {
		out.TTL = cfg.TTL
	}
	if cfg.MaxItems > 0 {
		out.MaxItems = cfg.MaxItems
	}
	if cfg.MaxBytes > 0 {
		out.MaxBytes = cfg.MaxBytes
	}
	if cfg.Now != nil {
		out.Now = cfg.Now
	}
	return out
}

// checkPut refuses what no Put stores: the zero Value, a negative TTL.
func checkPut(v kademlia.Value, opts kademlia.PutOptions) error {
	if v.IsZero() {
		return fmt.Errorf("boltstore: put: %w: cannot store the zero Value", kademlia.ErrValueType)
	}
	if opts.TTL < 0 {
		return fmt.Errorf("boltstore: put: negative TTL %v", opts.TTL)
	}
	return nil
}

// meta returns the Meta of v put at now with opts over old, the unexpired
// item held under the key (nil if none): stored now, expiring after
// opts.TTL (else the store's TTL) or, with KeepExpiry, when old does; an
// original if opts says so or old was one of the same value.
func (s *Store) meta(now time.Time, v kademlia.Value, opts kademlia.PutOptions, old *kademlia.StoredItem) kademlia.Meta {
	ttl := opts.TTL
	if ttl == 0 {
		ttl = s.cfg.TTL
	}
	expires := now.Add(ttl)
	if ns := now.UnixNano(); ns > 0 && int64(ttl) > math.MaxInt64-ns {
		expires = time.Unix(0, math.MaxInt64) // saturate: UnixNano must not overflow
	}
	m := kademlia.Meta{Stored: now, Expires: expires, Original: opts.Original}
	if old == nil {
		return m
	}
	if opts.KeepExpiry {
		m.Expires = old.Meta.Expires
	}
	if old.Meta.Original && old.Value.Equal(v) {
		m.Original = true
	}
	return m
}

// full returns an error wrapping kademlia.ErrStorageFull when items items
// of bytes bytes in all exceed the bounds; key and size are the item put.
func (s *Store) full(items int, bytes int64, key kademlia.ID, size int64) error {
	switch {
	case items > s.cfg.MaxItems:
		return fmt.Errorf("boltstore: put %s: %w: over %d items", key, kademlia.ErrStorageFull, s.cfg.MaxItems)
	case bytes > s.cfg.MaxBytes:
		return fmt.Errorf("boltstore: put %s (%d bytes): %w: over %d bytes", key, size, kademlia.ErrStorageFull, s.cfg.MaxBytes)
	}
	return nil
}
