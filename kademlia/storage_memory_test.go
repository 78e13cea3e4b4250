package kademlia_test

import (
	"testing"
	"time"

	. "github.com/rpcudp/go-rpcudp/kademlia"
)

// TestMemoryStorageIterationOrder checks Python OrderedDict semantics:
// oldest first, and a Put moves its key to the end.
func TestMemoryStorageIterationOrder(t *testing.T) {
	clock := newFakeClock()
	e := storageEnv{t: t, s: NewMemoryStorage(StorageConfig{Now: clock.Now}), clock: clock}
	for _, n := range []string{"c", "a", "b"} {
		e.put(n, n, PutOptions{})
		clock.Advance(time.Second)
	}
	e.wantKeys("initial", e.items(), "c", "a", "b")
	e.put("c", "again", PutOptions{KeepExpiry: true})
	e.wantKeys("after re-put", e.items(), "a", "b", "c")
	if err := e.s.Delete(storageKey("b")); err != nil {
		t.Fatal(err)
	}
	e.put("b", "b", PutOptions{})
	e.wantKeys("after delete and put", e.items(), "a", "c", "b")
}

// TestMemoryStorageHeapExpiry expires items out of insertion order.
func TestMemoryStorageHeapExpiry(t *testing.T) {
	clock := newFakeClock()
	s := NewMemoryStorage(StorageConfig{Now: clock.Now})
	e := storageEnv{t: t, s: s, clock: clock}
	ttls := map[string]time.Duration{"a": 5 * time.Minute, "b": time.Minute, "c": 3 * time.Minute, "d": 2 * time.Minute}
	for _, n := range []string{"a", "b", "c", "d"} {
		e.put(n, n, PutOptions{TTL: ttls[n]})
	}
	// Shorten a's life by replacing it; lengthen b's.
	e.put("a", "a", PutOptions{TTL: 90 * time.Second})
	e.put("b", "b", PutOptions{TTL: 4 * time.Minute})
	steps := []struct {
		at   time.Duration
		keys []string
	}{
		{time.Minute, []string{"c", "d", "a", "b"}},
		{90 * time.Second, []string{"c", "d", "b"}},
		{2 * time.Minute, []string{"c", "b"}},
		{3 * time.Minute, []string{"b"}},
		{4 * time.Minute, nil},
	}
	start := clock.Now()
	for _, st := range steps {
		clock.Advance(start.Add(st.at).Sub(clock.Now()))
		e.wantKeys(st.at.String(), e.items(), st.keys...)
		items, expiry, order := MemorySizes(s)
		if s.Len() != len(st.keys) || items != len(st.keys) || expiry != len(st.keys) || order != len(st.keys) {
			t.Fatalf("at %v: internal sizes %d/%d/%d, want %d", st.at, items, expiry, order, len(st.keys))
		}
	}
	if s.Bytes() != 0 {
		t.Fatalf("Bytes() = %d after everything expired", s.Bytes())
	}
}
