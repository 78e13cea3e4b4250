package boltstore

import (
	"errors"
	"sync"
	"testing"
	"time"

	. "github.com/rpcudp/go-rpcudp/kademlia"
)

// Helpers shared with kademlia's storage suite (kademlia/storage_test.go).

// storageClock is a manually advanced clock.
type storageClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *storageClock {
	return &storageClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *storageClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *storageClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func mustValue(t testing.TB, v any) Value {
	t.Helper()
	val, err := EncodeValue(v)
	if err != nil {
		t.Fatalf("EncodeValue(%#v): %v", v, err)
	}
	return val
}

// storageKey derives a test key from a name, as Python's digest does.
func storageKey(name string) ID { k, _ := Digest([]byte(name)); return k }

// storageEnv is what each shared case gets: a storage and its clock.
type storageEnv struct {
	t     *testing.T
	s     Storage
	clock *storageClock
}

func (e storageEnv) put(name string, v any, opts PutOptions) {
	e.t.Helper()
	if err := e.s.Put(storageKey(name), mustValue(e.t, v), opts); err != nil {
		e.t.Fatalf("Put(%s): %v", name, err)
	}
}

// get returns the value under name, or the zero Value if it is missing.
func (e storageEnv) get(name string) Value {
	e.t.Helper()
	v, ok, err := e.s.Get(storageKey(name))
	if err != nil {
		e.t.Fatalf("Get(%s): %v", name, err)
	}
	if ok == v.IsZero() {
		e.t.Fatalf("Get(%s): found=%v but value zero=%v", name, ok, v.IsZero())
	}
	return v
}

func (e storageEnv) wantValue(name string, want any) {
	e.t.Helper()
	got := e.get(name)
	if want == nil {
		if !got.IsZero() {
			e.t.Fatalf("Get(%s) = %v, want missing", name, got)
		}
		return
	}
	if w := mustValue(e.t, want); !got.Equal(w) {
		e.t.Fatalf("Get(%s) = %v, want %v", name, got, w)
	}
}

func (e storageEnv) wantLen(n int) {
	e.t.Helper()
	if got := e.s.Len(); got != n {
		e.t.Fatalf("Len() = %d, want %d", got, n)
	}
}

// items collects Iterate's output.
func (e storageEnv) items() []StoredItem {
	e.t.Helper()
	var out []StoredItem
	if err := e.s.Iterate(func(k ID, v Value, m Meta) bool {
		out = append(out, StoredItem{Key: k, Value: v, Meta: m})
		return true
	}); err != nil {
		e.t.Fatalf("Iterate: %v", err)
	}
	return out
}

func (e storageEnv) olderThan(d time.Duration) []StoredItem {
	e.t.Helper()
	items, err := e.s.OlderThan(d)
	if err != nil {
		e.t.Fatalf("OlderThan(%v): %v", d, err)
	}
	return items
}

func (e storageEnv) originals() []StoredItem {
	e.t.Helper()
	items, err := e.s.Originals()
	if err != nil {
		e.t.Fatalf("Originals: %v", err)
	}
	return items
}

func (e storageEnv) wantKeys(what string, items []StoredItem, names ...string) {
	e.t.Helper()
	if len(items) != len(names) {
		e.t.Fatalf("%s: got %d items, want %v", what, len(items), names)
	}
	for i, n := range names {
		if items[i].Key != storageKey(n) {
			e.t.Fatalf("%s: item %d is %s, want %s (%s)", what, i, items[i].Key, storageKey(n), n)
		}
	}
}

func (e storageEnv) meta(name string) Meta {
	e.t.Helper()
	for _, it := range e.items() {
		if it.Key == storageKey(name) {
			return it.Meta
		}
	}
	e.t.Fatalf("%s not found by Iterate", name)
	return Meta{}
}

func wantMeta(t *testing.T, got Meta, stored, expires time.Time, original bool) {
	t.Helper()
	if !got.Stored.Equal(stored) || !got.Expires.Equal(expires) || got.Original != original {
		t.Fatalf("Meta = {Stored %v, Expires %v, Original %v}, want {%v, %v, %v}",
			got.Stored, got.Expires, got.Original, stored, expires, original)
	}
}

func wantFull(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ErrStorageFull) {
		t.Fatalf("error = %v, want ErrStorageFull", err)
	}
}

// storageSuite is the behavioural test table run against every Storage
// implementation. cfg is applied before opening (Now is always the test
// clock).
