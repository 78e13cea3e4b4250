package kademlia_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	. "github.com/rpcudp/go-rpcudp/kademlia"
)

// storageSuite is the behavioural test table run against every Storage
// implementation. cfg is applied before opening (Now is always the test
// clock).
var storageSuite = []struct {
	name string
	cfg  StorageConfig
	run  func(e storageEnv)
}{
	{
		// Python test_storing.
		name: "set and get",
		cfg:  StorageConfig{TTL: 10 * time.Second},
		run: func(e storageEnv) {
			e.put("one", "two", PutOptions{})
			e.wantValue("one", "two")
			e.wantValue("missing", nil)
			e.wantLen(1)
		},
	},
	{
		name: "every value type round-trips",
		run: func(e storageEnv) {
			vals := []any{"str", []byte{0, 0xff}, 42, -7, int64(1099511627779), uint64(1 << 63), 3.25, 1.0, true, false, ""}
			for i, v := range vals {
				e.put(fmt.Sprint("k", i), v, PutOptions{})
			}
			for i, v := range vals {
				e.wantValue(fmt.Sprint("k", i), v)
			}
			e.wantLen(len(vals))
		},
	},
	{
		// Python test_forgetting, with the clock instead of sleep.
		name: "TTL expiry",
		cfg:  StorageConfig{TTL: 10 * time.Second},
		run: func(e storageEnv) {
			e.put("one", "two", PutOptions{})
			e.clock.Advance(10*time.Second - time.Nanosecond)
			e.wantValue("one", "two")
			e.wantLen(1)
			e.clock.Advance(time.Nanosecond) // age == TTL: gone, as in Python
			e.wantValue("one", nil)
			e.wantLen(0)
			if n := len(e.items()); n != 0 {
				e.t.Fatalf("Iterate saw %d expired items", n)
			}
			if n := len(e.olderThan(0)); n != 0 {
				e.t.Fatalf("OlderThan saw %d expired items", n)
			}
		},
	},
	{
		name: "default TTL is one week",
		run: func(e storageEnv) {
			start := e.clock.Now()
			e.put("one", 1, PutOptions{})
			wantMeta(e.t, e.meta("one"), start, start.Add(7*24*time.Hour), false)
			e.clock.Advance(DefaultStorageTTL)
			e.wantValue("one", nil)
		},
	},
	{
		name: "per-put TTL overrides default",
		cfg:  StorageConfig{TTL: time.Hour},
		run: func(e storageEnv) {
			e.put("short", 1, PutOptions{TTL: time.Minute})
			e.put("long", 2, PutOptions{TTL: 2 * time.Hour})
			e.put("default", 3, PutOptions{})
			e.clock.Advance(time.Minute)
			e.wantValue("short", nil)
			e.wantValue("default", 3)
			e.clock.Advance(time.Hour)
			e.wantValue("default", nil)
			e.wantValue("long", 2)
			e.wantLen(1)
		},
	},
	{
		name: "invalid puts",
		run: func(e storageEnv) {
			if err := e.s.Put(storageKey("neg"), mustValue(e.t, 1), PutOptions{TTL: -time.Second}); err == nil {
				e.t.Fatal("negative TTL accepted")
			}
			if err := e.s.Put(storageKey("zero"), Value{}, PutOptions{}); !errors.Is(err, ErrValueType) {
				e.t.Fatalf("zero Value: %v, want ErrValueType", err)
			}
			e.wantLen(0)
		},
	},
	{
		// Python test_iter.
		name: "iterate",
		cfg:  StorageConfig{TTL: 10 * time.Second},
		run: func(e storageEnv) {
			start := e.clock.Now()
			e.put("one", "two", PutOptions{})
			items := e.items()
			e.wantKeys("Iterate", items, "one")
			if !items[0].Value.Equal(mustValue(e.t, "two")) {
				e.t.Fatalf("value %v", items[0].Value)
			}
			wantMeta(e.t, items[0].Meta, start, start.Add(10*time.Second), false)
		},
	},
	{
		name: "iterate stops when fn returns false",
		run: func(e storageEnv) {
			for i := range 5 {
				e.put(fmt.Sprint(i), i, PutOptions{})
			}
			calls := 0
			if err := e.s.Iterate(func(ID, Value, Meta) bool { calls++; return calls < 2 }); err != nil {
				e.t.Fatal(err)
			}
			if calls != 2 {
				e.t.Fatalf("fn called %d times, want 2", calls)
			}
		},
	},
	{
		name: "iterate callback may modify storage",
		run: func(e storageEnv) {
			for i := range 3 {
				e.put(fmt.Sprint(i), i, PutOptions{})
			}
			err := e.s.Iterate(func(k ID, v Value, m Meta) bool {
				if err := e.s.Put(k, mustValue(e.t, "changed"), PutOptions{KeepExpiry: true}); err != nil {
					e.t.Errorf("Put in Iterate: %v", err)
				}
				if err := e.s.Delete(storageKey("other")); err != nil {
					e.t.Errorf("Delete in Iterate: %v", err)
				}
				_ = e.s.Len()
				return true
			})
			if err != nil {
				e.t.Fatal(err)
			}
			for i := range 3 {
				e.wantValue(fmt.Sprint(i), "changed")
			}
		},
	},
	{
		// Python test_iter_old and iter_older_than semantics.
		name: "older than",
		cfg:  StorageConfig{TTL: 10 * time.Hour},
		run: func(e storageEnv) {
			e.put("one", "two", PutOptions{})
			e.clock.Advance(100 * time.Millisecond)
			items := e.olderThan(0)
			e.wantKeys("OlderThan(0)", items, "one")
			if !items[0].Value.Equal(mustValue(e.t, "two")) {
				e.t.Fatalf("value %v", items[0].Value)
			}
			e.wantKeys("OlderThan(1h)", e.olderThan(time.Hour))
			e.put("two", 2, PutOptions{})
			e.clock.Advance(time.Hour - 100*time.Millisecond)
			// "one" is exactly 1h old: included (inclusive, as Python).
			e.wantKeys("OlderThan(1h) at 1h", e.olderThan(time.Hour), "one")
			e.clock.Advance(100 * time.Millisecond)
			e.wantKeys("OlderThan(1h) later", e.olderThan(time.Hour), "one", "two")
			// Republishing "one" makes it young again and last in order.
			e.put("one", "two", PutOptions{KeepExpiry: true})
			e.wantKeys("after republish", e.olderThan(time.Hour), "two")
			e.wantKeys("OlderThan(0) order", e.olderThan(0), "two", "one")
		},
	},
	{
		name: "replace extends expiry and refreshes stored time",
		cfg:  StorageConfig{TTL: 10 * time.Hour},
		run: func(e storageEnv) {
			e.put("k", "v1", PutOptions{})
			e.clock.Advance(time.Hour)
			now := e.clock.Now()
			e.put("k", "v2", PutOptions{})
			e.wantValue("k", "v2")
			e.wantLen(1)
			wantMeta(e.t, e.meta("k"), now, now.Add(10*time.Hour), false)
		},
	},
	{
		name: "KeepExpiry republish keeps expiry",
		cfg:  StorageConfig{TTL: 10 * time.Hour},
		run: func(e storageEnv) {
			start := e.clock.Now()
			e.put("k", "v", PutOptions{})
			e.clock.Advance(time.Hour)
			e.put("k", "v", PutOptions{KeepExpiry: true, TTL: 50 * time.Hour})
			wantMeta(e.t, e.meta("k"), start.Add(time.Hour), start.Add(10*time.Hour), false)
			e.clock.Advance(9 * time.Hour)
			e.wantValue("k", nil)
			// KeepExpiry on a new key is an ordinary put.
			now := e.clock.Now()
			e.put("new", "v", PutOptions{KeepExpiry: true})
			wantMeta(e.t, e.meta("new"), now, now.Add(10*time.Hour), false)
		},
	},
	{
		name: "original flag",
		cfg:  StorageConfig{TTL: 48 * time.Hour},
		run: func(e storageEnv) {
			e.put("mine", "v", PutOptions{Original: true})
			e.clock.Advance(time.Second)
			e.put("theirs", "v", PutOptions{})
			e.clock.Advance(time.Second)
			e.put("mine2", 2, PutOptions{Original: true})
			e.wantKeys("Originals", e.originals(), "mine", "mine2")
			// A peer storing the same value keeps our flag...
			e.put("mine", "v", PutOptions{KeepExpiry: true})
			if !e.meta("mine").Original {
				e.t.Fatal("same-value republish cleared Original")
			}
			// ...a different value replaces it.
			e.put("mine2", 3, PutOptions{})
			if e.meta("mine2").Original {
				e.t.Fatal("different value kept Original")
			}
			e.wantKeys("Originals after", e.originals(), "mine")
			// 24h republish by the publisher extends the expiry.
			e.clock.Advance(24 * time.Hour)
			now := e.clock.Now()
			e.put("mine", "v", PutOptions{Original: true})
			wantMeta(e.t, e.meta("mine"), now, now.Add(48*time.Hour), true)
		},
	},
	{
		name: "delete",
		run: func(e storageEnv) {
			e.put("a", 1, PutOptions{})
			e.put("b", 2, PutOptions{})
			if err := e.s.Delete(storageKey("a")); err != nil {
				e.t.Fatal(err)
			}
			if err := e.s.Delete(storageKey("missing")); err != nil {
				e.t.Fatalf("Delete(missing): %v", err)
			}
			e.wantValue("a", nil)
			e.wantValue("b", 2)
			e.wantLen(1)
		},
	},
	{
		name: "max items bound",
		cfg:  StorageConfig{MaxItems: 2},
		run: func(e storageEnv) {
			e.put("a", 1, PutOptions{})
			e.put("b", 2, PutOptions{})
			wantFull(e.t, e.s.Put(storageKey("c"), mustValue(e.t, 3), PutOptions{}))
			e.wantValue("c", nil)
			// Replacing an existing key is allowed at the bound.
			e.put("a", "replaced", PutOptions{})
			e.wantValue("a", "replaced")
			e.wantLen(2)
			if err := e.s.Delete(storageKey("b")); err != nil {
				e.t.Fatal(err)
			}
			e.put("c", 3, PutOptions{})
			e.wantLen(2)
		},
	},
	{
		// Each item: 20-byte key + 10-byte value (a9 + 9 chars) = 30 bytes.
		name: "max bytes bound",
		cfg:  StorageConfig{MaxBytes: 60},
		run: func(e storageEnv) {
			e.put("a", "aaaaaaaaa", PutOptions{})
			e.put("b", "bbbbbbbbb", PutOptions{})
			if b := e.s.(interface{ Bytes() int64 }).Bytes(); b != 60 {
				e.t.Fatalf("Bytes() = %d, want 60", b)
			}
			wantFull(e.t, e.s.Put(storageKey("c"), mustValue(e.t, 1), PutOptions{}))
			// Same-size replacement fits; growing does not.
			e.put("a", "AAAAAAAAA", PutOptions{})
			wantFull(e.t, e.s.Put(storageKey("a"), mustValue(e.t, "AAAAAAAAAA"), PutOptions{}))
			e.wantValue("a", "AAAAAAAAA")
			// Shrinking frees room.
			e.put("a", 1, PutOptions{})
			if b := e.s.(interface{ Bytes() int64 }).Bytes(); b != 51 {
				e.t.Fatalf("Bytes() = %d, want 51", b)
			}
			wantFull(e.t, e.s.Put(storageKey("c"), mustValue(e.t, "cccccccc"), PutOptions{}))
			if err := e.s.Delete(storageKey("b")); err != nil {
				e.t.Fatal(err)
			}
			e.put("c", "cccccccc", PutOptions{}) // 21 + 29 = 50 bytes
			e.wantLen(2)
		},
	},
	{
		name: "single value larger than bound",
		cfg:  StorageConfig{MaxBytes: 100},
		run: func(e storageEnv) {
			wantFull(e.t, e.s.Put(storageKey("big"), mustValue(e.t, make([]byte, 100)), PutOptions{}))
			e.wantLen(0)
		},
	},
	{
		name: "expired items free room",
		cfg:  StorageConfig{MaxItems: 1, TTL: time.Minute},
		run: func(e storageEnv) {
			e.put("a", 1, PutOptions{})
			wantFull(e.t, e.s.Put(storageKey("b"), mustValue(e.t, 2), PutOptions{}))
			e.clock.Advance(time.Minute)
			e.put("b", 2, PutOptions{})
			e.wantValue("b", 2)
			e.wantLen(1)
		},
	},
	{
		name: "purge",
		cfg:  StorageConfig{TTL: time.Hour},
		run: func(e storageEnv) {
			e.put("a", 1, PutOptions{TTL: time.Minute})
			e.put("b", 2, PutOptions{TTL: time.Minute})
			e.put("c", 3, PutOptions{})
			if n, err := e.s.Purge(); err != nil || n != 0 {
				e.t.Fatalf("Purge() = %d, %v; want 0", n, err)
			}
			e.clock.Advance(time.Minute)
			if n, err := e.s.Purge(); err != nil || n != 2 {
				e.t.Fatalf("Purge() = %d, %v; want 2", n, err)
			}
			e.wantLen(1)
			if b := e.s.(interface{ Bytes() int64 }).Bytes(); b != 21 {
				e.t.Fatalf("Bytes() = %d, want 21", b)
			}
		},
	},
	{
		name: "closed",
		run: func(e storageEnv) {
			e.put("a", 1, PutOptions{})
			if err := e.s.Close(); err != nil {
				e.t.Fatal(err)
			}
			if err := e.s.Close(); err != nil {
				e.t.Fatalf("second Close: %v", err)
			}
			k, v := storageKey("a"), mustValue(e.t, 1)
			_, _, getErr := e.s.Get(k)
			_, olderErr := e.s.OlderThan(0)
			_, origErr := e.s.Originals()
			_, purgeErr := e.s.Purge()
			for name, err := range map[string]error{
				"Put":       e.s.Put(k, v, PutOptions{}),
				"Get":       getErr,
				"Delete":    e.s.Delete(k),
				"Iterate":   e.s.Iterate(func(ID, Value, Meta) bool { return true }),
				"OlderThan": olderErr,
				"Originals": origErr,
				"Purge":     purgeErr,
			} {
				if !errors.Is(err, ErrStorageClosed) {
					e.t.Errorf("%s after Close: %v, want ErrStorageClosed", name, err)
				}
			}
			e.wantLen(0)
		},
	},
	{
		name: "concurrent use",
		cfg:  StorageConfig{MaxItems: 50},
		run: func(e storageEnv) {
			var wg sync.WaitGroup
			for g := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 40 {
						k := storageKey(fmt.Sprint(g, "-", i%20))
						err := e.s.Put(k, mustValue(e.t, i), PutOptions{Original: i%2 == 0})
						if err != nil && !errors.Is(err, ErrStorageFull) {
							e.t.Errorf("Put: %v", err)
						}
						if _, _, err := e.s.Get(k); err != nil {
							e.t.Errorf("Get: %v", err)
						}
						if i%10 == 0 {
							_ = e.s.Iterate(func(ID, Value, Meta) bool { return true })
							_, _ = e.s.OlderThan(0)
							_, _ = e.s.Originals()
							_ = e.s.Delete(k)
						}
						e.clock.Advance(time.Millisecond)
					}
				}()
			}
			wg.Wait()
			if n := e.s.Len(); n > 50 || n != len(e.items()) {
				e.t.Fatalf("Len() = %d, Iterate saw %d", n, len(e.items()))
			}
		},
	},
}

// TestStorageSuite runs the shared behavioural table on every
// implementation.
func TestStorageSuite(t *testing.T) {
	for _, impl := range storageImpls() {
		t.Run(impl.name, func(t *testing.T) {
			for _, tc := range storageSuite {
				t.Run(tc.name, func(t *testing.T) {
					clock := newFakeClock()
					cfg := tc.cfg
					cfg.Now = clock.Now
					tc.run(storageEnv{t: t, s: impl.open(t, cfg), clock: clock})
				})
			}
		})
	}
}

func TestStorageConfigDefaults(t *testing.T) {
	c := StorageConfig{}.WithDefaults()
	if c.TTL != 7*24*time.Hour || c.MaxItems != 1<<20 || c.MaxBytes != 256<<20 || c.Now == nil {
		t.Fatalf("defaults: %+v", c)
	}
	c = StorageConfig{TTL: -1, MaxItems: -1, MaxBytes: -1}.WithDefaults()
	if c.TTL != DefaultStorageTTL || c.MaxItems != 1<<20 || c.MaxBytes != 256<<20 {
		t.Fatalf("negative fields: %+v", c)
	}
}
