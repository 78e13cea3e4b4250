package kademlia

import (
	"context"
	"sync/atomic"
	"testing"
)

// TestFanOut: at most limit calls run at once, all of them (limit 0: all
// at once) unless ctx ends while one waits for a slot.
func TestFanOut(t *testing.T) {
	items := make([]int, 50)
	for _, limit := range []int{0, 1, 3} {
		var running, peak, calls atomic.Int32
		started := fanOut(context.Background(), items, limit, func(i int, _ int) {
			if r := running.Add(1); r > peak.Load() {
				peak.Store(r)
			}
			calls.Add(1)
			running.Add(-1)
		})
		if started != len(items) || calls.Load() != int32(len(items)) {
			t.Errorf("limit %d: started %d, called %d", limit, started, calls.Load())
		}
		if limit > 0 && peak.Load() > int32(limit) {
			t.Errorf("limit %d: %d ran at once", limit, peak.Load())
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	release := make(chan struct{})
	started := fanOut(ctx, items, 2, func(i int, _ int) {
		if i == 1 {
			cancel() // the third waits for a slot: it is never started
			close(release)
		}
		<-release
	})
	if started != 2 {
		t.Errorf("started %d after the cancel, want 2", started)
	}
}
