package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/rpcudp/go-rpcudp/kademlia"
	"github.com/rpcudp/go-rpcudp/rpcudp"
)

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "demo:", err)
		}
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	sum, err := run(ctx, cfg, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
	if !sum.ok() {
		os.Exit(1)
	}
}

// run starts the network, sets and gets the keys, closes the network and
// prints the summary on stdout. The error reports a network that could not
// be started; failed Gets are only counted (see summary.ok).
func run(ctx context.Context, cfg config, stdout io.Writer) (summary, error) {
	cfg = cfg.withDefaults()
	if cfg.Nodes < 2 {
		return summary{}, errors.New("need at least 2 nodes")
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	d := &demo{
		cfg:     cfg,
		lookups: lookupLog{selfLookup: make(chan struct{}, 1)},
		rng:     rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		sum:     summary{Nodes: cfg.Nodes, Keys: cfg.Keys, Seed: cfg.Seed, GetsPerKeyChosen: cfg.GetsPerKey, K: cfg.K, Alpha: cfg.Alpha},
	}
	defer func() { closeAll(d.nodes) }()
	start := time.Now()
	if err := d.startNodes(ctx); err != nil {
		return d.sum, err
	}
	d.bootstrap(ctx)
	d.settle(ctx, stdout)
	if err := ctx.Err(); err != nil {
		return d.sum, err
	}
	setOK := d.setKeys(ctx)
	d.getKeys(ctx, setOK)
	d.sum.Total = time.Since(start)
	d.countAndClose()
	printSummary(stdout, d.sum)
	return d.sum, nil
}

// demo is one run's network, keys and summary.
type demo struct {
	cfg     config
	rng     *rand.Rand
	lookups lookupLog
	nodes   []*kademlia.Node
	joined  []bool // by node: its Bootstrap found someone
	keys    []demoKey
	sum     summary
}

// startNodes starts cfg.Nodes nodes on loopback, with ids drawn from the
// seed, each reporting its lookups to d.lookups.
func (d *demo) startNodes(ctx context.Context) error {
	host := "127.0.0.1"
	if d.cfg.IPv6 {
		host = "::1"
	}
	d.sum.ListenAddr = host
	d.nodes = make([]*kademlia.Node, 0, d.cfg.Nodes)
	for i := range d.cfg.Nodes {
		// The ids come from the seed, as the join order does (bootstrap):
		// a printed -seed replays the same network.
		var id kademlia.ID
		for j := range id {
			id[j] = byte(d.rng.Uint32())
		}
		n, err := kademlia.Listen(ctx, net.JoinHostPort(host, "0"), kademlia.Config{
			ID: id, K: d.cfg.K, Alpha: d.cfg.Alpha, RPCTimeout: d.cfg.RPCTimeout,
			Logger:   d.cfg.Logger.With("node", i),
			OnLookup: func(s kademlia.LookupStats) { d.lookups.add(i, s.Kind == "node" && s.Target == id, s) },
		})
		if err != nil {
			return fmt.Errorf("node %d: %w", i, err)
		}
		d.nodes = append(d.nodes, n)
	}
	return nil
}

// bootstrap joins node i from node 0 and a random earlier node, all nodes
// at once.
func (d *demo) bootstrap(ctx context.Context) {
	d.lookups.setPhase("bootstrap")
	start := time.Now()
	d.joined = make([]bool, d.cfg.Nodes)
	var joins sync.WaitGroup
	for i := 1; i < d.cfg.Nodes; i++ {
		peers := []netip.AddrPort{d.nodes[0].Addr()}
		if j := d.rng.IntN(i); j != 0 {
			peers = append(peers, d.nodes[j].Addr())
		}
		joins.Go(func() {
			found, err := d.nodes[i].Bootstrap(ctx, peers)
			d.joined[i] = err == nil && len(found) > 0
			if !d.joined[i] {
				d.cfg.Logger.Warn("bootstrap failed", "node", i, "err", err)
			}
		})
	}
	joins.Wait()
	d.sum.Joined = 1 + countTrue(d.joined) // node 0 is the network's first node
	d.sum.Bootstrap = time.Since(start)
}

// setKeys sets each key from one random node, all at once, and reports
// which keys were set.
func (d *demo) setKeys(ctx context.Context) []bool {
	d.planKeys()
	d.lookups.setPhase("set")
	start := time.Now()
	setOK := make([]bool, len(d.keys))
	var sets sync.WaitGroup
	for i, k := range d.keys {
		sets.Go(func() {
			if err := d.nodes[k.setter].Set(ctx, k.name, k.value); err != nil {
				d.cfg.Logger.Warn("set failed", "key", k.name, "err", err)
				return
			}
			setOK[i] = true
		})
	}
	sets.Wait()
	d.sum.Set = time.Since(start)
	d.sum.KeysSet = countTrue(setOK)
	return setOK
}

// get runs one Get and checks its value.
func (d *demo) get(ctx context.Context, gt getPlan) getResult {
	k := d.keys[gt.key]
	t0 := time.Now()
	v, found, err := d.nodes[gt.node].Get(ctx, k.name)
	r := getResult{latency: time.Since(t0)}
	switch {
	case err != nil:
		r.err = true
		r.failure = fmt.Sprintf("node %d: get %s: %v", gt.node, k.name, err)
	case !found:
		r.failure = fmt.Sprintf("node %d: get %s: not found", gt.node, k.name)
	case v.String() != k.value:
		r.failure = fmt.Sprintf("node %d: get %s: got %q, want %q", gt.node, k.name, v.String(), k.value)
	}
	return r
}

// getKeys gets each key from the other nodes (or a sample of them),
// cfg.Parallel at once, and counts the outcomes.
func (d *demo) getKeys(ctx context.Context, setOK []bool) {
	gets := d.planGets()
	results := make([]getResult, len(gets))
	d.lookups.setPhase("get")
	start := time.Now()
	var g errgroup.Group
	g.SetLimit(d.cfg.Parallel)
	for i, gt := range gets {
		g.Go(func() error {
			results[i] = d.get(ctx, gt)
			return nil
		})
	}
	_ = g.Wait()
	d.sum.Get = time.Since(start)
	d.sum.countGets(gets, results, setOK)
}

// countAndClose counts what went over the wire and summarizes the
// lookups, then closes the network. The calls are counted before Close,
// which would fail those still in flight.
func (d *demo) countAndClose() {
	stats := make([]rpcudp.Stats, len(d.nodes))
	for i, n := range d.nodes {
		stats[i] = n.Endpoint().Stats()
	}
	d.sum.addStats(stats)
	closeAll(d.nodes)
	d.nodes = nil
	d.sum.Lookups = d.lookups.summarize()
}

// closeAll closes the nodes concurrently.
func closeAll(nodes []*kademlia.Node) {
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Go(func() { n.Close() })
	}
	wg.Wait()
}
