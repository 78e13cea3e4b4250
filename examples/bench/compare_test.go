package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// savedRun is a result as -json saves it, with round numbers.
func savedRun(conc int, tput float64, p50, p99 int64) Result {
	r := &RunResult{Mode: "rpc", Calls: 1000, OK: 1000, Throughput: tput, ElapsedS: 1,
		Latency:     Latency{Min: 10, P50: p50, P90: p50 * 2, P99: p99, P999: p99 * 2, Max: p99 * 4},
		Percentiles: []PercentilePoint{{0, 10}, {90, p50 * 2}, {99, p99}, {99.999, p99 * 4}},
		OverTime:    &Series{IntervalS: 0.5, Points: []SeriesPoint{{0.5, 500, tput, p99}, {1, 500, tput, p99}}}}
	return Result{Target: "127.0.0.1:1234", InProcess: true, RPC: r,
		Config: ConfigInfo{Load: "closed", Concurrency: conc, Method: "echo", Size: 32, Machine: Machine{GOMAXPROCS: 2, GoVersion: "go1.26"}}}
}

func writeJSONFile(t *testing.T, dir, name string, r Result) string {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCompare(t *testing.T) {
	dir := t.TempDir()
	a := writeJSONFile(t, dir, "before.json", savedRun(32, 1000, 100, 2000))
	b := writeJSONFile(t, dir, "after.json", savedRun(64, 1500, 150, 1000))
	htmlFile := filepath.Join(dir, "cmp.html")
	var stdout, stderr bytes.Buffer
	// -html after the files, as people type it.
	if code := compareMain([]string{a, b, "-html", htmlFile}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	text := stdout.String()
	rows := map[string][]string{}
	for _, line := range strings.Split(text, "\n") {
		if f := strings.Fields(line); len(f) >= 4 {
			rows[strings.Join(f[:len(f)-3], " ")] = f[len(f)-3:]
		}
	}
	for label, want := range map[string][]string{
		"throughput":    {"1000/s", "1500/s", "1.50x"},
		"latency p50":   {"100us", "150us", "1.50x"},
		"latency p99":   {"2.00ms", "1.00ms", "0.50x"},
		"latency p99.9": {"4.00ms", "2.00ms", "0.50x"},
		"ok":            {"1000", "1000", "1.00x"},
		"failed":        {"0", "0", "-"},
	} {
		if got := rows[label]; strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("row %q = %v, want %v", label, got, want)
		}
	}
	for _, want := range []string{"A: before.json", "B: after.json", "differs: in flight (-c): 32 -> 64", "rpc, closed loop"} {
		if !strings.Contains(text, want) {
			t.Errorf("compare output lacks %q:\n%s", want, text)
		}
	}

	page, err := os.ReadFile(htmlFile)
	if err != nil {
		t.Fatal(err)
	}
	root := parsePage(t, string(page))
	checkSelfContained(t, string(page), root)
	if got := pageJSON(t, root); len(got) != 2 || got[0].RPC.Throughput != 1000 || got[1].RPC.Throughput != 1500 {
		t.Errorf("the page's JSON: %+v", got)
	}
	for _, want := range []string{"1.50x", "0.50x", "before.json", "after.json"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("the comparison page lacks %q", want)
		}
	}
	t.Logf("\n%s", text)
}

func TestCompareUsage(t *testing.T) {
	dir := t.TempDir()
	good := writeJSONFile(t, dir, "a.json", savedRun(1, 1, 1, 1))
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte("{}"), 0o644)
	for _, args := range [][]string{{good}, {good, bad}, {good, filepath.Join(dir, "missing.json")}, {"-bogus", good, good}} {
		var stderr bytes.Buffer
		if code := compareMain(args, &bytes.Buffer{}, &stderr); code != 2 || stderr.Len() == 0 {
			t.Errorf("compare %v: exit %d, stderr %q", args, code, stderr.String())
		}
	}
}

// TestCompareRuns compares two real runs saved with -json, sweeps
// included, rate by rate.
func TestCompareRuns(t *testing.T) {
	dir := t.TempDir()
	var files []string
	for i, conc := range []int{4, 8} {
		cfg := smallConfig()
		cfg.N = 100
		cfg.Concurrency = conc
		cfg.Rate = "1k,2k"
		cfg.JSON = true
		_, js, _ := runOK2(t, cfg)
		p := filepath.Join(dir, []string{"a.json", "b.json"}[i])
		os.WriteFile(p, []byte(js), 0o644)
		files = append(files, p)
	}
	var stdout bytes.Buffer
	if code := compareMain(files, &stdout, &bytes.Buffer{}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"rpc, 1k/s", "rpc, 2k/s", "late"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("lacks %q:\n%s", want, stdout.String())
		}
	}
}
