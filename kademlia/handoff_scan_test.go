package kademlia

import (
	"math/rand/v2"
	"testing"
)

// TestHandOffDepthsSound: handOffDepths never rules out a key that
// shouldHandOff would hand over, and countCloser agrees with a brute-force
// count, on random tables (some split deep around our id, some newcomers
// and keys near our id).
func TestHandOffDepthsSound(t *testing.T) {
	rng := rand.New(rand.NewPCG(18, 3))
	kept, ruled := 0, 0
	for round := range 100 {
		k := []int{1, 2, 4, 8, 20}[round%5]
		self := nearID(rng, ID{}, 0)
		n := offlineNode(t, Config{ID: self, K: k, B: 1 + round%5})
		var contacts []Contact
		for i := range 10 + rng.IntN(200) {
			id := nearID(rng, self, rng.IntN(3)*rng.IntN(30))
			c := Contact{ID: id, Addr: simAddr(i)}
			n.rt.tab.addFound(c)
			contacts = append(contacts, c)
		}
		all := n.rt.tab.contacts()
		for range 20 {
			newcomer := contacts[rng.IntN(len(contacts))]
			if rng.IntN(2) == 0 {
				newcomer = Contact{ID: nearID(rng, self, rng.IntN(40)), Addr: simAddr(9999)}
			}
			depths, some := n.rt.tab.handOffDepths(newcomer, k)
			for range 30 {
				key := nearID(rng, self, rng.IntN(4)*rng.IntN(40))
				if rng.IntN(4) == 0 {
					key = nearID(rng, newcomer.ID, rng.IntN(60))
				}
				brute := 0
				for _, c := range all {
					if c.ID != newcomer.ID && closerTo(key, c.ID, newcomer.ID) {
						brute++
					}
				}
				if got := n.rt.tab.countCloser(key, newcomer.ID, len(contacts)+1); got != brute {
					t.Fatalf("round %d: countCloser = %d, brute force %d", round, got, brute)
				}
				p := key.commonPrefixLen(self)
				if n.shouldHandOff(newcomer, key) {
					kept++
					if !some || !depths[p] {
						t.Fatalf("round %d: handOffDepths rules out depth %d (newcomer at depth %d), but shouldHandOff hands the key over",
							round, p, newcomer.ID.commonPrefixLen(self))
					}
				} else if !depths[p] {
					ruled++
				}
			}
		}
	}
	t.Logf("%d keys handed over, all allowed; %d of the others ruled out by depth alone", kept, ruled)
	if kept == 0 || ruled == 0 {
		t.Errorf("degenerate test: %d handed over, %d ruled out", kept, ruled)
	}
}
