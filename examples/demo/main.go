// Command demo starts a small Kademlia network of Go nodes on loopback,
// stores a few keys from some nodes, reads every key back from the other
// nodes and prints a short summary: how many keys were found, how many RPCs
// and hops each lookup took, Get latency percentiles and the datagrams
// exchanged.
//
// Usage:
//
//	go run ./examples/demo [-nodes 20] [-keys 10] [-gets-per-key N] [-6]
//	    [-k 5] [-alpha 3] [-rpc-timeout 2s] [-timeout 60s] [-seed N] [-v]
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
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"sort"
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
		c.Alpha = kademlia.DefaultAlpha
	}
	if c.Seed == 0 {
		c.Seed = rand.Uint64()
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
	flag.IntVar(&cfg.Alpha, "alpha", kademlia.DefaultAlpha, "Kademlia alpha: RPCs a lookup keeps in flight")
	flag.DurationVar(&cfg.RPCTimeout, "rpc-timeout", 2*time.Second, "per-RPC timeout")
	flag.DurationVar(&cfg.Timeout, "timeout", 60*time.Second, "bound on the whole run")
	flag.IntVar(&cfg.Parallel, "parallel", 16, "Gets in flight at once")
	flag.Uint64Var(&cfg.Seed, "seed", 0, "random seed (0: random)")
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

// Phases of a run, in order.
var phases = []string{"bootstrap", "set", "get"}

// lookupLog collects Config.OnLookup reports from every node, tagged with
// the phase the run was in.
type lookupLog struct {
	mu    sync.Mutex
	phase string
	stats map[[2]string][]kademlia.LookupStats // by phase and kind
}

func (l *lookupLog) setPhase(p string) {
	l.mu.Lock()
	l.phase = p
	l.mu.Unlock()
}

func (l *lookupLog) add(s kademlia.LookupStats) {
	l.mu.Lock()
	if l.stats == nil {
		l.stats = map[[2]string][]kademlia.LookupStats{}
	}
	k := [2]string{l.phase, s.Kind}
	l.stats[k] = append(l.stats[k], s)
	l.mu.Unlock()
}

func (l *lookupLog) summarize() []LookupSummary {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []LookupSummary
	for pk, ss := range l.stats {
		rpcs := make([]int, len(ss))
		hops := make([]int, len(ss))
		found := 0
		for i, s := range ss {
			rpcs[i], hops[i] = s.RPCs, s.Hops
			if s.Found {
				found++
			}
		}
		out = append(out, LookupSummary{
			Phase: pk[0], Kind: pk[1], Count: len(ss), Found: found,
			RPCsP50: percentile(rpcs, 50), RPCsP99: percentile(rpcs, 99),
			HopsP50: percentile(hops, 50), HopsP99: percentile(hops, 99),
		})
	}
	sort.Slice(out, func(i, j int) bool {
		pi, pj := slices.Index(phases, out[i].Phase), slices.Index(phases, out[j].Phase)
		if pi != pj {
			return pi < pj
		}
		return out[i].Kind < out[j].Kind
	})
	return out
}

// percentile returns the nearest-rank p-th percentile of xs (0 for none).
func percentile[T int | time.Duration](xs []T, p float64) T {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
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
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	sum := Summary{Nodes: cfg.Nodes, Keys: cfg.Keys, Seed: cfg.Seed, GetsPerKeyChosen: cfg.GetsPerKey, K: cfg.K, Alpha: cfg.Alpha}
	host := "127.0.0.1"
	if cfg.IPv6 {
		host = "::1"
	}
	sum.ListenAddr = host

	// Start the nodes.
	var lookups lookupLog
	nodes := make([]*kademlia.Node, 0, cfg.Nodes)
	defer func() { closeAll(nodes) }()
	for i := 0; i < cfg.Nodes; i++ {
		n, err := kademlia.NewNode(kademlia.Config{
			K: cfg.K, Alpha: cfg.Alpha, RPCTimeout: cfg.RPCTimeout,
			Logger:   cfg.Logger.With("node", i),
			OnLookup: lookups.add,
		})
		if err != nil {
			return sum, err
		}
		nodes = append(nodes, n)
		if err := n.Listen(ctx, netip.AddrPortFrom(netip.MustParseAddr(host), 0).String()); err != nil {
			return sum, fmt.Errorf("node %d: %w", i, err)
		}
	}

	// Bootstrap: node i from node 0 and a random earlier node, all at once.
	lookups.setPhase("bootstrap")
	start := time.Now()
	var joined sync.WaitGroup
	var mu sync.Mutex
	for i := 1; i < cfg.Nodes; i++ {
		peers := []netip.AddrPort{nodes[0].Addr()}
		if j := rng.IntN(i); j != 0 {
			peers = append(peers, nodes[j].Addr())
		}
		joined.Go(func() {
			found, err := nodes[i].Bootstrap(ctx, peers)
			if err == nil && len(found) > 0 {
				mu.Lock()
				sum.Joined++
				mu.Unlock()
			} else {
				cfg.Logger.Warn("bootstrap failed", "node", i, "err", err)
			}
		})
	}
	joined.Wait()
	sum.Joined++ // node 0 is the network's first node
	sum.Bootstrap = time.Since(start)
	if err := ctx.Err(); err != nil {
		return sum, err
	}

	// Set each key from one node.
	type key struct {
		name, value string
		setter      int
	}
	keys := make([]key, cfg.Keys)
	for i := range keys {
		keys[i] = key{
			name:   fmt.Sprintf("demo-key-%d", i),
			value:  fmt.Sprintf("value %d of seed %d", i, cfg.Seed),
			setter: rng.IntN(cfg.Nodes),
		}
	}
	lookups.setPhase("set")
	start = time.Now()
	setOK := make([]bool, len(keys))
	var sets sync.WaitGroup
	for i, k := range keys {
		sets.Go(func() {
			if err := nodes[k.setter].Set(ctx, k.name, k.value); err != nil {
				cfg.Logger.Warn("set failed", "key", k.name, "err", err)
				return
			}
			setOK[i] = true
		})
	}
	sets.Wait()
	sum.Set = time.Since(start)
	for _, ok := range setOK {
		if ok {
			sum.KeysSet++
		}
	}

	// Get each key from the other nodes (or a sample of them).
	type get struct{ key, node int }
	var gets []get
	for ki, k := range keys {
		others := make([]int, 0, cfg.Nodes-1)
		for n := range cfg.Nodes {
			if n != k.setter {
				others = append(others, n)
			}
		}
		rng.Shuffle(len(others), func(a, b int) { others[a], others[b] = others[b], others[a] })
		others = others[:cfg.GetsPerKey]
		slices.Sort(others)
		for _, n := range others {
			gets = append(gets, get{ki, n})
		}
	}
	rng.Shuffle(len(gets), func(a, b int) { gets[a], gets[b] = gets[b], gets[a] })
	latency := make([]time.Duration, len(gets))
	outcome := make([]string, len(gets)) // "" when found
	failed := make([]bool, len(gets))    // the Get itself returned an error
	lookups.setPhase("get")
	start = time.Now()
	var g errgroup.Group
	g.SetLimit(cfg.Parallel)
	for i, gt := range gets {
		g.Go(func() error {
			k := keys[gt.key]
			t0 := time.Now()
			v, found, err := nodes[gt.node].Get(ctx, k.name)
			latency[i] = time.Since(t0)
			switch {
			case err != nil:
				failed[i] = true
				outcome[i] = fmt.Sprintf("node %d: get %s: %v", gt.node, k.name, err)
			case !found:
				outcome[i] = fmt.Sprintf("node %d: get %s: not found", gt.node, k.name)
			case v.String() != k.value:
				outcome[i] = fmt.Sprintf("node %d: get %s: got %q, want %q", gt.node, k.name, v.String(), k.value)
			}
			return nil
		})
	}
	_ = g.Wait()
	sum.Get = time.Since(start)
	sum.Gets = len(gets)
	keyMissed := make([]bool, len(keys))
	for i, o := range outcome {
		if o == "" {
			sum.GetsFound++
			continue
		}
		if failed[i] {
			sum.GetErrors++
		}
		keyMissed[gets[i].key] = true
		if len(sum.FirstFailures) < 5 {
			sum.FirstFailures = append(sum.FirstFailures, o)
		}
	}
	for i, missed := range keyMissed {
		if !missed && setOK[i] {
			sum.KeysFound++
		}
	}
	sum.GetP50 = percentile(latency, 50)
	sum.GetP90 = percentile(latency, 90)
	sum.GetP99 = percentile(latency, 99)

	// Close the network, then count what went over the wire.
	closeAll(nodes)
	for _, n := range nodes {
		st := n.Endpoint().Stats()
		sum.DatagramsIn += st.DatagramsIn
		sum.DatagramsOut += st.DatagramsOut
		sum.CallsOK += st.CallsOK
		sum.CallsTimedOut += st.CallsTimedOut
		sum.CallsFailed += st.CallsFailed
	}
	nodes = nil
	sum.Lookups = lookups.summarize()
	printSummary(stdout, sum)
	return sum, nil
}

// closeAll closes the nodes concurrently.
func closeAll(nodes []*kademlia.Node) {
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Go(func() { n.Close() })
	}
	wg.Wait()
}

