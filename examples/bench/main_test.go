package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rpcudp/go-rpcudp/rpcudp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// smallConfig is a small run. Its timeout is generous: on loopback no
// datagram is lost, but a busy machine running tests with -race can stall
// a round trip for longer than the default second.
func smallConfig() Config {
	cfg := DefaultConfig()
	cfg.N = 500
	cfg.Concurrency = 8
	cfg.Timeout = 10 * time.Second
	return cfg
}

// runOK runs cfg and fails the test on a setup error.
func runOK(t *testing.T, cfg Config) (Result, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	res, err := run(testCtx(t), cfg, &stdout, &stderr)
	if err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	if res.RPC == nil {
		t.Fatal("no rpc result")
	}
	return res, stdout.String(), stderr.String()
}

// checkSane checks a run in which every call should have succeeded.
func checkSane(t *testing.T, r *RunResult, calls uint64) {
	t.Helper()
	if r == nil {
		t.Fatal("missing result")
	}
	if r.Calls != calls || r.OK != calls || r.Timeouts != 0 || r.Errors != 0 {
		t.Errorf("%s: calls %d ok %d timeouts %d errors %d (first error %q), want all %d ok",
			r.Mode, r.Calls, r.OK, r.Timeouts, r.Errors, r.FirstError, calls)
	}
	checkNumbers(t, r)
}

// checkNumbers checks the throughput and the latency percentiles' order.
func checkNumbers(t *testing.T, r *RunResult) {
	t.Helper()
	l := r.Latency
	if r.Throughput <= 0 || r.Elapsed <= 0 {
		t.Errorf("%s: throughput %v over %v", r.Mode, r.Throughput, r.Elapsed)
	}
	if !(0 < l.Min && l.Min <= l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max) {
		t.Errorf("%s: latency out of order: %+v", r.Mode, l)
	}
}

func TestRPC(t *testing.T) {
	cfg := smallConfig()
	cfg.JSON = true
	res, stdout, stderr := runOK(t, cfg)
	checkSane(t, res.RPC, 500)
	if !res.InProcess || res.Raw != nil || res.Ratio != nil {
		t.Errorf("in-process %v, raw %v, ratio %v", res.InProcess, res.Raw, res.Ratio)
	}
	if s := res.RPC.ClientStats; s == nil || s.CallsOK != 500 || s.DatagramsOut != 500 || s.Retransmits != 0 {
		t.Errorf("client stats %+v, want 500 calls ok, 500 datagrams out (the preflight not counted)", s)
	}
	if s := res.RPC.ServerStats; s == nil || s.Requests != 500 {
		t.Errorf("server stats %+v, want 500 requests", s)
	}
	if stderr != "" {
		t.Errorf("-json wrote progress on stderr: %q", stderr)
	}

	// The JSON is one object with the documented fields.
	if n := strings.Count(strings.TrimSpace(stdout), "\n"); n != 0 {
		t.Errorf("JSON output is %d lines, want 1", n+1)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("JSON output does not parse: %v\n%s", err, stdout)
	}
	for _, k := range []string{"target", "in_process", "config", "rpc"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("JSON has no %q: %s", k, stdout)
		}
	}
	rpc, _ := doc["rpc"].(map[string]any)
	for _, k := range []string{"calls", "ok", "timeouts", "errors", "dropped", "elapsed_s", "throughput",
		"latency_us", "retransmits", "client_drops", "server_drops", "client_stats", "server_stats"} {
		if _, ok := rpc[k]; !ok {
			t.Errorf("JSON rpc has no %q: %v", k, rpc)
		}
	}
	lat, _ := rpc["latency_us"].(map[string]any)
	for _, k := range []string{"p50", "p90", "p99", "p99_9", "max"} {
		if v, ok := lat[k].(float64); !ok || v <= 0 {
			t.Errorf("JSON latency_us.%s = %v", k, lat[k])
		}
	}
	if ok, _ := rpc["ok"].(float64); ok != 500 {
		t.Errorf("JSON rpc.ok = %v, want 500", rpc["ok"])
	}
	var back Result
	if err := json.Unmarshal([]byte(stdout), &back); err != nil || back.RPC.OK != 500 || back.RPC.Latency != res.RPC.Latency {
		t.Errorf("JSON does not round-trip: %v, %+v", err, back.RPC)
	}
}

