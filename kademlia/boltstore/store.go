// Package boltstore is a persistent kademlia.Storage on a bbolt database
// file. It lives apart from package kademlia so that a program using only
// the in-memory default storage does not pull bbolt in.
//
//	st, err := boltstore.Open("dht.db", kademlia.StorageConfig{})
//	defer st.Close()
//	n, err := kademlia.Listen(ctx, "0.0.0.0:8468", kademlia.Config{Storage: st})
package boltstore

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rpcudp/go-rpcudp/kademlia"
	"go.etcd.io/bbolt"
)

// ErrLocked is returned (wrapped, together with bbolt.ErrTimeout) by Open
// when another opener holds the database file.
var ErrLocked = errors.New("boltstore: file is locked by another opener")

// openTimeout is how long Open waits for the file lock.
const openTimeout = time.Second

// errRollback aborts a write transaction that changed nothing.
var errRollback = errors.New("boltstore: rollback")

// Store is a persistent kademlia.Storage on a bbolt database file. Values
// and their metadata survive Close and reopening; expired items are purged
// on open and lazily afterwards. Iterate visits items in key order.
type Store struct {
	cfg    kademlia.StorageConfig
	path   string
	db     *bbolt.DB
	closed atomic.Bool
	batch  int // items per Iterate read transaction

	mu         sync.Mutex // serialises writes; guards the fields below
	count      int
	bytes      int64
	nextExpiry int64 // lower bound on the earliest expiry (Unix nanos)
}

var _ kademlia.Storage = (*Store)(nil)

