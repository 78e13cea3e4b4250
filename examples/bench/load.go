package main

import (
	"context"
	"errors"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// outcome classifies a finished call.
type outcome int

const (
	outcomeOK outcome = iota
	outcomeTimeout
	outcomeError
)

// callFunc makes one call and waits for its outcome. Each load goroutine
// has its own.
type callFunc func(ctx context.Context) (outcome, error)

// workerStats are one load goroutine's counters; the atomics are read by
// the progress display while the run goes on. Padded so that goroutines do
// not share cache lines.
type workerStats struct {
	done, ok, timeouts, failed atomic.Uint64
	firstErr                   error
	_                          [64]byte
}

// Latencies are recorded in microseconds, 1 us to 60 s, 3 significant
// figures.
const (
	histMin     = 1
	histMax     = 60_000_000
	histSigFigs = 3
)

// histShard is one of a few histograms the load goroutines record into,
// so that neither one lock is shared by all of them nor one histogram
// (128 KiB) is allocated per goroutine. It keeps the time series too.
type histShard struct {
	mu     sync.Mutex
	h      *hdrhistogram.Histogram
	series seriesRec
	_      [64]byte
}

// drive runs the load: one goroutine per callFunc, each making calls one
// after another (closed loop), or, when rate > 0, each making the calls a
// pacer hands it on a fixed schedule of rate calls a second (open loop),
// until -n calls have been started or -d has passed (or ctx is
// cancelled), and returns the counts and latencies.
func drive(ctx context.Context, cfg Config, rate float64, mode string, workers []callFunc, stderr io.Writer) *RunResult {
	l := newLoad(cfg, rate, len(workers))
	finished := make(chan struct{})
	var watcher sync.WaitGroup
	watcher.Go(func() { l.watch(ctx, finished) })
	prog := startProgress(stderr, cfg, mode, l.progress)

	cpu := startCPU()
	l.start = time.Now()
	var wg sync.WaitGroup
	if rate > 0 {
		l.pacer = &pacer{l: l, due: make(chan time.Time)}
		wg.Go(func() { l.pacer.run(ctx) })
	}
	for i, call := range workers {
		ws, hs := &l.stats[i], &l.shards[i%len(l.shards)]
		if rate > 0 {
			wg.Go(func() { l.workOpen(ctx, call, ws, hs) })
		} else {
			wg.Go(func() { l.work(ctx, call, ws, hs) })
		}
	}
	wg.Wait()
	elapsed := time.Since(l.start)
	close(finished)
	watcher.Wait()
	prog.stop()
	res := l.result(mode, elapsed, ctx.Err() != nil)
	res.ClientCPU = cpu.share()
	return res
}

// load is the state one drive shares with its goroutines.
type load struct {
	cfg    Config
	rate   float64       // open loop: calls a second; 0: closed loop
	stats  []workerStats // one per load goroutine
	shards []histShard
	start  time.Time // of the run, and of the open loop's schedule
	pacer  *pacer    // open loop
	// stop is set when the run is over: -d has passed (in the open loop,
	// plus -timeout to send the calls still due), or ctx is done. The
	// calls in flight then finish (ctx's cancellation cuts them short;
	// those are not counted).
	stop   atomic.Bool
	issued atomic.Int64 // calls started (closed loop)
}

func newLoad(cfg Config, rate float64, workers int) *load {
	l := &load{
		cfg:    cfg,
		rate:   rate,
		stats:  make([]workerStats, workers),
		shards: make([]histShard, min(workers, 2*runtime.GOMAXPROCS(0))),
	}
	for i := range l.shards {
		l.shards[i].h = hdrhistogram.New(histMin, histMax, histSigFigs)
		l.shards[i].series.width = seriesWidth(cfg)
	}
	return l
}

// watch sets l.stop when the run's time is up or ctx is done, and returns
// then or when finished is closed.
func (l *load) watch(ctx context.Context, finished <-chan struct{}) {
	var timeUp <-chan time.Time
	if l.cfg.Duration > 0 {
		d := l.cfg.Duration
		if l.rate > 0 {
			d += l.cfg.Timeout // time to send the calls still due
		}
		t := time.NewTimer(d)
		defer t.Stop()
		timeUp = t.C
	}
	select {
	case <-ctx.Done():
	case <-timeUp:
	case <-finished:
	}
	l.stop.Store(true)
}

// progress returns the calls done and failed so far, for the display.
func (l *load) progress() (done, failed uint64) {
	for i := range l.stats {
		done += l.stats[i].done.Load()
		failed += l.stats[i].timeouts.Load() + l.stats[i].failed.Load()
	}
	return done, failed
}

// work is one closed-loop goroutine: it makes calls one after another
// until the run is over, counting them in ws and their latencies in hs.
func (l *load) work(ctx context.Context, call callFunc, ws *workerStats, hs *histShard) {
	n, timed := int64(l.cfg.N), l.cfg.Duration > 0
	for !l.stop.Load() && (timed || l.issued.Add(1) <= n) {
		t0 := time.Now()
		o, err := call(ctx)
		if !l.record(ctx, ws, hs, o, err, t0) {
			return
		}
	}
}

// record counts a finished call whose latency runs from since. It
// returns false when the call was cut short by an interrupt (then not a
// result).
func (l *load) record(ctx context.Context, ws *workerStats, hs *histShard, o outcome, err error, since time.Time) bool {
	now := time.Now()
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return false
	}
	switch o {
	case outcomeOK:
		us := min(max(now.Sub(since).Microseconds(), histMin), histMax)
		hs.mu.Lock()
		hs.h.RecordValue(us)
		hs.series.record(now.Sub(l.start), us)
		hs.mu.Unlock()
		ws.ok.Add(1)
	case outcomeTimeout:
		ws.timeouts.Add(1)
	default:
		ws.failed.Add(1)
		if ws.firstErr == nil {
			ws.firstErr = err
		}
	}
	ws.done.Add(1)
	return true
}

// result sums the goroutines' counters and histograms.
func (l *load) result(mode string, elapsed time.Duration, interrupted bool) *RunResult {
	res := &RunResult{Mode: mode, Elapsed: elapsed, ElapsedS: elapsed.Seconds(), Rate: l.rate}
	for i := range l.stats {
		ws := &l.stats[i]
		res.Calls += ws.done.Load()
		res.OK += ws.ok.Load()
		res.Timeouts += ws.timeouts.Load()
		res.Errors += ws.failed.Load()
		if res.FirstError == "" && ws.firstErr != nil {
			res.FirstError = ws.firstErr.Error()
		}
	}
	if l.pacer != nil {
		l.pacer.result(res, interrupted)
	}
	if elapsed > 0 {
		res.Throughput = float64(res.OK) / elapsed.Seconds()
	}
	h := hdrhistogram.New(histMin, histMax, histSigFigs)
	series := seriesRec{width: seriesWidth(l.cfg)}
	for i := range l.shards {
		h.Merge(l.shards[i].h)
		series.add(&l.shards[i].series)
	}
	res.Latency = summarize(h)
	res.Percentiles = percentiles(h)
	res.OverTime = series.series(elapsed)
	return res
}

func summarize(h *hdrhistogram.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	q := h.ValueAtPercentilesSlice([]float64{50, 90, 99, 99.9})
	return Latency{
		Min: h.Min(), Mean: h.Mean(),
		P50: q[0], P90: q[1], P99: q[2], P999: q[3],
		Max: h.Max(),
	}
}