func TestRaw(t *testing.T) {
	cfg := smallConfig()
	cfg.Raw = true
	cfg.Size = 3 // shorter than the raw sequence number
	res, stdout, _ := runOK(t, cfg)
	checkSane(t, res.RPC, 500)
	checkSane(t, res.Raw, 500)
	if s := res.Raw.RawStats; s == nil || s.Echoed != 500 || s.Stale != 0 {
		t.Errorf("raw stats %+v, want 500 echoed", s)
	}
	if q := res.Ratio; q == nil || q.Throughput <= 0 || q.P50 <= 0 || q.P99 <= 0 {
		t.Errorf("ratio %+v", q)
	}
	for _, want := range []string{"rpc", "raw", "rpc/raw", "throughput", "latency p99.9", "retransmits"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("report lacks %q:\n%s", want, stdout)
		}
	}
	t.Logf("\n%s", stdout)
}

func TestRawJSON(t *testing.T) {
	cfg := smallConfig()
	cfg.N = 200
	cfg.Raw = true
	cfg.JSON = true
	cfg.Size = 100
	_, stdout, _ := runOK(t, cfg)
	var doc struct {
		RPC   *RunResult `json:"rpc"`
		Raw   *RunResult `json:"raw"`
		Ratio *Ratio     `json:"rpc_over_raw"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("JSON output does not parse: %v\n%s", err, stdout)
	}
	if doc.RPC == nil || doc.Raw == nil || doc.Ratio == nil || doc.Raw.OK != 200 || doc.Raw.RawStats == nil {
		t.Errorf("JSON: %s", stdout)
	}
}

func TestLossWithRetries(t *testing.T) {
	cfg := smallConfig()
	cfg.N = 300
	cfg.Loss = 0.2
	cfg.Retry = 5 * time.Millisecond
	cfg.Raw = true
	res, stdout, _ := runOK(t, cfg)
	for _, r := range []*RunResult{res.RPC, res.Raw} {
		checkSane(t, r, 300)
		if r.Dropped.Total == 0 || r.Dropped.Requests == 0 || r.Dropped.Replies == 0 {
			t.Errorf("%s: dropped %+v, want drops both ways", r.Mode, r.Dropped)
		}
		if r.Retransmits == 0 {
			t.Errorf("%s: no retransmits", r.Mode)
		}
	}
	// A lost reply is answered again from the server's reply cache.
	if s := res.RPC.ServerStats; s.CacheHits == 0 {
		t.Errorf("server stats %+v: no reply cache hits", s)
	}
	t.Logf("\n%s", stdout)
}

func TestLossWithoutRetries(t *testing.T) {
	cfg := smallConfig()
	cfg.N = 200
	cfg.Loss = 0.2
	cfg.Timeout = 50 * time.Millisecond
	res, stdout, _ := runOK(t, cfg)
	r := res.RPC
	// Each call is lost with probability 1-0.8², so about 72 of 200.
	if r.Calls != 200 || r.Timeouts == 0 || r.OK == 0 || r.OK+r.Timeouts != 200 || r.Errors != 0 {
		t.Errorf("calls %d ok %d timeouts %d errors %d (%q)", r.Calls, r.OK, r.Timeouts, r.Errors, r.FirstError)
	}
	if r.Dropped.Total == 0 || r.Retransmits != 0 {
		t.Errorf("dropped %+v, retransmits %d", r.Dropped, r.Retransmits)
	}
	if r.ClientStats.CallsTimedOut != r.Timeouts {
		t.Errorf("client stats count %d timeouts, the harness %d", r.ClientStats.CallsTimedOut, r.Timeouts)
	}
	checkNumbers(t, r)
	if got := exitCode(res, nil, io.Discard); got != 0 {
		t.Errorf("exit code %d with some calls ok", got)
	}
	if !strings.Contains(stdout, "dropped on purpose") {
		t.Errorf("report does not detail the losses:\n%s", stdout)
	}
}

// echoServer starts an rpcudp server as -addr would find one.
func echoServer(t *testing.T, withEcho bool) *rpcudp.Endpoint {
	t.Helper()
	ep, err := rpcudp.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ep.Close() })
	if withEcho {
		ep.Handle(echoMethod, func(_ context.Context, _ netip.AddrPort, b []byte) ([]byte, error) { return b, nil })
	}
	return ep
}

func TestAddr(t *testing.T) {
	server := echoServer(t, true)
	cfg := smallConfig()
	cfg.N = 200
	cfg.Addr = server.LocalAddr().String()
	cfg.Loss = 0.1
	cfg.Retry = 5 * time.Millisecond
	res, stdout, _ := runOK(t, cfg)
	checkSane(t, res.RPC, 200)
	if res.InProcess || res.RPC.ServerStats != nil {
		t.Errorf("in-process %v, server stats %v", res.InProcess, res.RPC.ServerStats)
	}
	// Only the client side drops: requests as it sends, replies as it reads.
	if d := res.RPC.Dropped; d.Requests == 0 || d.Replies == 0 {
		t.Errorf("dropped %+v", d)
	}
	if !strings.Contains(stdout, "server at -addr") {
		t.Errorf("report:\n%s", stdout)
	}
}

func TestSetupErrors(t *testing.T) {
	noEcho := echoServer(t, false)
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no echo method", func(c *Config) { c.Addr = noEcho.LocalAddr().String() }, "unknown method"},
		{"raw with addr", func(c *Config) { c.Addr = "127.0.0.1:1"; c.Raw = true }, "-raw"},
		{"bad loss", func(c *Config) { c.Loss = 1 }, "-loss"},
		{"bad size", func(c *Config) { c.Size = maxPayload + 1 }, "-s"},
		{"no calls", func(c *Config) { c.N = 0 }, "-n"},
		{"no concurrency", func(c *Config) { c.Concurrency = 0 }, "-c"},
		{"bad addr", func(c *Config) { c.Addr = "no-port" }, "-addr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := smallConfig()
			tt.mod(&cfg)
			var stdout bytes.Buffer
			res, err := run(testCtx(t), cfg, &stdout, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("run: %v, want an error about %q", err, tt.want)
			}
			if got := exitCode(res, err, io.Discard); got != 2 {
				t.Errorf("exit code %d, want 2", got)
			}
		})
	}
}

func TestMaxPayload(t *testing.T) {
	cfg := smallConfig()
	cfg.N = 50
	cfg.Size = maxPayload
	res, _, _ := runOK(t, cfg)
	checkSane(t, res.RPC, 50)
}

func TestDuration(t *testing.T) {
	cfg := smallConfig()
	cfg.N = 1 // -d overrides -n
	cfg.Duration = 300 * time.Millisecond
	cfg.Progress = ProgressLines
	cfg.progressEvery = 50 * time.Millisecond
	start := time.Now()
	res, _, stderr := runOK(t, cfg)
	if took := time.Since(start); took < cfg.Duration {
		t.Errorf("a %v run took %v", cfg.Duration, took)
	}
	r := res.RPC
	if r.Calls <= 1 || r.OK != r.Calls {
		t.Errorf("calls %d ok %d timeouts %d errors %d (%q)", r.Calls, r.OK, r.Timeouts, r.Errors, r.FirstError)
	}
	checkNumbers(t, r)
	if !strings.Contains(stderr, "bench: rpc") || !strings.Contains(stderr, "/s ") || strings.Contains(stderr, "\r") {
		t.Errorf("progress lines:\n%s", stderr)
	}
}

func TestProgressBar(t *testing.T) {
	cfg := smallConfig()
	cfg.N = 3000
	cfg.Progress = ProgressBar
	cfg.progressEvery = 5 * time.Millisecond
	res, _, stderr := runOK(t, cfg)
	checkSane(t, res.RPC, 3000)
	if !strings.Contains(stderr, "\r[") || !strings.HasSuffix(stderr, "\r\x1b[K") {
		t.Errorf("progress bar: %q", stderr)
	}
	if got := barLine(cfg, "rpc", time.Second, 1500, 2); !strings.HasPrefix(got, "["+strings.Repeat("=", barWidth/2)+">") ||
		!strings.Contains(got, " 50%") || !strings.Contains(got, "1500/3000") || !strings.Contains(got, "2 failed") {
		t.Errorf("barLine = %q", got)
	}
	cfg.termWidth = 40
	if got := barLine(cfg, "rpc", time.Second, 1500, 2); len(got) != 39 {
		t.Errorf("barLine on a 40-column terminal = %q", got)
	}
}

func TestIPv6(t *testing.T) {
	cfg := smallConfig()
	cfg.N = 100
	cfg.IPv6 = true
	cfg.Raw = true
	var stdout bytes.Buffer
	res, err := run(testCtx(t), cfg, &stdout, io.Discard)
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	checkSane(t, res.RPC, 100)
	checkSane(t, res.Raw, 100)
	if !strings.HasPrefix(res.Target, "[::1]:") {
		t.Errorf("target %s", res.Target)
	}
}

func TestInterrupt(t *testing.T) {
	ctx, cancel := context.WithCancel(testCtx(t))
	time.AfterFunc(150*time.Millisecond, cancel)
	cfg := smallConfig()
	cfg.Duration = time.Minute
	cfg.Raw = true
	res, err := run(ctx, cfg, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Interrupted || res.Raw != nil || res.RPC.OK == 0 || res.RPC.Errors != 0 {
		t.Errorf("interrupted %v, raw %v, rpc %+v", res.Interrupted, res.Raw, res.RPC)
	}
}

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags(strings.Fields("-addr 10.0.0.1:8468 -n 7 -d 2s -c 3 -s 64 -timeout 250ms -retry 10ms -loss 0.5 -json -6 -seed 9"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Addr: "10.0.0.1:8468", N: 7, Duration: 2 * time.Second, Concurrency: 3, Size: 64,
		Timeout: 250 * time.Millisecond, Retry: 10 * time.Millisecond, Loss: 0.5, JSON: true, IPv6: true, Seed: 9}
	if cfg != want {
		t.Errorf("parseFlags = %+v, want %+v", cfg, want)
	}
	if cfg, err := parseFlags(nil, io.Discard); err != nil || cfg != DefaultConfig() {
		t.Errorf("defaults: %+v, %v", cfg, err)
	}
	for _, args := range []string{"-loss 2", "-c 0", "-raw -addr 1.2.3.4:5", "extra", "-bogus"} {
		if _, err := parseFlags(strings.Fields(args), io.Discard); err == nil {
			t.Errorf("parseFlags(%s) accepted", args)
		}
	}
	if _, err := parseFlags([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
}

func TestExitCode(t *testing.T) {
	ok := &RunResult{Mode: "rpc", OK: 1}
	none := &RunResult{Mode: "raw"}
	for _, tt := range []struct {
		res  Result
		err  error
		want int
	}{
		{Result{RPC: ok}, nil, 0},
		{Result{RPC: ok, Raw: ok}, nil, 0},
		{Result{RPC: &RunResult{Mode: "rpc"}}, nil, 1},
		{Result{RPC: ok, Raw: none}, nil, 1},
		{Result{}, errors.New("setup"), 2},
	} {
		if got := exitCode(tt.res, tt.err, io.Discard); got != tt.want {
			t.Errorf("exitCode(%+v, %v) = %d, want %d", tt.res, tt.err, got, tt.want)
		}
	}
}

func TestLossyConnRate(t *testing.T) {
	d := newDropper(0.25, 1, 1)
	n := 0
	for range 20000 {
		if d.drop() {
			n++
		}
	}
	if uint64(n) != d.dropped() || n < 4600 || n > 5400 {
		t.Errorf("dropped %d (counted %d) of 20000 at 0.25", n, d.dropped())
	}
	if newDropper(0, 1, 1) != nil || (*dropper)(nil).drop() {
		t.Error("a zero loss drops")
	}
}

func TestFmtMicros(t *testing.T) {
	for us, want := range map[int64]string{7: "7us", 999: "999us", 1500: "1.50ms", 2_345_678: "2.346s"} {
		if got := fmtMicros(us); got != want {
			t.Errorf("fmtMicros(%d) = %q, want %q", us, got, want)
		}
	}
}
