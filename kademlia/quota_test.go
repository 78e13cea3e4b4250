package kademlia

import (
	"errors"
	"net/netip"
	"testing"
	"time"
)

// TestStoreQuotaAccounting: a network's use counts a replaced key once
// (by its new size), moves to the last network that stored a key, ends
// when the key expires, and is refused beyond its share; the owner
// records stay within the storage's MaxItems.
func TestStoreQuotaAccounting(t *testing.T) {
	clock := newFakeClock()
	st := newMemoryStorage(StorageConfig{MaxItems: 64 * 3, MaxBytes: 64 * 40000, Now: clock.Now})
	q := newStoreQuota(st, clock.Now)
	a := sourceOf(netip.MustParseAddrPort("10.1.2.3:1000"))
	b := sourceOf(netip.MustParseAddrPort("10.1.3.3:1000"))
	if a2 := sourceOf(netip.MustParseAddrPort("[::ffff:10.1.2.200]:9")); a2 != a {
		t.Errorf("10.1.2.200 is in %v, 10.1.2.3 in %v: want one /24", a2, a)
	}
	put := func(src quotaSource, key ID, size int64, ttl time.Duration) error {
		return q.put(src, key, size, func() (time.Time, error) { return clock.Now().Add(ttl), nil })
	}
	want := func(what string, src quotaSource, items int, bytes int64) {
		t.Helper()
		if u, _ := q.used(src); u.items != items || u.bytes != bytes {
			t.Errorf("%s: %d items, %d bytes; want %d, %d", what, u.items, u.bytes, items, bytes)
		}
	}
	for _, tt := range []struct {
		src  quotaSource
		key  byte
		size int64
		ttl  time.Duration
	}{{a, 1, 1000, time.Hour}, {a, 1, 3000, time.Hour}, {a, 2, 100, time.Minute}} {
		if err := put(tt.src, ID{tt.key}, tt.size, tt.ttl); err != nil {
			t.Fatal(err)
		}
	}
	want("a key replaced", a, 2, 3100)
	if err := put(a, ID{3}, 10, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := put(a, ID{4}, 10, time.Hour); !errors.Is(err, errOverQuota) || !errors.Is(err, ErrStorageFull) {
		t.Errorf("a fourth item from a: %v, want errOverQuota (3 items a network)", err)
	}
	if err := put(a, ID{3}, 40000, time.Hour); !errors.Is(err, errOverQuota) {
		t.Errorf("a key of a replaced by 40,000 bytes: %v, want errOverQuota", err)
	}
	if err := put(b, ID{1}, 500, time.Hour); err != nil {
		t.Fatal(err)
	}
	want("a key taken over by b", a, 2, 110)
	want("b", b, 1, 500)
	clock.Advance(2 * time.Minute)
	want("a key expired", a, 1, 10)
	if err := put(a, ID{6}, 10, time.Hour); err != nil {
		t.Errorf("a stores again once a key expired: %v", err)
	}
	failed := errors.New("put failed")
	if err := q.put(b, ID{7}, 10, func() (time.Time, error) { return time.Time{}, failed }); !errors.Is(err, failed) {
		t.Fatal(err)
	}
	want("a failed put counts nothing", b, 1, 500)
	for i := range 300 { // more sources than owner records allowed
		src := sourceOf(netip.AddrPortFrom(netip.AddrFrom4([4]byte{20, byte(i >> 8), byte(i), 1}), 1))
		if err := put(src, ID{9, byte(i >> 8), byte(i)}, 10, time.Duration(i+1)*time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if _, owners := q.used(a); owners > 64*3 {
		t.Errorf("%d owner records, over the storage's MaxItems %d", owners, 64*3)
	}
}
