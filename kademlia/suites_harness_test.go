package kademlia

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp/simnet"
)

// The routing suites (join waves, eclipse, hijack, poisoned lookups,
// clients) build DHTs on rpcudp/simnet inside a testing/synctest bubble,
// as the churn suites do (churn_test.go): time is virtual. Their figures
// print with -v; the full sizes run with -tags long. Run them with
//
//	go test -count=1 -run 'Suite(JoinWave|Eclipse|Hijack|Poisoned|Clients)' -v ./kademlia/

// simCluster is a set of nodes on one simulated network. Call it inside a
// synctest bubble; close closes everything.
type simCluster struct {
	t     testing.TB
	net   *simnet.Network
	rng   *rand.Rand
	nodes []*Node
	addrs int // addresses handed out (simAddr)
}

// newSimCluster returns an empty cluster on a network with 5-20 ms one-way
// latency (on 1 ms arrivals), seeded by seed.
func newSimCluster(t testing.TB, seed uint64) *simCluster {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	net := simnet.New(simnet.Config{Seed: int64(rng.Uint64() >> 1), Latency: 5 * time.Millisecond,
		Jitter: 15 * time.Millisecond, Quantum: time.Millisecond})
	return &simCluster{t: t, net: net, rng: rng}
}

// randomID draws an id from the cluster's generator (reproducible).
func (c *simCluster) randomID() ID {
	var id ID
	for i := range id {
		id[i] = byte(c.rng.Uint32())
	}
	return id
}

// addr returns a fresh address, each in a /24 of its own.
func (c *simCluster) addr() netip.AddrPort {
	c.addrs++
	return simAddr(c.addrs - 1)
}

// serve starts a node at addr with cfg (its ID drawn if zero).
func (c *simCluster) serve(addr netip.AddrPort, cfg Config) *Node {
	c.t.Helper()
	if cfg.ID.IsZero() {
		cfg.ID = c.randomID()
	}
	if cfg.RPCTimeout == 0 {
		cfg.RPCTimeout = time.Second // virtual; round trips take at most 42 ms
	}
	conn, err := c.net.Listen(addr)
	if err != nil {
		c.t.Fatal(err)
	}
	n, err := Serve(conn, cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	return n
}

// grow starts count nodes with cfg and adds them to the cluster.
func (c *simCluster) grow(count int, cfg Config) []*Node {
	start := len(c.nodes)
	for range count {
		c.nodes = append(c.nodes, c.serve(c.addr(), cfg))
	}
	return c.nodes[start:]
}

// joinAtOnce bootstraps the nodes of the cluster from the first of
// joiners on, all at the same moment, each through one random node before
// it in the cluster (a flash crowd, as examples/demo makes: the nodes
// form one connected network, which random picks among all nodes would
// not guarantee). The cluster's first node does not bootstrap.
func (c *simCluster) joinAtOnce(joiners []*Node) {
	c.t.Helper()
	first := len(c.nodes) - len(joiners)
	if first == 0 {
		joiners, first = joiners[1:], 1
	}
	via := make([]netip.AddrPort, len(joiners))
	for i := range joiners {
		via[i] = c.nodes[c.rng.IntN(first+i)].Addr()
	}
	errs := make([]error, len(joiners))
	var wg sync.WaitGroup
	for i, n := range joiners {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_, errs[i] = n.Bootstrap(ctx, []netip.AddrPort{via[i]})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			c.t.Fatalf("node %d: Bootstrap: %v", i, err)
		}
	}
}

// close closes every node and the network.
func (c *simCluster) close() {
	closeAll(c.nodes)
	c.net.Close()
}

// trueClosest returns the k ids of nodes closest to target, skipping
// exclude (nil: none).
func trueClosest(nodes []*Node, target ID, k int, exclude func(*Node) bool) []ID {
	var ids []ID
	for _, n := range nodes {
		if exclude == nil || !exclude(n) {
			ids = append(ids, n.ID())
		}
	}
	slices.SortFunc(ids, func(a, b ID) int { return cmpDistance(target, a, b) })
	return ids[:min(k, len(ids))]
}

// sameIDs reports whether the first len(want) contacts of got are want,
// in any order.
func sameIDs(got []Contact, want []ID) bool {
	if len(got) < len(want) {
		return false
	}
	for _, c := range got[:len(want)] {
		if !slices.Contains(want, c.ID) {
			return false
		}
	}
	return true
}

// share is a fraction printed as a percentage.
type share struct{ n, of int }

func (s share) value() float64 {
	if s.of == 0 {
		return 1
	}
	return float64(s.n) / float64(s.of)
}