// Open opens (creating if needed) the bbolt database at path as a Storage
// configured by cfg. It waits at most one second for the file lock; if
// another opener holds it the error wraps ErrLocked and bbolt.ErrTimeout.
// A file that is not a valid store is an error naming it. Expired items
// are purged and the item count and byte total are computed at open;
// existing items beyond smaller bounds are kept but block further growth.
func Open(path string, cfg kademlia.StorageConfig) (s *Store, err error) {
	cfg = withDefaults(cfg)
	db, err := openBolt(path)
	if err != nil {
		if errors.Is(err, bbolt.ErrTimeout) {
			return nil, fmt.Errorf("boltstore: open %s: %w (waited %v): %w", path, ErrLocked, openTimeout, err)
		}
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	s = &Store{cfg: cfg, path: path, db: db, batch: iterateBatch}
	defer func() {
		// bbolt panics on some corrupt pages; a bad file is an error.
		if p := recover(); p != nil {
			err = fmt.Errorf("boltstore: open %s: corrupt database: %v", path, p)
		}
		if err != nil {
			_ = db.Close()
			s = nil
		}
	}()
	if err := s.load(); err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	return s, nil
}

// openBolt opens the bbolt database at path. bbolt panics on some corrupt
// files while it opens them (an invalid freelist page, for one): that is
// an error too. (The file bbolt had opened then stays open, and locked,
// until the process exits: bbolt gives no way back to it.)
func openBolt(path string) (db *bbolt.DB, err error) {
	defer func() {
		if p := recover(); p != nil {
			db, err = nil, fmt.Errorf("corrupt database: %v", p)
		}
	}()
	return bbolt.Open(path, 0o600, &bbolt.Options{Timeout: openTimeout})
}

// load validates every record, drops expired ones, rebuilds the expiry
// index and computes the counters.
func (s *Store) load() error {
	now := s.cfg.Now().UnixNano()
	s.count, s.bytes, s.nextExpiry = 0, 0, math.MaxInt64
	return s.db.Update(func(tx *bbolt.Tx) error {
		items, err := tx.CreateBucketIfNotExists(itemsBucket)
		if err != nil {
			return err
		}
		if tx.Bucket(expiryBucket) != nil {
			if err := tx.DeleteBucket(expiryBucket); err != nil {
				return err
			}
		}
		index, err := tx.CreateBucket(expiryBucket)
		if err != nil {
			return err
		}
		var expired [][]byte
		c := items.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			_, r, err := readItem(k, v)
			if err != nil {
				return err
			}
			if now >= r.expires {
				expired = append(expired, bytes.Clone(k))
				continue
			}
			if err := index.Put(expiryKey(r.expires, k), nil); err != nil {
				return err
			}
			s.count++
			s.bytes += r.size()
			s.nextExpiry = min(s.nextExpiry, r.expires)
		}
		for _, k := range expired {
			if err := items.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// putResult is what a put transaction did.
type putResult struct {
	purged  int   // expired items removed on the way
	freed   int64 // their bytes
	next    int64 // earliest remaining expiry after the purge
	count   int   // items after the put
	bytes   int64 // bytes after the put
	expires int64 // the new item's expiry
	full    error // the bounds refused the item (the purge is kept)
}

// Put implements kademlia.Storage.
func (s *Store) Put(key kademlia.ID, v kademlia.Value, opts kademlia.PutOptions) error {
	if err := checkPut(v, opts); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return fmt.Errorf("boltstore: put: %w", kademlia.ErrStorageClosed)
	}
	var res putResult
	err := s.db.Update(func(tx *bbolt.Tx) error { return s.putTx(tx, key, v, opts, &res) })
	switch {
	case errors.Is(err, errRollback):
		return res.full
	case err != nil:
		return fmt.Errorf("boltstore: put %s: %w", key, s.mapErr(err))
	}
	s.count -= res.purged
	s.bytes -= res.freed
	s.nextExpiry = res.next
	if res.full != nil {
		return res.full // the purge was committed; the new item was not stored
	}
	s.count, s.bytes = res.count, res.bytes
	s.nextExpiry = min(res.next, res.expires)
	return nil
}

// putTx purges expired items, checks the bounds and writes the item.
func (s *Store) putTx(tx *bbolt.Tx, key kademlia.ID, v kademlia.Value, opts kademlia.PutOptions, res *putResult) error {
	items, index := tx.Bucket(itemsBucket), tx.Bucket(expiryBucket)
	now := s.cfg.Now()
	var err error
	if res.purged, res.freed, res.next, err = purgeTx(items, index, now.UnixNano()); err != nil {
		return err
	}
	size := int64(kademlia.IDLen) + int64(v.Len())
	res.count, res.bytes = s.count-res.purged+1, s.bytes-res.freed+size
	var old *kademlia.StoredItem
	if b := items.Get(key[:]); b != nil {
		it, r, err := readItem(key[:], b)
		if err != nil {
			return err
		}
		old = &it
		res.count--
		res.bytes -= r.size()
	}
	if res.full = s.full(res.count, res.bytes, key, size); res.full != nil {
		if res.purged == 0 {
			return errRollback
		}
		return nil // commit the purge
	}
	meta := s.meta(now, v, opts, old)
	res.expires = meta.Expires.UnixNano()
	if old != nil && old.Meta.Expires.UnixNano() != res.expires {
		if err := index.Delete(expiryKey(old.Meta.Expires.UnixNano(), key[:])); err != nil {
			return err
		}
	}
	if err := items.Put(key[:], encodeRecord(meta, v)); err != nil {
		return err
	}
	return index.Put(expiryKey(res.expires, key[:]), nil)
}

// lookup reads the unexpired item under key; expired reports an item
// past its expiry (to purge).
func (s *Store) lookup(key kademlia.ID) (it kademlia.StoredItem, found, expired bool, err error) {
	if s.closed.Load() {
		return it, false, false, kademlia.ErrStorageClosed
	}
	now := s.cfg.Now().UnixNano()
	err = s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(itemsBucket).Get(key[:])
		if b == nil {
			return nil
		}
		var r record
		var err error
		if it, r, err = readItem(key[:], b); err != nil {
			return err
		}
		found, expired = now < r.expires, now >= r.expires
		return nil
	})
	return it, found, expired, s.mapErr(err)
}

// Get implements kademlia.Storage.
func (s *Store) Get(key kademlia.ID) (kademlia.Value, bool, error) {
	it, found, expired, err := s.lookup(key)
	if err != nil {
		return kademlia.Value{}, false, fmt.Errorf("boltstore: get %s: %w", key, err)
	}
	if expired {
		// Lazy purge; failure only delays reclaiming space.
		_, _ = s.purge(false)
	}
	if !found {
		return kademlia.Value{}, false, nil
	}
	return it.Value, true, nil
}

// Meta implements kademlia.Storage.
func (s *Store) Meta(key kademlia.ID) (kademlia.Meta, bool, error) {
	it, found, _, err := s.lookup(key)
	if err != nil {
		return kademlia.Meta{}, false, fmt.Errorf("boltstore: meta %s: %w", key, err)
	}
	if !found {
		return kademlia.Meta{}, false, nil
	}
	return it.Meta, true, nil
}

// TTL implements kademlia.Storage.
func (s *Store) TTL() time.Duration { return s.cfg.TTL }

// Delete implements kademlia.Storage.
func (s *Store) Delete(key kademlia.ID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return fmt.Errorf("boltstore: delete: %w", kademlia.ErrStorageClosed)
	}
	var freed int64
	err := s.db.Update(func(tx *bbolt.Tx) error {
		items, index := tx.Bucket(itemsBucket), tx.Bucket(expiryBucket)
		b := items.Get(key[:])
		if b == nil {
			return errRollback
		}
		r, err := decodeRecord(b)
		if err != nil {
			return fmt.Errorf("corrupt item %s: %w", key, err)
		}
		freed = r.size()
		if err := index.Delete(expiryKey(r.expires, key[:])); err != nil {
			return err
		}
		return items.Delete(key[:])
	})
	switch {
	case errors.Is(err, errRollback):
		return nil
	case err != nil:
		return fmt.Errorf("boltstore: delete %s: %w", key, s.mapErr(err))
	}
	s.count--
	s.bytes -= freed
	return nil
}

// Len implements kademlia.Storage.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return 0
	}
	_, _ = s.purgeLocked(false)
	return s.count
}

// Bytes returns the number of bytes counted against MaxBytes by the
// unexpired items.
func (s *Store) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return 0
	}
	_, _ = s.purgeLocked(false)
	return s.bytes
}

// Path returns the database file path.
func (s *Store) Path() string { return s.path }

// Close implements kademlia.Storage; it closes the database file, waiting
// for running read transactions.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Swap(true) {
		return nil
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("boltstore: close %s: %w", s.path, err)
	}
	return nil
}

// mapErr turns bbolt's "database not open" into ErrStorageClosed.
func (s *Store) mapErr(err error) error {
	if errors.Is(err, bbolt.ErrDatabaseNotOpen) || errors.Is(err, bbolt.ErrTxClosed) {
		return fmt.Errorf("%w: %w", kademlia.ErrStorageClosed, err)
	}
	return err
}
