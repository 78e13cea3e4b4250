package kademlia

import (
	"errors"
	"testing"
	"time"
)

// TestRecordReplayAfterExpiry (issue 18, finding 10): once the record of
// seq 5 has expired here, a replay of the older record of seq 3 is still
// refused (ErrStaleRecord), by a store (putChecked, which store requests,
// Sets and republishes go through) and by a Set's check (admissible),
// while the newer seq 6 is taken.
func TestRecordReplayAfterExpiry(t *testing.T) {
	clock := newFakeClock()
	st := newMemoryStorage(StorageConfig{TTL: time.Hour, Now: clock.Now})
	n := offlineNode(t, Config{Now: clock.Now, Storage: st})
	r5, r3, r6 := testRecord(t, 1, "name", 5, "five"), testRecord(t, 1, "name", 3, "three"), testRecord(t, 1, "name", 6, "six")
	key := r5.Key()
	if err := n.putChecked(key, encoded(t, r5), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := n.putChecked(key, encoded(t, r3), PutOptions{}); !errors.Is(err, ErrStaleRecord) {
		t.Fatalf("seq 3 while seq 5 is held: %v, want ErrStaleRecord", err)
	}
	clock.Advance(time.Hour + time.Second)
	if _, ok, _ := st.Get(key); ok {
		t.Fatal("seq 5 has not expired")
	}
	err := n.putChecked(key, encoded(t, r3), PutOptions{})
	if !errors.Is(err, ErrStaleRecord) {
		t.Fatalf("seq 3 after seq 5 expired: %v, want ErrStaleRecord", err)
	}
	if err := n.admissible(key, encoded(t, r3)); !errors.Is(err, ErrStaleRecord) {
		t.Errorf("admissible(seq 3) = %v, want ErrStaleRecord", err)
	}
	if _, ok, _ := st.Get(key); ok {
		t.Error("seq 3 was stored")
	}
	if err := n.putChecked(key, encoded(t, r6), PutOptions{}); err != nil {
		t.Fatalf("seq 6: %v", err)
	}
	if got, err := DecodeRecord(mustGet(t, st, key)); err != nil || got.Seq != 6 {
		t.Errorf("held %+v, %v; want seq 6", got, err)
	}
	// A floor lives twice the storage TTL after the last store of its key.
	clock.Advance(2*time.Hour + time.Second)
	if err := n.putChecked(key, encoded(t, r3), PutOptions{}); err != nil {
		t.Errorf("seq 3 once the floor has gone: %v", err)
	}
}

// TestSeqFloorsBounded: the floors keep at most their bound, forgetting
// the key stored longest ago first, and forget every key a life after
// its last store.
func TestSeqFloorsBounded(t *testing.T) {
	f := newSeqFloors(4)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range 10 {
		f.raise(ID{byte(i)}, 7, now.Add(time.Duration(i)*time.Second), time.Hour)
	}
	if f.len() != 4 {
		t.Fatalf("%d floors kept, want 4", f.len())
	}
	late := now.Add(10 * time.Second)
	if err := f.check(ID{5}, 1, late); err != nil {
		t.Errorf("a key stored long ago is kept: %v", err)
	}
	if err := f.check(ID{9}, 1, late); !errors.Is(err, ErrStaleRecord) {
		t.Errorf("the newest key is forgotten: %v", err)
	}
	f.raise(ID{6}, 3, late, time.Hour) // a lower seq keeps the floor, renews it
	if err := f.check(ID{6}, 6, late); !errors.Is(err, ErrStaleRecord) {
		t.Errorf("floor lowered: %v", err)
	}
	if err := f.check(ID{9}, 1, now.Add(time.Hour+9*time.Second)); err != nil || f.len() != 1 {
		t.Errorf("after a life: %v, %d floors kept, want only the renewed one", err, f.len())
	}
}

func mustGet(t *testing.T, st Storage, key ID) Value {
	t.Helper()
	v, ok, err := st.Get(key)
	if err != nil || !ok {
		t.Fatalf("get %s: %v, %v", key, ok, err)
	}
	return v
}
