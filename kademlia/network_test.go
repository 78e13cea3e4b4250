package kademlia

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestNetwork50 runs 50 nodes on loopback UDP, bootstrapped concurrently,
// and checks that every key set on one node is found from every other.
func TestNetwork50(t *testing.T) {
	t.Parallel() // it waits for rechecks (verifyGrace): let others run meanwhile
	if long {
		// Real loopback timing starves next to the full-size suites;
		// the README's command (no tag) runs it.
		t.Skip("runs in the default test run, not beside the long suites")
	}
	if testing.Short() {
		t.Skip("50-node network in -short mode")
	}
	const size, keys = 50, 6
	start := time.Now()
	var lookups, rpcs, maxHops atomic.Int64
	nodes := dhtNetwork(t, size, Config{RPCTimeout: 2 * time.Second, OnLookup: func(s LookupStats) {
		lookups.Add(1)
		rpcs.Add(int64(s.RPCs))
		for {
			h := maxHops.Load()
			if int64(s.Hops) <= h || maxHops.CompareAndSwap(h, int64(s.Hops)) {
				break
			}
		}
	}})
	t.Logf("bootstrapped %d nodes in %v", size, time.Since(start))
	// A node hands out a contact that has only called it once it has
	// answered a ping verifyGrace after it arrived (issue 9, finding 1),
	// and repeats its self-lookup 2*verifyGrace after joining: the tables
	// fill then.
	deadline := time.Now().Add(2*verifyGrace + 5*time.Second)
	for _, n := range nodes {
		for len(n.rt.tab.closestAnswering(n.ID(), 10, nil)) < 10 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond) // until it hands out 10 of them
		}
		if n.Table().Len() < 10 {
			t.Errorf("%v knows only %d contacts", n.ID(), n.Table().Len())
		}
	}
	t.Logf("every table holds 10 contacts or more %v after the start", time.Since(start).Round(time.Millisecond))

	ctx := dhtCtx(t)
	rng := rand.New(rand.NewPCG(5, 6))
	setters := make([]int, keys)
	for i := range setters {
		setters[i] = rng.IntN(size)
		if err := nodes[setters[i]].Set(ctx, fmt.Sprintf("key-%d", i), fmt.Sprintf("value-%d", i)); err != nil {
			t.Fatalf("Set key-%d on node %d: %v", i, setters[i], err)
		}
	}
	lookups.Store(0)
	rpcs.Store(0)
	maxHops.Store(0)
	setDone := time.Now()

	type job struct{ node, key int }
	jobs := make(chan job)
	var wg sync.WaitGroup
	var misses atomic.Int64
	for range 8 {
		wg.Go(func() {
			for j := range jobs {
				key := fmt.Sprintf("key-%d", j.key)
				v, found, err := nodes[j.node].Get(ctx, key)
				if err != nil || !found || v.String() != fmt.Sprintf("value-%d", j.key) {
					misses.Add(1)
					t.Errorf("node %d Get(%s) = %v, %v, %v", j.node, key, v, found, err)
				}
			}
		})
	}
	for k := range keys {
		for i := range nodes {
			if i != setters[k] {
				jobs <- job{i, k}
			}
		}
	}
	close(jobs)
	wg.Wait()
	if l := lookups.Load(); l > 0 {
		t.Logf("%d gets in %v: %d value lookups, %.1f RPCs each, longest chain %d hops",
			keys*(size-1), time.Since(setDone), l, float64(rpcs.Load())/float64(l), maxHops.Load())
	}
}
