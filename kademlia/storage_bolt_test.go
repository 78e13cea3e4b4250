package kademlia

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

func openTestBolt(t *testing.T, path string, cfg StorageConfig) *BoltStorage {
	t.Helper()
	s, err := OpenBoltStorage(path, cfg)
	if err != nil {
		t.Fatalf("OpenBoltStorage: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestBoltStorageReopenKeepsValuesAndMeta(t *testing.T) {
	clock := newFakeClock()
	path := filepath.Join(t.TempDir(), "kad.db")
	cfg := StorageConfig{TTL: time.Hour, Now: clock.Now}
	s := openTestBolt(t, path, cfg)
	e := storageEnv{t: t, s: s, clock: clock}
	vals := map[string]any{"str": "my awesome value", "bytes": []byte{0, 1, 0xfe, 0xff}, "int": 42,
		"neg": -7, "big": int64(1099511627779), "float": 3.25, "bool": true}
	start := clock.Now()
	for n, v := range vals {
		e.put(n, v, PutOptions{Original: n == "str"})
	}
	clock.Advance(time.Minute)
	e.put("int", 42, PutOptions{KeepExpiry: true})
	wantBytes, wantMetas := s.Bytes(), map[ID]Meta{}
	for _, it := range e.items() {
		wantMetas[it.Key] = it.Meta
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := openTestBolt(t, path, cfg)
	e2 := storageEnv{t: t, s: s2, clock: clock}
	e2.wantLen(len(vals))
	if s2.Bytes() != wantBytes {
		t.Fatalf("Bytes() after reopen = %d, want %d", s2.Bytes(), wantBytes)
	}
	for n, v := range vals {
		e2.wantValue(n, v)
		m := e2.meta(n)
		if w := wantMetas[storageKey(n)]; !m.Stored.Equal(w.Stored) || !m.Expires.Equal(w.Expires) || m.Original != w.Original {
			t.Fatalf("%s: meta %+v, want %+v", n, m, w)
		}
	}
	wantMeta(t, e2.meta("int"), start.Add(time.Minute), start.Add(time.Hour), false)
	wantMeta(t, e2.meta("str"), start, start.Add(time.Hour), true)
	e2.wantKeys("Originals", e2.originals(), "str")
}

func TestBoltStorageReopenPurgesExpired(t *testing.T) {
	clock := newFakeClock()
	path := filepath.Join(t.TempDir(), "kad.db")
	cfg := StorageConfig{TTL: time.Hour, Now: clock.Now}
	s := openTestBolt(t, path, cfg)
	e := storageEnv{t: t, s: s, clock: clock}
	e.put("short", 1, PutOptions{TTL: time.Minute})
	e.put("long", 2, PutOptions{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	s2 := openTestBolt(t, path, cfg)
	if s2.count != 1 || s2.bytes != 21 {
		t.Fatalf("counters after reopen: %d items, %d bytes", s2.count, s2.bytes)
	}
	// The expired record is gone from the file, not just hidden.
	err := s2.db.View(func(tx *bbolt.Tx) error {
		if tx.Bucket(boltItemsBucket()).Get(storageKey("short").Bytes()) != nil {
			return errors.New("expired item still in items bucket")
		}
		if n := tx.Bucket(boltExpiryBucket()).Stats().KeyN; n != 1 {
			return fmt.Errorf("expiry index has %d keys, want 1", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	storageEnv{t: t, s: s2, clock: clock}.wantValue("long", 2)
}

func TestBoltStorageReopenCountsBounds(t *testing.T) {
	clock := newFakeClock()
	path := filepath.Join(t.TempDir(), "kad.db")
	s := openTestBolt(t, path, StorageConfig{Now: clock.Now})
	e := storageEnv{t: t, s: s, clock: clock}
	e.put("a", 1, PutOptions{})
	e.put("b", 2, PutOptions{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := openTestBolt(t, path, StorageConfig{Now: clock.Now, MaxItems: 2})
	wantFull(t, s2.Put(storageKey("c"), mustValue(t, 3), PutOptions{}))
	if err := s2.Put(storageKey("a"), mustValue(t, 10), PutOptions{}); err != nil {
		t.Fatalf("replace at bound: %v", err)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}

	s3 := openTestBolt(t, path, StorageConfig{Now: clock.Now, MaxBytes: 42})
	wantFull(t, s3.Put(storageKey("c"), mustValue(t, 3), PutOptions{}))
}

func TestBoltStorageSecondOpenFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kad.db")
	openTestBolt(t, path, StorageConfig{})
	s, err := OpenBoltStorage(path, StorageConfig{})
	if err == nil {
		_ = s.Close()
		t.Fatal("second OpenBoltStorage succeeded")
	}
	if !errors.Is(err, ErrStorageLocked) || !errors.Is(err, bbolt.ErrTimeout) {
		t.Fatalf("second open error = %v, want ErrStorageLocked and bbolt.ErrTimeout", err)
	}
}

func TestBoltStorageOpenErrors(t *testing.T) {
	if _, err := OpenBoltStorage(filepath.Join(t.TempDir(), "missing-dir", "kad.db"), StorageConfig{}); err == nil {
		t.Fatal("open in a missing directory succeeded")
	}

	tests := []struct {
		name  string
		key   []byte
		value []byte
	}{
		{"short record", storageKey("a").Bytes(), []byte{boltRecordVersion, 0}},
		{"unknown version", storageKey("a").Bytes(), append([]byte{9}, make([]byte, boltRecordHeader)...)},
		{"bad value", storageKey("a").Bytes(), append(encodeBoltRecord(boltRecord{expires: 1 << 62}), 0xc0)[:boltRecordHeader+1]},
		{"bad key", []byte("short"), encodeBoltRecord(boltRecord{expires: 1 << 62, raw: []byte{0x2a}})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kad.db")
			db, err := bbolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = db.Update(func(tx *bbolt.Tx) error {
				b, err := tx.CreateBucket(boltItemsBucket())
				if err != nil {
					return err
				}
				return b.Put(tt.key, tt.value)
			})
			if cerr := db.Close(); err != nil || cerr != nil {
				t.Fatal(err, cerr)
			}
			s, err := OpenBoltStorage(path, StorageConfig{})
			if err == nil {
				_ = s.Close()
				t.Fatal("opened a corrupt database")
			}
			if !bytes.Contains([]byte(err.Error()), []byte("corrupt")) {
				t.Fatalf("error %q does not mention corruption", err)
			}
		})
	}
}

// TestBoltStorageIterateBatches crosses several read-transaction batches,
// in key order, with deletions in the callback.
func TestBoltStorageIterateBatches(t *testing.T) {
	clock := newFakeClock()
	s := openTestBolt(t, filepath.Join(t.TempDir(), "kad.db"), StorageConfig{Now: clock.Now})
	s.batch = 7 // several read transactions without thousands of fsyncs
	const n = 3*7 + 5
	for i := range n {
		if err := s.Put(storageKey(fmt.Sprint(i)), mustValue(t, i), PutOptions{TTL: time.Duration(i+1) * time.Second}); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(10 * time.Second) // items 0..9 have expired
	var prev ID
	seen := map[ID]bool{}
	err := s.Iterate(func(k ID, v Value, m Meta) bool {
		if len(seen) > 0 && !prev.Less(k) {
			t.Fatalf("Iterate out of key order: %s after %s", k, prev)
		}
		prev = k
		seen[k] = true
		_ = s.Delete(k) // modifying inside the callback is allowed
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != n-10 {
		t.Fatalf("Iterate visited %d items, want %d", len(seen), n-10)
	}
	if s.Len() != 0 {
		t.Fatalf("Len() = %d after deleting everything", s.Len())
	}
}

func TestBoltStorageRecordRoundTrip(t *testing.T) {
	r := boltRecord{stored: -5, expires: 1 << 60, original: true, raw: []byte{0xa1, 'x'}}
	got, err := decodeBoltRecord(encodeBoltRecord(r))
	if err != nil {
		t.Fatal(err)
	}
	if got.stored != r.stored || got.expires != r.expires || !got.original || !bytes.Equal(got.raw, r.raw) {
		t.Fatalf("round trip: %+v", got)
	}
	// The expiry index orders negative and positive times correctly.
	a, b := boltExpiryKey(-1, make([]byte, IDLen)), boltExpiryKey(1, make([]byte, IDLen))
	if bytes.Compare(a, b) >= 0 || boltExpiryOf(a) != -1 || boltExpiryOf(b) != 1 {
		t.Fatal("expiry index key order")
	}
}
