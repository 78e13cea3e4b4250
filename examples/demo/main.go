// Command demo starts a small Kademlia network of Go nodes on loopback,
// stores a few keys from some nodes, reads every key back from the other
// nodes and prints a short summary: how many keys were found, how many RPCs
// and hops each lookup took, Get latency percentiles and the datagrams
// exchanged.
//
// Usage:
//
//	go run ./examples/demo [-nodes 20] [-keys 10] [-gets-per-key N] [-6]
//	    [-k 5] [-alpha 3] [-rpc-timeout 2s] [-timeout 60s] [-seed N] [-settle 5s] [-v]
//
// Node i bootstraps from node 0 and from a random earlier node, all nodes
// at once. Each key is set from one node and got from every other node
// (or from -gets-per-key of them, chosen at random). -6 runs the network on
// [::1] instead of 127.0.0.1. It exits 0 only if every Get found its key's
// value, 1 otherwise.
//
// The demo's k defaults to 5 rather than Kademlia's 20: with k=20 every
// node of a 20-node network stores every key, so every Get would be
// answered from the getter's own storage and no lookup would be shown.
// Lookups are reported per phase (bootstrap, set, get) and kind (node or
// value lookup, from kademlia.Config.OnLookup); Gets answered locally run
// no lookup. Calls "cancelled or failed" are mostly queries a lookup
// cancelled because it had its answer before they returned.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/rpcudp/go-rpcudp/kademlia"
)

// Config sets up a demo run. Zero fields take the defaults of the flags.
type Config struct {
	Nodes      int           // nodes in the network (default 20, at least 2)
	Keys       int           // keys to set (default 10)
	GetsPerKey int           // Gets per key; 0 or more than Nodes-1 means every other node
	IPv6       bool          // run on [::1] instead of 127.0.0.1
	K, Alpha   int           // Kademlia parameters (default 5 and 3)
	RPCTimeout time.Duration // per-RPC timeout (default 2s)
	Timeout    time.Duration // bound on the whole run (default 60s)
	Parallel   int           // Gets in flight at once (default 16)
	Seed       uint64        // random seed (0: pick one)
	Settle     time.Duration // wait after the joins before setting keys (default 5s; negative: none)
	Logger     *slog.Logger  // node logs (nil: discarded)
}

