package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"time"
)

// config sets up a demo run. Zero fields take the defaults of the flags.
type config struct {
	Nodes      int           // nodes in the network (default 20, at least 2)
	Keys       int           // keys to set (default 10)
	GetsPerKey int           // Gets per key; 0 or more than Nodes-1 means every other node
	IPv6       bool          // run on [::1] instead of 127.0.0.1
	K, Alpha   int           // Kademlia parameters (default 5 and 3)
	RPCTimeout time.Duration // per-RPC timeout (default 2s)
	Timeout    time.Duration // bound on the whole run (default 60s)
	Parallel   int           // Gets in flight at once (default 16)
	Seed       uint64        // random seed (0: pick one)
	// Settle bounds the wait, after the joins, for every joined node's
	// repeated self-lookup (see demo.settle): default 5s; negative: no wait.
	Settle time.Duration
	Logger *slog.Logger // node logs (nil: discarded)
}

func (c config) withDefaults() config {
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

// parseFlags parses the command line (without the program name).
// "-settle 0" means no wait (config.Settle < 0).
func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&cfg.Nodes, "nodes", 20, "nodes in the network")
	fs.IntVar(&cfg.Keys, "keys", 10, "keys to set")
	fs.IntVar(&cfg.GetsPerKey, "gets-per-key", 0, "Gets per key from a random sample of nodes (0: every other node)")
	fs.BoolVar(&cfg.IPv6, "6", false, "run on [::1] instead of 127.0.0.1")
	fs.IntVar(&cfg.K, "k", 5, "Kademlia k: bucket size, and how many nodes store each key")
	fs.IntVar(&cfg.Alpha, "alpha", 3, "Kademlia alpha: RPCs a lookup keeps in flight")
	fs.DurationVar(&cfg.RPCTimeout, "rpc-timeout", 2*time.Second, "per-RPC timeout")
	fs.DurationVar(&cfg.Timeout, "timeout", 60*time.Second, "bound on the whole run")
	fs.IntVar(&cfg.Parallel, "parallel", 16, "Gets in flight at once")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "random seed (0: random); the same seed replays the same network (ids, join order, keys)")
	fs.DurationVar(&cfg.Settle, "settle", 5*time.Second,
		"after the joins, wait up to this long for every node's repeated self-lookup, which finds the nodes that joined with it (0: no wait)")
	verbose := fs.Bool("v", false, "debug logging of every node on stderr")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 || cfg.Nodes < 2 || cfg.Keys < 1 {
		return cfg, fmt.Errorf("want -nodes >= 2, -keys >= 1 and no arguments")
	}
	if cfg.Settle == 0 {
		cfg.Settle = -1 // no wait, rather than the default
	}
	if *verbose {
		cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return cfg, nil
}