// dur formats d for the summary, in a unit that suits it.
func dur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%dµs", d.Microseconds())
}

func printSummary(w io.Writer, s Summary) {
	fmt.Fprintf(w, "demo: %d nodes on %s (k=%d, alpha=%d), %d keys, %d gets per key (seed %d)\n",
		s.Nodes, s.ListenAddr, s.K, s.Alpha, s.Keys, s.GetsPerKeyChosen, s.Seed)
	fmt.Fprintf(w, "  bootstrap  %d/%d nodes joined in %s\n", s.Joined, s.Nodes, dur(s.Bootstrap))
	fmt.Fprintf(w, "  set        %d/%d keys stored in %s\n", s.KeysSet, s.Keys, dur(s.Set))
	fmt.Fprintf(w, "  get        %d/%d keys found by every getter; %d/%d gets found the value in %s\n",
		s.KeysFound, s.Keys, s.GetsFound, s.Gets, dur(s.Get))
	fmt.Fprintf(w, "  latency    Get p50 %s  p90 %s  p99 %s\n", dur(s.GetP50), dur(s.GetP90), dur(s.GetP99))
	valueLookups := 0
	for _, l := range s.Lookups {
		fmt.Fprintf(w, "  lookups    %-9s %-5s %4d: RPCs p50 %d p99 %d, hops p50 %d p99 %d\n",
			l.Phase, l.Kind, l.Count, l.RPCsP50, l.RPCsP99, l.HopsP50, l.HopsP99)
		if l.Phase == "get" && l.Kind == "value" {
			valueLookups += l.Count
		}
	}
	fmt.Fprintf(w, "             %d of %d gets ran a value lookup; the others were answered from the getter's own storage\n",
		min(valueLookups, s.Gets), s.Gets)
	fmt.Fprintf(w, "  network    %d datagrams (%d out, %d in); calls %d ok, %d timed out, %d cancelled or failed\n",
		s.DatagramsIn+s.DatagramsOut, s.DatagramsOut, s.DatagramsIn, s.CallsOK, s.CallsTimedOut, s.CallsFailed)
	if s.GetErrors > 0 {
		fmt.Fprintf(w, "  errors     %d gets returned an error\n", s.GetErrors)
	}
	for _, f := range s.FirstFailures {
		fmt.Fprintf(w, "  failure    %s\n", f)
	}
	if s.OK() {
		fmt.Fprintln(w, "PASS: every key was found from every node")
	} else {
		fmt.Fprintln(w, "FAIL: some keys were not found")
	}
}
