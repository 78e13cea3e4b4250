package main

import (
	"bytes"
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestDemoFindsEveryKey(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out bytes.Buffer
	sum, err := run(ctx, Config{Nodes: 8, Keys: 3, RPCTimeout: time.Second}, &out)
	t.Logf("output:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	if !sum.OK() {
		t.Fatalf("not every key found: %+v", sum)
	}
	if sum.Joined != 8 || sum.KeysSet != 3 || sum.KeysFound != 3 || sum.Gets != 3*7 || sum.GetsFound != 3*7 {
		t.Errorf("summary %+v", sum)
	}
	if sum.DatagramsOut == 0 || sum.DatagramsIn == 0 || sum.CallsOK == 0 {
		t.Errorf("no traffic counted: %+v", sum)
	}
	kinds := map[string]LookupSummary{} // the get phase's lookups, by kind
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
	sum, err := run(ctx, Config{Nodes: 6, Keys: 2, GetsPerKey: 2, Seed: 7, RPCTimeout: time.Second}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if !sum.OK() || sum.Gets != 4 || sum.Seed != 7 {
		t.Fatalf("summary %+v\n%s", sum, out.String())
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
	ok := Summary{Keys: 2, KeysSet: 2, KeysFound: 2, Gets: 4, GetsFound: 4}
	if !ok.OK() {
		t.Error("complete run not OK")
	}
	for _, s := range []Summary{
		{},
		{Keys: 2, KeysSet: 1, KeysFound: 1, Gets: 4, GetsFound: 4},
		{Keys: 2, KeysSet: 2, KeysFound: 2, Gets: 4, GetsFound: 3},
	} {
		if s.OK() {
			t.Errorf("%+v is OK", s)
		}
	}
	var out bytes.Buffer
	printSummary(&out, Summary{Keys: 1, Gets: 1, FirstFailures: []string{"node 3: get k: not found"}})
	if !strings.Contains(out.String(), "FAIL") || !strings.Contains(out.String(), "node 3: get k: not found") {
		t.Errorf("failure summary:\n%s", out.String())
	}
}

// TestSeedReplaysTheNetwork: the same seed gives the same node ids (and,
// drawn from the same generator after them, the same join order and
// keys), so a failed run can be replayed with its printed -seed.
func TestSeedReplaysTheNetwork(t *testing.T) {
	ids := func(seed uint64) []string {
		cfg := Config{Nodes: 4, Seed: seed}.withDefaults()
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
