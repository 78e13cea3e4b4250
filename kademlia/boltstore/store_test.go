package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/rpcudp/go-rpcudp/kademlia"
	"go.etcd.io/bbolt"
	"go.uber.org/goleak"
)

func openTestBolt(t *testing.T, path string, cfg StorageConfig) *Store {
	t.Helper()
	s, err := Open(path, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestStoreReopenKeepsValuesAndMeta(t *testing.T) {
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

func TestStoreReopenPurgesExpired(t *testing.T) {
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
		if tx.Bucket(itemsBucket).Get(storageKey("short").Bytes()) != nil {
			return errors.New("expired item still in items bucket")
		}
		if n := tx.Bucket(expiryBucket).Stats().KeyN; n != 1 {
			return fmt.Errorf("expiry index has %d keys, want 1", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	storageEnv{t: t, s: s2, clock: clock}.wantValue("long", 2)
}

func TestStoreReopenCountsBounds(t *testing.T) {
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

func TestStoreSecondOpenFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kad.db")
	openTestBolt(t, path, StorageConfig{})
	s, err := Open(path, StorageConfig{})
	if err == nil {
		_ = s.Close()
		t.Fatal("second Open succeeded")
	}
	if !errors.Is(err, ErrLocked) || !errors.Is(err, bbolt.ErrTimeout) {
		t.Fatalf("second open error = %v, want ErrLocked and bbolt.ErrTimeout", err)
	}
}

func TestStoreOpenErrors(t *testing.T) {
	if _, err := Open(filepath.Join(t.TempDir(), "missing-dir", "kad.db"), StorageConfig{}); err == nil {
		t.Fatal("open in a missing directory succeeded")
	}

	tests := []struct {
		name  string
		key   []byte
		value []byte
	}{
		{"short record", storageKey("a").Bytes(), []byte{recordVersion, 0}},
		{"unknown version", storageKey("a").Bytes(), append([]byte{9}, make([]byte, recordHeader)...)},
		{"bad value", storageKey("a").Bytes(), append(rawRecord(1<<62, nil), 0xc0)[:recordHeader+1]},
		{"bad key", []byte("short"), rawRecord(1<<62, []byte{0x2a})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kad.db")
			db, err := bbolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = db.Update(func(tx *bbolt.Tx) error {
				b, err := tx.CreateBucket(itemsBucket)
				if err != nil {
					return err
				}
				return b.Put(tt.key, tt.value)
			})
			if cerr := db.Close(); err != nil || cerr != nil {
				t.Fatal(err, cerr)
			}
			s, err := Open(path, StorageConfig{})
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

// TestStoreIterateBatches crosses several read-transaction batches,
// in key order, with deletions in the callback.
func TestStoreIterateBatches(t *testing.T) {
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
		if len(seen) > 0 && prev.Compare(k) >= 0 {
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

func TestStoreRecordRoundTrip(t *testing.T) {
	r := record{stored: -5, expires: 1 << 60, original: true, raw: []byte{0xa1, 'x'}}
	m := Meta{Stored: time.Unix(0, r.stored), Expires: time.Unix(0, r.expires), Original: true}
	got, err := decodeRecord(encodeRecord(m, mustValue(t, "x")))
	if err != nil {
		t.Fatal(err)
	}
	if got.stored != r.stored || got.expires != r.expires || !got.original || !bytes.Equal(got.raw, r.raw) {
		t.Fatalf("round trip: %+v", got)
	}
	// The expiry index orders negative and positive times correctly.
	a, b := expiryKey(-1, make([]byte, IDLen)), expiryKey(1, make([]byte, IDLen))
	if bytes.Compare(a, b) >= 0 || expiryOf(a) != -1 || expiryOf(b) != 1 {
		t.Fatal("expiry index key order")
	}
}

// rawRecord is a record expiring at expires holding raw, valid or not.
func rawRecord(expires int64, raw []byte) []byte {
	b := make([]byte, recordHeader, recordHeader+len(raw))
	b[0] = recordVersion
	binary.BigEndian.PutUint64(b[10:], uint64(expires))
	return append(b, raw...)
}

// TestOpenCorruptFile: a file that is not a bbolt database is an error
// naming the file, not a panic.
func TestOpenCorruptFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "corrupt.db")
	junk := bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 4096)
	if err := os.WriteFile(path, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path, StorageConfig{})
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open(corrupt) = %v, want an error naming %s", err, path)
	}
}

// TestStoreSurvivesNodeRestart: values stored through a node on a Store
// are there after the node and the store are closed and reopened.
func TestStoreSurvivesNodeRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	path := filepath.Join(t.TempDir(), "dht.db")
	st, err := Open(path, StorageConfig{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := Listen(ctx, "127.0.0.1:0", Config{Storage: st})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Listen(ctx, "127.0.0.1:0", Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.Bootstrap(ctx, []netip.AddrPort{a.Addr()}); err != nil {
		t.Fatal(err)
	}
	if err := b.Set(ctx, "persist", []byte("me")); err != nil {
		t.Fatal(err)
	}
	if err := a.Set(ctx, "mine", 7); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	// The node does not close a storage it was given.
	if st.Len() != 2 {
		t.Fatalf("storage after node Close: %d items", st.Len())
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err = Open(path, StorageConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a2, err := Listen(ctx, "127.0.0.1:0", Config{ID: a.ID(), Storage: st})
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	// Held locally: no network needed.
	for key, want := range map[string]string{"persist": "b'me'", "mine": "7"} {
		v, found, err := a2.Get(ctx, key)
		if err != nil || !found || v.String() != want {
			t.Errorf("Get(%s) after reopen = %v, %v, %v", key, v, found, err)
		}
	}
	mine, _ := Digest("mine")
	if m, ok, err := st.Meta(mine); err != nil || !ok || !m.Original {
		t.Errorf("original flag lost: %+v, %v, %v", m, ok, err)
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
