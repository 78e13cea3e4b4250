package boltstore

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/rpcudp/go-rpcudp/kademlia"
	"go.etcd.io/bbolt"
)

// Iterate implements kademlia.Storage, visiting items in key order. Items
// are read in short read transactions of a few hundred at a time and fn
// runs outside any transaction.
func (s *Store) Iterate(fn func(key kademlia.ID, v kademlia.Value, m kademlia.Meta) bool) error {
	var after []byte
	for {
		batch, done, err := s.readBatch(&after)
		if err != nil {
			return err
		}
		for _, it := range batch {
			if !fn(it.Key, it.Value, it.Meta) {
				return nil
			}
		}
		if done {
			return nil
		}
	}
}

// readBatch reads the next unexpired items after *after (from the first
// when nil), advancing it; done reports the end of the items.
func (s *Store) readBatch(after *[]byte) (batch []kademlia.StoredItem, done bool, err error) {
	if s.closed.Load() {
		return nil, false, fmt.Errorf("boltstore: iterate: %w", kademlia.ErrStorageClosed)
	}
	now := s.cfg.Now().UnixNano()
	batch = make([]kademlia.StoredItem, 0, s.batch)
	err = s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(itemsBucket).Cursor()
		var k, v []byte
		if *after == nil {
			k, v = c.First()
		} else if k, v = c.Seek(*after); k != nil && bytes.Equal(k, *after) {
			k, v = c.Next()
		}
		for ; k != nil && len(batch) < s.batch; k, v = c.Next() {
			*after = bytes.Clone(k)
			it, r, err := readItem(k, v)
			if err != nil {
				return err
			}
			if now < r.expires {
				batch = append(batch, it)
			}
		}
		done = k == nil
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("boltstore: iterate: %w", s.mapErr(err))
	}
	return batch, done, nil
}

// OlderThan implements kademlia.Storage.
func (s *Store) OlderThan(d time.Duration) ([]kademlia.StoredItem, error) {
	cutoff := s.cfg.Now().Add(-d).UnixNano()
	return s.collect(func(r record) bool { return r.stored <= cutoff })
}

// Originals implements kademlia.Storage.
func (s *Store) Originals() ([]kademlia.StoredItem, error) {
	return s.collect(func(r record) bool { return r.original })
}

// collect returns the unexpired items matching keep, oldest first.
func (s *Store) collect(keep func(record) bool) ([]kademlia.StoredItem, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("boltstore: read: %w", kademlia.ErrStorageClosed)
	}
	now := s.cfg.Now().UnixNano()
	var out []kademlia.StoredItem
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(itemsBucket).ForEach(func(k, v []byte) error {
			it, r, err := readItem(k, v)
			if err != nil {
				return err
			}
			if now < r.expires && keep(r) {
				out = append(out, it)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: read: %w", s.mapErr(err))
	}
	sortItems(out)
	return out, nil
}

// Purge implements kademlia.Storage.
func (s *Store) Purge() (int, error) { return s.purge(true) }

// purge removes expired items. Unless force is set it skips the write
// transaction when nothing can have expired yet.
func (s *Store) purge(force bool) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.purgeLocked(force)
}

func (s *Store) purgeLocked(force bool) (int, error) {
	if s.closed.Load() {
		return 0, fmt.Errorf("boltstore: purge: %w", kademlia.ErrStorageClosed)
	}
	now := s.cfg.Now().UnixNano()
	if !force && now < s.nextExpiry {
		return 0, nil
	}
	var (
		purged int
		freed  int64
		next   int64
	)
	err := s.db.Update(func(tx *bbolt.Tx) error {
		var err error
		purged, freed, next, err = purgeTx(tx.Bucket(itemsBucket), tx.Bucket(expiryBucket), now)
		if err == nil && purged == 0 {
			return errRollback
		}
		return err
	})
	if err != nil && !errors.Is(err, errRollback) {
		return 0, fmt.Errorf("boltstore: purge: %w", s.mapErr(err))
	}
	s.count -= purged
	s.bytes -= freed
	s.nextExpiry = next
	return purged, nil
}
