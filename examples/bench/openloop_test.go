package main

import (
	"context"
	"encoding/json"
	"io"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
)

const stall = 200 * time.Millisecond

// stallingCalls returns n callFuncs sharing one counter: call number at
// (from 1) blocks for stall, every other returns at once. It is a server
// that stalls once, without the network.
func stallingCalls(n int, at int64) []callFunc {
	var count atomic.Int64
	calls := make([]callFunc, n)
	for i := range calls {
		calls[i] = func(ctx context.Context) (outcome, error) {
			if count.Add(1) == at {
				select {
				case <-time.After(stall):
				case <-ctx.Done():
					return outcomeError, ctx.Err()
				}
			}
			return outcomeOK, nil
		}
	}
	return calls
}

// TestSchedulerStall is coordinated omission, shown: one call stalls for
// 200 ms. The closed loop, one call in flight, waits for it and sends
// nothing meanwhile, so the stall is one latency among 1000: only the max
// shows it. The open loop keeps its schedule of 2000 calls a second, so
// the 400 calls due during the stall wait, and their latencies, counted
// from their scheduled times, show it at p90 and p99.
func TestSchedulerStall(t *testing.T) {
	cfg := smallConfig()
	cfg.N = 1000
	closed := drive(testCtx(t), cfg, 0, "rpc", stallingCalls(1, 100), io.Discard)
	open := drive(testCtx(t), cfg, 2000, "rpc", stallingCalls(1, 100), io.Discard)
	t.Logf("closed loop: p50 %s p90 %s p99 %s max %s", fmtMicros(closed.Latency.P50), fmtMicros(closed.Latency.P90),
		fmtMicros(closed.Latency.P99), fmtMicros(closed.Latency.Max))
	t.Logf("open loop:   p50 %s p90 %s p99 %s max %s, %d late (%d held back) of %d", fmtMicros(open.Latency.P50),
		fmtMicros(open.Latency.P90), fmtMicros(open.Latency.P99), fmtMicros(open.Latency.Max), open.Late, open.HeldBack, open.Scheduled)
	for _, r := range []*RunResult{closed, open} {
		if r.OK != 1000 || r.Latency.Max < stall.Microseconds() {
			t.Errorf("rate %v: ok %d, max %dus: the stall is not in it", r.Rate, r.OK, r.Latency.Max)
		}
	}
	half := stall.Microseconds() / 2
	if closed.Latency.P99 >= half {
		t.Errorf("closed loop p99 %dus: more than the one stalled call was slow", closed.Latency.P99)
	}
	if open.Latency.P99 < half || open.Latency.P90 < half/4 {
		t.Errorf("open loop p90 %dus p99 %dus: the calls due during the stall do not count their wait", open.Latency.P90, open.Latency.P99)
	}
	if open.Scheduled != 1000 || open.HeldBack < 200 || open.Late < open.HeldBack {
		t.Errorf("open loop: %d scheduled, %d late, %d held back; want about 400 held back by the stall",
			open.Scheduled, open.Late, open.HeldBack)
	}
}

// TestOpenLoopServerStall is the same against a real server whose echo
// handler blocks 200 ms once.
func TestOpenLoopServerStall(t *testing.T) {
	var count atomic.Int64
	ep, err := rpcudp.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ep.Close() })
	ep.Handle(echoMethod, func(_ context.Context, _ netip.AddrPort, b []byte) ([]byte, error) {
		if count.Add(1) == 100 {
			time.Sleep(stall) // the simulated stall, not synchronisation
		}
		return b, nil
	})
	cfg := smallConfig()
	cfg.N = 400
	cfg.Concurrency = 1
	cfg.Addr = ep.LocalAddr().String()
	cfg.JSON = true
	closed, _, _ := runOK(t, cfg)
	count.Store(0)
	cfg.Rate = "1000"
	open, stdout, _ := runOK(t, cfg)
	c, o := closed.RPC.Latency, open.RPC.Latency
	t.Logf("closed: p99 %dus max %dus; open: p90 %dus p99 %dus max %dus", c.P99, c.Max, o.P90, o.P99, o.Max)
	if c.Max < stall.Microseconds() || c.P99 >= stall.Microseconds()/2 {
		t.Errorf("closed loop p99 %dus max %dus: want the stall in the max only", c.P99, c.Max)
	}
	if o.P99 < stall.Microseconds()/2 {
		t.Errorf("open loop p99 %dus: the stall does not show", o.P99)
	}
	if open.Config.Load != "open" || open.Config.Rate != 1000 || open.RPC.Rate != 1000 || !strings.Contains(stdout, `"held_back"`) {
		t.Errorf("open loop result: config %+v, rate %v", open.Config, open.RPC.Rate)
	}
}

