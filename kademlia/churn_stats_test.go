package kademlia

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// lookupFigures summarises the lookups of one kind in one phase.
type lookupFigures struct {
	count              int
	hopsP50, hopsP99   int
	rpcsP50, rpcsP99   int
	rpcsMean, hopsMean float64
}

func (f lookupFigures) String() string {
	if f.count == 0 {
		return "none"
	}
	return fmt.Sprintf("%d lookups: hops p50 %d p99 %d (mean %.2f), RPCs p50 %d p99 %d (mean %.1f)",
		f.count, f.hopsP50, f.hopsP99, f.hopsMean, f.rpcsP50, f.rpcsP99, f.rpcsMean)
}

// percentile returns the nearest-rank p-th percentile of sorted xs.
func percentile(xs []int, p int) int {
	if len(xs) == 0 {
		return 0
	}
	i := (len(xs)*p + 99) / 100
	return xs[min(max(i-1, 0), len(xs)-1)]
}

func summarize(recs []LookupStats) lookupFigures {
	f := lookupFigures{count: len(recs)}
	if len(recs) == 0 {
		return f
	}
	hops := make([]int, len(recs))
	rpcs := make([]int, len(recs))
	for i, s := range recs {
		hops[i], rpcs[i] = s.Hops, s.RPCs
		f.hopsMean += float64(s.Hops)
		f.rpcsMean += float64(s.RPCs)
	}
	slices.Sort(hops)
	slices.Sort(rpcs)
	f.hopsP50, f.hopsP99 = percentile(hops, 50), percentile(hops, 99)
	f.rpcsP50, f.rpcsP99 = percentile(rpcs, 50), percentile(rpcs, 99)
	f.hopsMean /= float64(len(recs))
	f.rpcsMean /= float64(len(recs))
	return f
}

// lookupRecorder collects every node's LookupStats (Config.OnLookup), by
// phase of the scenario and by class: "value" (a Get), "key" (a node
// lookup of a key's digest: a Set or a republish) and "node" (a bootstrap
// or bucket refresh).
type lookupRecorder struct {
	mu    sync.Mutex
	phase string
	keys  map[ID]bool
	recs  map[string][]LookupStats
	by    map[string][]int // the node that ran each lookup of recs
}

func newLookupRecorder() *lookupRecorder {
	return &lookupRecorder{phase: "build", keys: map[ID]bool{}, recs: map[string][]LookupStats{}, by: map[string][]int{}}
}

func (r *lookupRecorder) record(node int, s LookupStats) {
	r.mu.Lock()
	defer r.mu.Unlock()
	class := s.Kind
	if s.Kind == "node" && r.keys[s.Target] {
		class = "key"
	}
	k := r.phase + "/" + class
	r.recs[k] = append(r.recs[k], s)
	r.by[k] = append(r.by[k], node)
}

func (r *lookupRecorder) nodesOf(phase, class string) []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.by[phase+"/"+class])
}

func (r *lookupRecorder) setPhase(p string) {
	r.mu.Lock()
	r.phase = p
	r.mu.Unlock()
}

func (r *lookupRecorder) addKey(k ID) {
	r.mu.Lock()
	r.keys[k] = true
	r.mu.Unlock()
}

func (r *lookupRecorder) get(phase, class string) []LookupStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.recs[phase+"/"+class])
}

// wallClock tells the real time inside a synctest bubble, where time.Now
// is virtual: a goroutine outside the bubble answers. Its channels are
// created outside the bubble, as synctest requires.
type wallClock struct {
	req  chan struct{}
	resp chan time.Time
	done chan struct{}
}

func startWallClock(t *testing.T) *wallClock {
	c := &wallClock{req: make(chan struct{}), resp: make(chan time.Time), done: make(chan struct{})}
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		for {
			select {
			case <-c.req:
				c.resp <- time.Now()
			case <-c.done:
				return
			}
		}
	}()
	t.Cleanup(func() { close(c.done); <-exited })
	return c
}

func (c *wallClock) now() time.Time {
	c.req <- struct{}{}
	return <-c.resp
}
