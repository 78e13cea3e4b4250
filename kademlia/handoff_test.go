package kademlia

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestHandOffRuleUnchanged checks the shortcut the churn suites made
// necessary (handOff asks shouldHandOff for every held key whenever a
// contact joins, and sorting the K closest for each was most of the CPU of
// a 300-node run): table.hasCloser agrees with a brute-force scan, and
// shouldHandOff with the rule as first written (sorted K closest, we
// closer than the first, the newcomer closer than the K-th), on random
// tables, including tables split deep around our id.
func TestHandOffRuleUnchanged(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	randID := func() ID {
		var id ID
		for i := range id {
			id[i] = byte(rng.Uint32())
		}
		return id
	}
	near := func(a ID, bits int) ID { // a with its last bits randomised
		b := randID()
		for i := 0; i < IDLen*8-bits; i++ {
			mask := byte(1) << (7 - i%8)
			b[i/8] = b[i/8]&^mask | a[i/8]&mask
		}
		return b
	}
	for round := range 300 {
		k := []int{1, 2, 4, 8, 20}[round%5]
		self := randID()
		n := offlineNode(t, Config{ID: self, K: k, B: 1 + round%5})
		var contacts []Contact
		for i := range 10 + rng.IntN(200) {
			id := randID()
			if i%3 == 0 {
				id = near(self, 1+rng.IntN(40))
			}
			c := Contact{ID: id, Addr: simAddr(i)}
			n.rt.tab.addFound(c)
			contacts = append(contacts, c)
		}
		for range 50 {
			key := randID()
			if rng.IntN(3) == 0 {
				key = near(self, 1+rng.IntN(60))
			}
			newcomer := contacts[rng.IntN(len(contacts))]
			if rng.IntN(4) == 0 {
				newcomer = Contact{ID: near(key, 1+rng.IntN(100)), Addr: simAddr(9999)}
			}
			excl := func(x Contact) bool { return x.ID == newcomer.ID }
			brute := false
			for _, c := range n.rt.tab.contacts() {
				if c.ID != newcomer.ID && closerTo(key, c.ID, self) {
					brute = true
				}
			}
			if got := n.rt.tab.hasCloser(key, excl); got != brute {
				t.Fatalf("round %d: hasCloser = %v, brute force %v", round, got, brute)
			}
			nb := n.rt.tab.closest(key, k, excl)
			want := len(nb) == 0 ||
				((len(nb) < k || closerTo(key, newcomer.ID, nb[len(nb)-1].ID)) && closerTo(key, self, nb[0].ID))
			if got := n.shouldHandOff(newcomer, key); got != want {
				t.Fatalf("round %d: shouldHandOff = %v, want %v", round, got, want)
			}
		}
	}
}

// TestUserStorageGetsCacheTTL: a Storage of the user's own (here a
// wrapper the node cannot look behind) gives cache stores its TTL halved,
// and keeps the expiry of a key it already holds.
func TestUserStorageGetsCacheTTL(t *testing.T) {
	st := &notifyStorage{Storage: newMemoryStorage(StorageConfig{TTL: time.Hour}), puts: make(chan ID, 1)}
	key := ID{}
	n := offlineNode(t, Config{ID: ID{0x80}, K: 2, Storage: st})
	for i := range 3 { // three contacts closer to key than us: K+1
		n.rt.tab.addFound(Contact{ID: ID{0x40 >> i}, Addr: simAddr(i)})
	}
	opts, err := n.storeOptions(key)
	if err != nil || opts.TTL != 15*time.Minute || opts.KeepExpiry {
		t.Fatalf("storeOptions = %+v, %v; want TTL 1h halved twice", opts, err)
	}
	if err := st.Put(key, dhtValue(t, 1), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if opts, err := n.storeOptions(key); err != nil || !opts.KeepExpiry {
		t.Fatalf("storeOptions for a held key = %+v, %v; want KeepExpiry", opts, err)
	}
}