func TestSweep(t *testing.T) {
	cfg := smallConfig()
	cfg.N = 200
	cfg.Rate = "2k,4k"
	cfg.Raw = true
	res, stdout, _ := runOK2(t, cfg)
	if len(res.Sweep) != 2 || res.RPC != nil || res.Sweep[0].Rate != 2000 || res.Sweep[1].Rate != 4000 {
		t.Fatalf("sweep %+v, rpc %v", res.Sweep, res.RPC)
	}
	for _, st := range res.Sweep {
		for _, r := range []*RunResult{st.RPC, st.Raw} {
			checkSane(t, r, 200)
			if r.Rate != st.Rate || r.Scheduled != 200 {
				t.Errorf("%s at %v: rate %v, scheduled %d", r.Mode, st.Rate, r.Rate, r.Scheduled)
			}
		}
	}
	rows := 0
	for _, line := range strings.Split(stdout, "\n") {
		f := strings.Fields(line)
		if len(f) > 2 && (f[0] == "2k/s" || f[0] == "4k/s") && (f[1] == "rpc" || f[1] == "raw") && f[2] == "200" {
			rows++
		}
	}
	if rows != 4 || !strings.Contains(stdout, "p99.9") {
		t.Errorf("want 4 rows (2 rates, rpc and raw):\n%s", stdout)
	}
	if got := exitCode(res, nil, io.Discard); got != 0 {
		t.Errorf("exit code %d", got)
	}

	cfg.JSON, cfg.Raw = true, false
	_, js, _ := runOK2(t, cfg)
	var doc Result
	if err := json.Unmarshal([]byte(js), &doc); err != nil || len(doc.Sweep) != 2 || doc.Config.Load != "open" || len(doc.Config.Rates) != 2 {
		t.Errorf("sweep JSON: %v\n%s", err, js)
	}
	t.Logf("\n%s", stdout)
}

// runOK2 is runOK for runs whose result may be a sweep (no top-level rpc).
func runOK2(t *testing.T, cfg Config) (Result, string, string) {
	t.Helper()
	var stdout, stderr strings.Builder
	res, err := run(testCtx(t), cfg, &stdout, &stderr)
	if err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	return res, stdout.String(), stderr.String()
}

func TestParseRates(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []float64
	}{
		{"", nil}, {"500", []float64{500}}, {"10k,50k,100k", []float64{1e4, 5e4, 1e5}},
		{"1.5M", []float64{1.5e6}}, {" 2K , 3 ", []float64{2000, 3}},
	} {
		got, err := parseRates(tt.in)
		if err != nil || len(got) != len(tt.want) {
			t.Errorf("parseRates(%q) = %v, %v", tt.in, got, err)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("parseRates(%q) = %v, want %v", tt.in, got, tt.want)
			}
		}
	}
	for _, bad := range []string{"0", "-5", "k", "10x", "1,,2", "2G"} {
		if _, err := parseRates(bad); err == nil {
			t.Errorf("parseRates(%q) accepted", bad)
		}
	}
	for r, want := range map[float64]string{500: "500", 1e4: "10k", 1.5e6: "1.5M", 2500: "2.5k"} {
		if got := fmtRate(r); got != want {
			t.Errorf("fmtRate(%v) = %q, want %q", r, got, want)
		}
	}
}

// TestLogHist checks the time series' small histogram against exact
// quantiles: within one bucket (6.25%).
func TestLogHist(t *testing.T) {
	var h logHist
	var n uint64
	for v := int64(1); v <= 100_000; v += 7 {
		h[logIndex(v)]++
		n++
	}
	for _, q := range []float64{0.5, 0.9, 0.99} {
		exact := float64(int64(q*float64(n))*7 + 1)
		got := float64(h.quantile(n, q))
		if got < exact || got > exact*1.07 {
			t.Errorf("quantile %v = %v, exact %v", q, got, exact)
		}
	}
	for _, v := range []int64{0, 1, 31, 32, 33, 1000, histMax} {
		if i := logIndex(v); logUpper(i) < v || (i > 0 && logUpper(i-1) >= v) {
			t.Errorf("value %d: bucket %d covers up to %d, the one below up to %d", v, i, logUpper(i), logUpper(i-1))
		}
	}
}

func TestSeriesCoarsen(t *testing.T) {
	s := seriesRec{width: 10 * time.Millisecond}
	for i := range 3000 {
		s.record(time.Duration(i)*time.Millisecond, 100)
	}
	if len(s.intervals) > maxIntervals || s.width != 40*time.Millisecond {
		t.Errorf("%d intervals of %v after 3 s", len(s.intervals), s.width)
	}
	o := seriesRec{width: 10 * time.Millisecond}
	o.record(5*time.Millisecond, 100)
	s.add(&o)
	ser := s.series(3 * time.Second)
	var ok uint64
	for _, p := range ser.Points {
		ok += p.OK
	}
	if ok != 3001 || ser.Points[0].OK != 41 || ser.Points[1].Throughput != 1000 {
		t.Errorf("series: %d ok, first %+v, second %+v", ok, ser.Points[0], ser.Points[1])
	}
}

func TestOpenLoopInterrupt(t *testing.T) {
	ctx, cancel := context.WithCancel(testCtx(t))
	time.AfterFunc(150*time.Millisecond, cancel)
	cfg := smallConfig()
	cfg.Duration = time.Minute
	cfg.Rate = "1k"
	res, err := run(ctx, cfg, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	r := res.RPC
	if !res.Interrupted || r.OK == 0 || r.Errors != 0 || r.Scheduled > 1000 || r.Scheduled < r.OK {
		t.Errorf("interrupted %v: ok %d errors %d (%q), scheduled %d", res.Interrupted, r.OK, r.Errors, r.FirstError, r.Scheduled)
	}
}
