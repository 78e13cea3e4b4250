package boltstore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/rpcudp/go-rpcudp/kademlia"
	"github.com/vmihailenco/msgpack/v5"
	"go.etcd.io/bbolt"
)

// Bolt layout. The items bucket maps a 20-byte key to a record; the expiry
// bucket is an index whose keys are an 8-byte order-preserving expiry
// followed by the 20-byte item key (values empty), so expired items are
// found without scanning every item. The index is rebuilt on open.
var (
	itemsBucket  = []byte("kademlia.items")
	expiryBucket = []byte("kademlia.expiry")
)

// Record layout (big-endian):
//
//	[0]     format version (recordVersion)
//	[1]     flags (bit 0: Original)
//	[2:10]  Stored, Unix nanoseconds
//	[10:18] Expires, Unix nanoseconds
//	[18:]   the value's msgpack encoding
const (
	recordVersion  = 1
	recordHeader   = 18
	flagOriginal   = 1
	iterateBatch   = 256
	expiryKeyLen   = 8 + kademlia.IDLen
	expirySignFlip = uint64(1) << 63
)

// record is a decoded record.
type record struct {
	stored, expires int64
	original        bool
	raw             []byte // aliases bbolt memory until copied
}

func encodeRecord(m kademlia.Meta, v kademlia.Value) []byte {
	raw, _ := msgpack.Marshal(v) // Put refused the zero Value, the only one that fails
	b := make([]byte, recordHeader, recordHeader+len(raw))
	b[0] = recordVersion
	if m.Original {
		b[1] = flagOriginal
	}
	binary.BigEndian.PutUint64(b[2:], uint64(m.Stored.UnixNano()))
	binary.BigEndian.PutUint64(b[10:], uint64(m.Expires.UnixNano()))
	return append(b, raw...)
}

func decodeRecord(b []byte) (record, error) {
	if len(b) <= recordHeader {
		return record{}, fmt.Errorf("record of %d bytes is too short", len(b))
	}
	if b[0] != recordVersion {
		return record{}, fmt.Errorf("unknown record version %d", b[0])
	}
	return record{
		original: b[1]&flagOriginal != 0,
		stored:   int64(binary.BigEndian.Uint64(b[2:])),
		expires:  int64(binary.BigEndian.Uint64(b[10:])),
		raw:      b[recordHeader:],
	}, nil
}

// readItem decodes the record stored under key k (a bbolt key) into an
// item, copying the value out of bbolt memory.
func readItem(k, b []byte) (kademlia.StoredItem, record, error) {
	if len(k) != kademlia.IDLen {
		return kademlia.StoredItem{}, record{}, fmt.Errorf("corrupt item key %x: not %d bytes", k, kademlia.IDLen)
	}
	r, err := decodeRecord(b)
	if err != nil {
		return kademlia.StoredItem{}, r, fmt.Errorf("corrupt item %x: %w", k, err)
	}
	v, err := decodeValue(r.raw)
	if err != nil {
		return kademlia.StoredItem{}, r, fmt.Errorf("corrupt item %x: %w", k, err)
	}
	return kademlia.StoredItem{
		Key:   kademlia.ID(k),
		Value: v,
		Meta:  kademlia.Meta{Stored: time.Unix(0, r.stored), Expires: time.Unix(0, r.expires), Original: r.original},
	}, r, nil
}

func (r record) size() int64 { return int64(kademlia.IDLen) + int64(len(r.raw)) }

func expiryKey(expires int64, key []byte) []byte {
	k := make([]byte, expiryKeyLen)
	binary.BigEndian.PutUint64(k, uint64(expires)^expirySignFlip)
	copy(k[8:], key)
	return k
}

func expiryOf(indexKey []byte) int64 {
	return int64(binary.BigEndian.Uint64(indexKey) ^ expirySignFlip)
}

// purgeTx deletes every item expired at now using the expiry index. It
// returns the number of items removed, the bytes freed and the earliest
// remaining expiry (math.MaxInt64 when none remain).
func purgeTx(items, index *bbolt.Bucket, now int64) (purged int, freed int64, next int64, err error) {
	var stale [][]byte
	c := index.Cursor()
	k, _ := c.First()
	for ; k != nil && expiryOf(k) <= now; k, _ = c.Next() {
		stale = append(stale, bytes.Clone(k))
	}
	next = math.MaxInt64
	if k != nil {
		next = expiryOf(k)
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
		r, err := decodeRecord(b)
		if err != nil {
			return 0, 0, 0, fmt.Errorf("corrupt item %x: %w", key, err)
		}
		if r.expires != expiryOf(ik) {
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

// sortItems orders items oldest first (by Stored, then key), as
// kademlia.Storage asks of OlderThan and Originals.
func sortItems(items []kademlia.StoredItem) {
	slices.SortStableFunc(items, func(a, b kademlia.StoredItem) int {
		if c := a.Meta.Stored.Compare(b.Meta.Stored); c != 0 {
			return c
		}
		return bytes.Compare(a.Key[:], b.Key[:])
	})
}

// decodeValue reads raw as exactly one valid value (Value.DecodeMsgpack's
// check; a msgpack nil or trailing bytes are corrupt too).
func decodeValue(raw []byte) (kademlia.Value, error) {
	var v kademlia.Value
	rd := bytes.NewReader(raw)
	if err := msgpack.NewDecoder(rd).Decode(&v); err != nil {
		return v, err
	}
	if v.IsZero() || rd.Len() != 0 {
		return kademlia.Value{}, fmt.Errorf("%w: not exactly one value", kademlia.ErrValueType)
	}
	return v, nil
}
