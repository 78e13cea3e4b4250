package kademlia

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
)

// ErrStorageLocked is returned (wrapped, together with bbolt.ErrTimeout) by
// OpenBoltStorage when another opener holds the database file.
var ErrStorageLocked = errors.New("kademlia: storage file is locked by another opener")

// boltOpenTimeout is how long OpenBoltStorage waits for the file lock.
const boltOpenTimeout = time.Second

// Bolt layout. The items bucket maps a 20-byte key to a record; the expiry
// bucket is an index whose keys are an 8-byte order-preserving expiry
// followed by the 20-byte item key (values empty), so expired items are
// found without scanning every item. The index is rebuilt on open.
const (
	boltItemsBucketName  = "kademlia.items"
	boltExpiryBucketName = "kademlia.expiry"
)

func boltItemsBucket() []byte  { return []byte(boltItemsBucketName) }
func boltExpiryBucket() []byte { return []byte(boltExpiryBucketName) }

// Record layout (big-endian):
//
//	[0]     format version (boltRecordVersion)
//	[1]     flags (bit 0: Original)
//	[2:10]  Stored, Unix nanoseconds
//	[10:18] Expires, Unix nanoseconds
//	[18:]   the value's msgpack encoding
const (
	boltRecordVersion  = 1
	boltRecordHeader   = 18
	boltFlagOriginal   = 1
	boltIterateBatch   = 256
	boltExpiryKeyLen   = 8 + IDLen
	boltExpirySignFlip = uint64(1) << 63
)

// BoltStorage is a persistent Storage on a bbolt database file. Values and
// their metadata survive Close and reopening; expired items are purged on
// open and lazily afterwards. Iterate visits items in key order.
type BoltStorage struct {
	cfg    StorageConfig
	path   string
	db     *bbolt.DB
	closed atomic.Bool
	batch  int // items per Iterate read transaction

	mu         sync.Mutex // serialises writes; guards the fields below
	count      int
	bytes      int64
	nextExpiry int64 // lower bound on the earliest expiry (Unix nanos)
}

var _ Storage = (*BoltStorage)(nil)

// boltRecord is a decoded record.
type boltRecord struct {
	stored, expires int64
	original        bool
	raw             []byte // aliases bbolt memory until copied
}

func encodeBoltRecord(r boltRecord) []byte {
	b := make([]byte, boltRecordHeader, boltRecordHeader+len(r.raw))
	b[0] = boltRecordVersion
	if r.original {
		b[1] = boltFlagOriginal
	}
	binary.BigEndian.PutUint64(b[2:], uint64(r.stored))
	binary.BigEndian.PutUint64(b[10:], uint64(r.expires))
	return append(b, r.raw...)
}

func decodeBoltRecord(b []byte) (boltRecord, error) {
	if len(b) <= boltRecordHeader {
		return boltRecord{}, fmt.Errorf("record of %d bytes is too short", len(b))
	}
	if b[0] != boltRecordVersion {
		return boltRecord{}, fmt.Errorf("unknown record version %d", b[0])
	}
	return boltRecord{
		original: b[1]&boltFlagOriginal != 0,
		stored:   int64(binary.BigEndian.Uint64(b[2:])),
		expires:  int64(binary.BigEndian.Uint64(b[10:])),
		raw:      b[boltRecordHeader:],
	}, nil
}

// item converts r into a StoredItem, copying the value out of bbolt memory.
func (r boltRecord) item(key ID) StoredItem {
	return StoredItem{
		Key:   key,
		Value: Value{raw: bytes.Clone(r.raw)},
		Meta: Meta{
			Stored:   time.Unix(0, r.stored),
			Expires:  time.Unix(0, r.expires),
			Original: r.original,
		},
	}
}

func (r boltRecord) size() int64 { return int64(IDLen) + int64(len(r.raw)) }

// storedAt returns the Stored time of key (see storedAt in
// maintenance.go); ok is false if key is not held or cannot be read.
func (s *BoltStorage) storedAt(key ID) (stored time.Time, ok bool) {
	if s.closed.Load() {
		return time.Time{}, false
	}
	now := s.cfg.Now().UnixNano()
	_ = s.db.View(func(tx *bbolt.Tx) error {
		if r, err := decodeBoltRecord(tx.Bucket(boltItemsBucket()).Get(key[:])); err == nil && now < r.expires {
			stored, ok = time.Unix(0, r.stored), true
		}
		return nil
	})
	return stored, ok
}