func (c Config) withDefaults() Config {
	if c.Nodes <= 0 {
		c.Nodes = 20
	}
	if c.Keys <= 0 {
		c.Keys = 10
	}
	if c.GetsPerKey <= 0 || c.GetsPerKey > c.Nodes-1 {
		c.GetsPerKey = c.Nodes - 1
	}
	if c.RPCTimeout <= 0 {
		c.RPCTimeout = 2 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 60 * time.Second
	}
	if c.Parallel <= 0 {
		c.Parallel = 16
	}
	if c.K <= 0 {
		c.K = 5
	}
	if c.Alpha <= 0 {
		c.Alpha = 3
	}
	if c.Seed == 0 {
		c.Seed = rand.Uint64()
	}
	if c.Settle == 0 {
		c.Settle = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// LookupSummary aggregates the lookups of one phase ("bootstrap", "set" or
// "get") and kind (LookupStats.Kind: "node" or "value").
type LookupSummary struct {
	Phase, Kind      string
	Count, Found     int
	RPCsP50, RPCsP99 int
	HopsP50, HopsP99 int
}

// Summary is the outcome of a demo run.
type Summary struct {
	Nodes, Joined    int // nodes started; nodes whose bootstrap found someone
	Keys, KeysSet    int // keys to set; keys set without error
	KeysFound        int // keys every getter found with the right value
	Gets, GetsFound  int // Get calls; those that returned the right value
	GetErrors        int // Get calls that failed
	Lookups          []LookupSummary
	GetP50, GetP90   time.Duration // Get latency percentiles
	GetP99           time.Duration
	DatagramsIn      uint64 // summed over every node's endpoint
	DatagramsOut     uint64
	CallsOK          uint64
	CallsTimedOut    uint64
	CallsFailed      uint64
	Bootstrap        time.Duration // phase durations
	Set, Get         time.Duration
	Seed             uint64
	FirstFailures    []string // a few failed Gets, for the report
	ListenAddr       string
	GetsPerKeyChosen int
	K, Alpha         int
}

// OK reports whether every key was set and every Get found it.
func (s Summary) OK() bool {
	return s.Keys > 0 && s.KeysSet == s.Keys && s.KeysFound == s.Keys && s.GetsFound == s.Gets
}

func main() {
	var cfg Config
	verbose := false
	flag.IntVar(&cfg.Nodes, "nodes", 20, "nodes in the network")
	flag.IntVar(&cfg.Keys, "keys", 10, "keys to set")
	flag.IntVar(&cfg.GetsPerKey, "gets-per-key", 0, "Gets per key from a random sample of nodes (0: every other node)")
	flag.BoolVar(&cfg.IPv6, "6", false, "run on [::1] instead of 127.0.0.1")
	flag.IntVar(&cfg.K, "k", 5, "Kademlia k: bucket size, and how many nodes store each key")
	flag.IntVar(&cfg.Alpha, "alpha", 3, "Kademlia alpha: RPCs a lookup keeps in flight")
	flag.DurationVar(&cfg.RPCTimeout, "rpc-timeout", 2*time.Second, "per-RPC timeout")
	flag.DurationVar(&cfg.Timeout, "timeout", 60*time.Second, "bound on the whole run")
	flag.IntVar(&cfg.Parallel, "parallel", 16, "Gets in flight at once")
	flag.Uint64Var(&cfg.Seed, "seed", 0, "random seed (0: random); the same seed replays the same network (ids, join order, keys)")
	flag.DurationVar(&cfg.Settle, "settle", 5*time.Second, "wait after the joins before setting keys")
	flag.BoolVar(&verbose, "v", false, "debug logging of every node on stderr")
	flag.Parse()
	if flag.NArg() > 0 || cfg.Nodes < 2 || cfg.Keys < 1 {
		fmt.Fprintln(os.Stderr, "demo: want -nodes >= 2, -keys >= 1 and no arguments")
		os.Exit(2)
	}
	if verbose {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	sum, err := run(ctx, cfg, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
	if !sum.OK() {
		os.Exit(1)
	}
}

// run starts the network, sets and gets the keys, closes the network and
// prints the summary on stdout. The error reports a network that could not
// be started; failed Gets are only counted (see Summary.OK).
func run(ctx context.Context, cfg Config, stdout io.Writer) (Summary, error) {
	cfg = cfg.withDefaults()
	if cfg.Nodes < 2 {
		return Summary{}, errors.New("need at least 2 nodes")
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	d := &demo{
		cfg: cfg,
		rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		sum: Summary{Nodes: cfg.Nodes, Keys: cfg.Keys, Seed: cfg.Seed, GetsPerKeyChosen: cfg.GetsPerKey, K: cfg.K, Alpha: cfg.Alpha},
	}
	defer func() { closeAll(d.nodes) }()
	if err := d.startNodes(ctx); err != nil {
		return d.sum, err
	}
	d.bootstrap(ctx)
	d.settle(ctx)
	if err := ctx.Err(); err != nil {
		return d.sum, err
	}
	setOK := d.setKeys(ctx)
	d.getKeys(ctx, setOK)
	d.closeAndCount()
	printSummary(stdout, d.sum)
	return d.sum, nil
}

// demo is one run's network, keys and summary.
type demo struct {
	cfg     Config
	rng     *rand.Rand
	lookups lookupLog
	nodes   []*kademlia.Node
	keys    []demoKey
	sum     Summary
}

// demoKey is a key to set, its value and the node that sets it.
type demoKey struct {
	name, value string
	setter      int
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
			OnLookup: d.lookups.add,
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
	var joined sync.WaitGroup
	var mu sync.Mutex
	for i := 1; i < d.cfg.Nodes; i++ {
		peers := []netip.AddrPort{d.nodes[0].Addr()}
		if j := d.rng.IntN(i); j != 0 {
			peers = append(peers, d.nodes[j].Addr())
		}
		joined.Go(func() {
			found, err := d.nodes[i].Bootstrap(ctx, peers)
			if err == nil && len(found) > 0 {
				mu.Lock()
				d.sum.Joined++
				mu.Unlock()
			} else {
				d.cfg.Logger.Warn("bootstrap failed", "node", i, "err", err)
			}
		})
	}
	joined.Wait()
	d.sum.Joined++ // node 0 is the network's first node
	d.sum.Bootstrap = time.Since(start)
}

// settle waits cfg.Settle after the joins: a node hands out a contact that
// has only called it once it has answered a ping a few seconds later, and
// repeats its self-lookup a few seconds after joining, so neighbourhoods
// formed by a flash crowd are complete only then.
func (d *demo) settle(ctx context.Context) {
	if d.cfg.Settle <= 0 {
		return
	}
	t := time.NewTimer(d.cfg.Settle)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// setKeys sets each key from one random node, all at once, and reports
// which keys were set.
func (d *demo) setKeys(ctx context.Context) []bool {
	d.keys = make([]demoKey, d.cfg.Keys)
	for i := range d.keys {
		d.keys[i] = demoKey{
			name:   fmt.Sprintf("demo-key-%d", i),
			value:  fmt.Sprintf("value %d of seed %d", i, d.cfg.Seed),
			setter: d.rng.IntN(d.cfg.Nodes),
		}
	}
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
	for _, ok := range setOK {
		if ok {
			d.sum.KeysSet++
		}
	}
	return setOK
}

// getPlan is one Get: a key (index into demo.keys) from a node.
type getPlan struct{ key, node int }

// getResult is how one Get went.
type getResult struct {
	latency time.Duration
	failure string // "" when the Get found the value
	err     bool   // the Get itself returned an error
}

// planGets picks, for each key, GetsPerKey nodes other than its setter,
// and shuffles the Gets.
func (d *demo) planGets() []getPlan {
	var gets []getPlan
	for ki, k := range d.keys {
		others := make([]int, 0, d.cfg.Nodes-1)
		for n := range d.cfg.Nodes {
			if n != k.setter {
				others = append(others, n)
			}
		}
		d.rng.Shuffle(len(others), func(a, b int) { others[a], others[b] = others[b], others[a] })
		others = others[:d.cfg.GetsPerKey]
		slices.Sort(others)
		for _, n := range others {
			gets = append(gets, getPlan{ki, n})
		}
	}
	d.rng.Shuffle(len(gets), func(a, b int) { gets[a], gets[b] = gets[b], gets[a] })
	return gets
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
	d.sum.Gets = len(gets)
	keyMissed := make([]bool, len(d.keys))
	latency := make([]time.Duration, len(gets))
	for i, r := range results {
		latency[i] = r.latency
		if r.failure == "" {
			d.sum.GetsFound++
			continue
		}
		if r.err {
			d.sum.GetErrors++
		}
		keyMissed[gets[i].key] = true
		if len(d.sum.FirstFailures) < 5 {
			d.sum.FirstFailures = append(d.sum.FirstFailures, r.failure)
		}
	}
	for i, missed := range keyMissed {
		if !missed && setOK[i] {
			d.sum.KeysFound++
		}
	}
	d.sum.GetP50 = percentile(latency, 50)
	d.sum.GetP90 = percentile(latency, 90)
	d.sum.GetP99 = percentile(latency, 99)
}

// closeAndCount closes the network, then counts what went over the wire
// and summarizes the lookups.
func (d *demo) closeAndCount() {
	closeAll(d.nodes)
	for _, n := range d.nodes {
		st := n.Endpoint().Stats()
		d.sum.DatagramsIn += st.DatagramsIn
		d.sum.DatagramsOut += st.DatagramsOut
		d.sum.CallsOK += st.CallsOK
		d.sum.CallsTimedOut += st.CallsTimedOut
		d.sum.CallsFailed += st.CallsFailed
	}
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
