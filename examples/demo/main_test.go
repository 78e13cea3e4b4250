package main

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rpcudp/go-rpcudp/rpcudp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestDemoFindsEveryKey(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out bytes.Buffer
	sum, err := run(ctx, config{Nodes: 8, Keys: 3, RPCTimeout: time.Second}, &out)
	t.Logf("output:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	if !sum.ok() {
		t.Fatalf("not every key found: %+v", sum)
	}
	if sum.Joined != 8 || sum.KeysSet != 3 || sum.KeysFound != 3 || sum.Gets != 3*7 || sum.GetsFound != 3*7 {
		t.Errorf("summary %+v", sum)
	}
	if sum.DatagramsOut == 0 || sum.DatagramsIn == 0 || sum.CallsOK == 0 {
		t.Errorf("no traffic counted: %+v", sum)
	}
	if sum.CallsFailed != 0 || sum.Settled != 7 || sum.Settle <= 0 || sum.Settle >= 5*time.Second {
		t.Errorf("failed calls %d, settled %d nodes in %v; want 0, 7 in (0, 5s)", sum.CallsFailed, sum.Settled, sum.Settle)
	}
	if strings.Index(out.String(), "demo: waiting") > strings.Index(out.String(), "demo: 8 nodes") {
		t.Error("the wait is announced after it, with the summary")
	}
	kinds := map[string]lookupSummary{} // the get phase's lookups, by kind
	for _, l := range sum.Lookups {
		if l.Phase == "get" {
			kinds[l.Kind] = l
		}
		if l.Phase == "bootstrap" && (l.Kind != "node" || l.Count == 0) {
			t.Errorf("bootstrap lookups %+v", l)
		}
	}
	if sum.K != 5 || sum.Alpha != 3 {
		t.Errorf("k=%d alpha=%d, want the demo's defaults 5 and 3", sum.K, sum.Alpha)
	}
	// With k=5, a key lives on at most 6 of the 8 nodes (the 5 closest
	// and its setter), so some getters must look it up.
	if l := kinds["value"]; l.Count == 0 || l.Found == 0 || l.RPCsP50 <= 0 || l.HopsP50 <= 0 || l.RPCsP99 < l.RPCsP50 {
		t.Errorf("value lookups %+v", l)
	}
	for _, want := range []string{
		"demo: 8 nodes on 127.0.0.1 (k=5, alpha=3), 3 keys, 7 gets per key",
		"8/8 nodes joined",
		"3/3 keys stored",
		"3/3 keys found by every getter; 21/21 gets found the value",
		"Get p50 ",
		"lookups    bootstrap node",
		"lookups    get       value",
		"PASS: every key was found",
		// What it waits for, said before it waits, and how long it took.
		"demo: waiting (at most -settle 5s) for the 7 joined nodes to repeat their self-lookup",
		"settle     7/7 joined nodes repeated their self-lookup within ",
		"lookups    settle    node",
		"in all: bootstrap ",
		// A passing run has no failed calls: the queries still in flight
		// when a lookup had its answer are counted as cancelled.
		"cancelled by a lookup that had its answer, 0 failed",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

func TestDemoSample(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out bytes.Buffer
	sum, err := run(ctx, config{Nodes: 6, Keys: 2, GetsPerKey: 2, Seed: 7, RPCTimeout: time.Second}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if !sum.ok() || sum.Gets != 4 || sum.Seed != 7 {
		t.Fatalf("summary %+v\n%s", sum, out.String())
	}
}

// TestSettleZeroDoesNotWait: -settle 0 means no wait (it meant the
// default 5 s), and the summary says there was none.
func TestSettleZeroDoesNotWait(t *testing.T) {
	cfg, err := parseFlags([]string{"-settle", "0", "-nodes", "4", "-keys", "1", "-rpc-timeout", "1s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out bytes.Buffer
	sum, err := run(ctx, cfg, &out)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Settle != 0 || sum.SettleWanted != 0 || strings.Contains(out.String(), "waiting") ||
		!strings.Contains(out.String(), "settle     no wait for the repeated self-lookups (-settle 0)") {
		t.Errorf("settle %v for %d nodes; output:\n%s", sum.Settle, sum.SettleWanted, out.String())
	}
	if cfg, _ := parseFlags(nil, io.Discard); cfg.withDefaults().Settle != 5*time.Second {
		t.Errorf("default -settle %v, want 5s", cfg.Settle)
	}
}

// TestCallsCancelledApartFromFailed: the endpoints count a call a lookup
// cancelled as failed; the summary tells it from error replies and send
// errors.
func TestCallsCancelledApartFromFailed(t *testing.T) {
	for _, tt := range []struct {
		name              string
		stats             []rpcudp.Stats
		cancelled, failed uint64
	}{
		{"none", nil, 0, 0},
		{"all cancelled", []rpcudp.Stats{{CallsOK: 5, CallsFailed: 3}, {CallsFailed: 4}}, 7, 0},
		{"error replies and send errors", []rpcudp.Stats{{CallsFailed: 10, ErrorReplies: 1}, {ErrorReplies: 2, SendErrors: 1}}, 6, 4},
		// An error reply to a call already cancelled counts once.
		{"more errors than failures", []rpcudp.Stats{{CallsFailed: 1, ErrorReplies: 3}}, 0, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var s summary
			s.addStats(tt.stats)
			if s.CallsCancelled != tt.cancelled || s.CallsFailed != tt.failed {
				t.Errorf("cancelled %d, failed %d; want %d, %d", s.CallsCancelled, s.CallsFailed, tt.cancelled, tt.failed)
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	xs := []int{5, 1, 4, 2, 3}
	for p, want := range map[float64]int{50: 3, 90: 5, 99: 5, 1: 1, 100: 5} {
		if got := percentile(xs, p); got != want {
			t.Errorf("percentile(%v) = %d, want %d", p, got, want)
		}
	}
	if got := percentile([]int(nil), 50); got != 0 {
		t.Errorf("percentile of nothing = %d", got)
	}
	if xs[0] != 5 {
		t.Error("percentile sorted its input")
	}
}

func TestSummaryOK(t *testing.T) {
	ok := summary{Keys: 2, KeysSet: 2, KeysFound: 2, Gets: 4, GetsFound: 4}
	if !ok.ok() {
		t.Error("complete run not OK")
	}
	for _, s := range []summary{
		{},
		{Keys: 2, KeysSet: 1, KeysFound: 1, Gets: 4, GetsFound: 4},
		{Keys: 2, KeysSet: 2, KeysFound: 2, Gets: 4, GetsFound: 3},
	} {
		if s.ok() {
			t.Errorf("%+v is OK", s)
		}
	}
	var out bytes.Buffer
	printSummary(&out, summary{Keys: 1, Gets: 1, FirstFailures: []string{"node 3: get k: not found"}})
	if !strings.Contains(out.String(), "FAIL") || !strings.Contains(out.String(), "node 3: get k: not found") {
		t.Errorf("failure summary:\n%s", out.String())
	}
}

// TestSeedReplaysTheNetwork: the same seed gives the same node ids (and,
// drawn from the same generator after them, the same join order and
// keys), so a failed run can be replayed with its printed -seed.
func TestSeedReplaysTheNetwork(t *testing.T) {
	ids := func(seed uint64) []string {
		cfg := config{Nodes: 4, Seed: seed}.withDefaults()
		d := &demo{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))}
		defer func() { closeAll(d.nodes) }()
		if err := d.startNodes(context.Background()); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, n := range d.nodes {
			out = append(out, n.ID().String())
		}
		return out
	}
	a, b, c := ids(42), ids(42), ids(43)
	if !slices.Equal(a, b) {
		t.Errorf("seed 42 gave ids %v, then %v", a, b)
	}
	if slices.Equal(a, c) {
		t.Errorf("seeds 42 and 43 gave the same ids %v", a)
	}
}