func boltExpiryKey(expires int64, key []byte) []byte {
	k := make([]byte, boltExpiryKeyLen)
	binary.BigEndian.PutUint64(k, uint64(expires)^boltExpirySignFlip)
	copy(k[8:], key)
	return k
}

func boltExpiryOf(indexKey []byte) int64 {
	return int64(binary.BigEndian.Uint64(indexKey) ^ boltExpirySignFlip)
}

// OpenBoltStorage opens (creating if needed) the bbolt database at path as
// a Storage configured by cfg. It waits at most one second for the file
// lock; if another opener holds it the error wraps ErrStorageLocked and
// bbolt.ErrTimeout. Expired items are purged and the item count and byte
// total are computed at open; existing items beyond smaller bounds are kept
// but block further growth.
func OpenBoltStorage(path string, cfg StorageConfig) (*BoltStorage, error) {
	cfg = cfg.withDefaults()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: boltOpenTimeout})
	if err != nil {
		if errors.Is(err, bbolt.ErrTimeout) {
			return nil, fmt.Errorf("kademlia: open bolt storage %s: %w (waited %v): %w", path, ErrStorageLocked, boltOpenTimeout, err)
		}
		return nil, fmt.Errorf("kademlia: open bolt storage %s: %w", path, err)
	}
	s := &BoltStorage{cfg: cfg, path: path, db: db, batch: boltIterateBatch}
	if err := s.load(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("kademlia: open bolt storage %s: %w", path, err)
	}
	return s, nil
}

// load validates every record, drops expired ones, rebuilds the expiry
// index and computes the counters.
func (s *BoltStorage) load() error {
	now := s.cfg.Now().UnixNano()
	count, total, next := 0, int64(0), int64(math.MaxInt64)
	err := s.db.Update(func(tx *bbolt.Tx) error {
		items, err := tx.CreateBucketIfNotExists(boltItemsBucket())
		if err != nil {
			return err
		}
		if tx.Bucket(boltExpiryBucket()) != nil {
			if err := tx.DeleteBucket(boltExpiryBucket()); err != nil {
				return err
			}
		}
		index, err := tx.CreateBucket(boltExpiryBucket())
		if err != nil {
			return err
		}
		var expired [][]byte
		c := items.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(k) != IDLen {
				return fmt.Errorf("corrupt item key %x: not %d bytes", k, IDLen)
			}
			r, err := decodeBoltRecord(v)
			if err != nil {
				return fmt.Errorf("corrupt item %x: %w", k, err)
			}
			if _, err := ValueFromMsgpack(r.raw); err != nil {
				return fmt.Errorf("corrupt item %x: %w", k, err)
			}
			if now >= r.expires {
				expired = append(expired, bytes.Clone(k))
				continue
			}
			if err := index.Put(boltExpiryKey(r.expires, k), nil); err != nil {
				return err
			}
			count++
			total += r.size()
			next = min(next, r.expires)
		}
		for _, k := range expired {
			if err := items.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.count, s.bytes, s.nextExpiry = count, total, next
	return nil
}

// errBoltRollback aborts a write transaction that changed nothing.
var errBoltRollback = errors.New("kademlia: rollback")

// Put implements Storage.
func (s *BoltStorage) Put(key ID, v Value, opts PutOptions) error {
	if err := checkPutValue(v); err != nil {
		return err
	}
	ttl, err := resolveTTL(opts, s.cfg.TTL)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return fmt.Errorf("kademlia: storage put: %w", ErrStorageClosed)
	}
	now := s.cfg.Now()
	nowNanos := now.UnixNano()
	size := itemSize(v)

	var (
		purged     int
		freed      int64
		next       int64
		newCount   int
		newBytes   int64
		newExpires int64
		fullErr    error
	)
	err = s.db.Update(func(tx *bbolt.Tx) error {
		items, index := tx.Bucket(boltItemsBucket()), tx.Bucket(boltExpiryBucket())
		var err error
		purged, freed, next, err = boltPurgeTx(items, index, nowNanos)
		if err != nil {
			return err
		}
		newCount, newBytes = s.count-purged+1, s.bytes-freed+size
		rec := boltRecord{
			stored:   nowNanos,
			expires:  expiryFor(now, ttl).UnixNano(),
			original: opts.Original,
			raw:      v.raw,
		}
		old, exists := items.Get(key[:]), false
		var oldRec boltRecord
		if old != nil {
			if oldRec, err = decodeBoltRecord(old); err != nil {
				return fmt.Errorf("corrupt item %s: %w", key, err)
			}
			exists = true
			newCount--
			newBytes -= oldRec.size()
		}
		if fullErr = checkBounds(s.cfg, newCount, newBytes, key, size); fullErr != nil {
			if purged == 0 {
				return errBoltRollback
			}
			return nil // commit the purge
		}
		if exists {
			if opts.KeepExpiry {
				rec.expires = oldRec.expires
			}
			rec.original = mergeOriginal(opts, true, oldRec.original, Value{raw: oldRec.raw}, v)
			if oldRec.expires != rec.expires {
				if err := index.Delete(boltExpiryKey(oldRec.expires, key[:])); err != nil {
					return err
				}
			}
		}
		newExpires = rec.expires
		if err := items.Put(key[:], encodeBoltRecord(rec)); err != nil {
			return err
		}
		return index.Put(boltExpiryKey(rec.expires, key[:]), nil)
	})
	switch {
	case errors.Is(err, errBoltRollback):
		return fullErr
	case err != nil:
		return fmt.Errorf("kademlia: storage put %s: %w", key, s.mapErr(err))
	}
	if fullErr != nil {
		// The purge was committed; the new item was not stored.
		s.count -= purged
		s.bytes -= freed
		s.nextExpiry = next
		return fullErr
	}
	s.count, s.bytes = newCount, newBytes
	s.nextExpiry = min(next, newExpires)
	return nil
}

// Get implements Storage.
func (s *BoltStorage) Get(key ID) (Value, bool, error) {
	if s.closed.Load() {
		return Value{}, false, fmt.Errorf("kademlia: storage get: %w", ErrStorageClosed)
	}
	now := s.cfg.Now().UnixNano()
	var (
		val     Value
		found   bool
		expired bool
	)
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(boltItemsBucket()).Get(key[:])
		if b == nil {
			return nil
		}
		r, err := decodeBoltRecord(b)
		if err != nil {
			return fmt.Errorf("corrupt item %s: %w", key, err)
		}
		if now >= r.expires {
			expired = true
			return nil
		}
		val, found = Value{raw: bytes.Clone(r.raw)}, true
		return nil
	})
	if err != nil {
		return Value{}, false, fmt.Errorf("kademlia: storage get %s: %w", key, s.mapErr(err))
	}
	if expired {
		// Lazy purge; failure only delays reclaiming space.
		_, _ = s.purge(false)
	}
	return val, found, nil
}

// Delete implements Storage.
func (s *BoltStorage) Delete(key ID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return fmt.Errorf("kademlia: storage delete: %w", ErrStorageClosed)
	}
	var (
		deleted bool
		freed   int64
	)
	err := s.db.Update(func(tx *bbolt.Tx) error {
		items, index := tx.Bucket(boltItemsBucket()), tx.Bucket(boltExpiryBucket())
		b := items.Get(key[:])
		if b == nil {
			return errBoltRollback
		}
		r, err := decodeBoltRecord(b)
		if err != nil {
			return fmt.Errorf("corrupt item %s: %w", key, err)
		}
		freed = r.size()
		if err := index.Delete(boltExpiryKey(r.expires, key[:])); err != nil {
			return err
		}
		deleted = true
		return items.Delete(key[:])
	})
	switch {
	case errors.Is(err, errBoltRollback):
		return nil
	case err != nil:
		return fmt.Errorf("kademlia: storage delete %s: %w", key, s.mapErr(err))
	}
	if deleted {
		s.count--
		s.bytes -= freed
	}
	return nil
}

// Iterate implements Storage, visiting items in key order. Items are read
// in short read transactions of a few hundred at a time and fn runs outside
// any transaction.
func (s *BoltStorage) Iterate(fn func(key ID, v Value, m Meta) bool) error {
	var after []byte
	for {
		if s.closed.Load() {
			return fmt.Errorf("kademlia: storage iterate: %w", ErrStorageClosed)
		}
		now := s.cfg.Now().UnixNano()
		batch := make([]StoredItem, 0, s.batch)
		done := false
		err := s.db.View(func(tx *bbolt.Tx) error {
			c := tx.Bucket(boltItemsBucket()).Cursor()
			var k, v []byte
			if after == nil {
				k, v = c.First()
			} else if k, v = c.Seek(after); k != nil && bytes.Equal(k, after) {
				k, v = c.Next()
			}
			for ; k != nil && len(batch) < s.batch; k, v = c.Next() {
				after = bytes.Clone(k)
				r, err := decodeBoltRecord(v)
				if err != nil {
					return fmt.Errorf("corrupt item %x: %w", k, err)
				}
				if now >= r.expires || len(k) != IDLen {
					continue
				}
				batch = append(batch, r.item(ID(k)))
			}
			done = k == nil
			return nil
		})
		if err != nil {
			return fmt.Errorf("kademlia: storage iterate: %w", s.mapErr(err))
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

// OlderThan implements Storage.
func (s *BoltStorage) OlderThan(d time.Duration) ([]StoredItem, error) {
	cutoff := s.cfg.Now().Add(-d).UnixNano()
	return s.collect(func(r boltRecord) bool { return r.stored <= cutoff })
}

// Originals implements Storage.
func (s *BoltStorage) Originals() ([]StoredItem, error) {
	return s.collect(func(r boltRecord) bool { return r.original })
}

// collect returns the unexpired items matching keep, oldest first.
func (s *BoltStorage) collect(keep func(boltRecord) bool) ([]StoredItem, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("kademlia: storage read: %w", ErrStorageClosed)
	}
	now := s.cfg.Now().UnixNano()
	var out []StoredItem
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(boltItemsBucket()).ForEach(func(k, v []byte) error {
			r, err := decodeBoltRecord(v)
			if err != nil {
				return fmt.Errorf("corrupt item %x: %w", k, err)
			}
			if now < r.expires && len(k) == IDLen && keep(r) {
				out = append(out, r.item(ID(k)))
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("kademlia: storage read: %w", s.mapErr(err))
	}
	sortItems(out)
	return out, nil
}

// Purge implements Storage.
func (s *BoltStorage) Purge() (int, error) { return s.purge(true) }

// purge removes expired items. Unless force is set it skips the write
// transaction when nothing can have expired yet.
func (s *BoltStorage) purge(force bool) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.purgeLocked(force)
}

func (s *BoltStorage) purgeLocked(force bool) (int, error) {
	if s.closed.Load() {
		return 0, fmt.Errorf("kademlia: storage purge: %w", ErrStorageClosed)
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
		purged, freed, next, err = boltPurgeTx(tx.Bucket(boltItemsBucket()), tx.Bucket(boltExpiryBucket()), now)
		if err == nil && purged == 0 {
			return errBoltRollback
		}
		return err
	})
	if err != nil && !errors.Is(err, errBoltRollback) {
		return 0, fmt.Errorf("kademlia: storage purge: %w", s.mapErr(err))
	}
	s.count -= purged
	s.bytes -= freed
	s.nextExpiry = next
	return purged, nil
}

// boltPurgeTx deletes every item expired at now using the expiry index. It
// returns the number of items removed, the bytes freed and the earliest
// remaining expiry (math.MaxInt64 when none remain).
func boltPurgeTx(items, index *bbolt.Bucket, now int64) (purged int, freed int64, next int64, err error) {
	var stale [][]byte
	c := index.Cursor()
	k, _ := c.First()
	for ; k != nil && boltExpiryOf(k) <= now; k, _ = c.Next() {
		stale = append(stale, bytes.Clone(k))
	}
	next = math.MaxInt64
	if k != nil {
		next = boltExpiryOf(k)
	}
	for _, ik := range stale {
		if err := index.Delete(ik); err != nil {
			return 0, 0, 0, err
		}
		key := ik[8:]
		b := items.Get(key)
		if b == nil {
			continue
		}
		r, err := decodeBoltRecord(b)
		if err != nil {
			return 0, 0, 0, fmt.Errorf("corrupt item %x: %w", key, err)
		}
		if r.expires != boltExpiryOf(ik) {
			continue // stale index entry; the item lives on
		}
		freed += r.size()
		purged++
		if err := items.Delete(key); err != nil {
			return 0, 0, 0, err
		}
	}
	return purged, freed, next, nil
}

// Len implements Storage.
func (s *BoltStorage) Len() int {
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
func (s *BoltStorage) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return 0
	}
	_, _ = s.purgeLocked(false)
	return s.bytes
}

// Path returns the database file path.
func (s *BoltStorage) Path() string { return s.path }

// Close implements Storage; it closes the database file, waiting for
// running read transactions.
func (s *BoltStorage) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Swap(true) {
		return nil
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("kademlia: close bolt storage %s: %w", s.path, err)
	}
	return nil
}

// mapErr turns bbolt's "database not open" into ErrStorageClosed.
func (s *BoltStorage) mapErr(err error) error {
	if errors.Is(err, bbolt.ErrDatabaseNotOpen) || errors.Is(err, bbolt.ErrTxClosed) {
		return fmt.Errorf("%w: %w", ErrStorageClosed, err)
	}
	return err
}
