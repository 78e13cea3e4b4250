package main

import (
	"math"
	"math/bits"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// logHist is a small log-bucketed histogram of latencies in microseconds:
// values below 32 exactly, above 16 buckets an octave (within 6.25%), up
// to histMax. It is what each interval of the time series keeps (1.5 KiB),
// where the run's HDR histogram keeps 3 significant figures.
type logHist [logHistLen]uint32

const (
	logSubBits = 4 // 16 buckets an octave
	logSub     = 1 << logSubBits
	// Buckets up to shift 21 hold values below 2^26 us, above histMax.
	logHistLen = 22*logSub + logSub
)

func logIndex(us int64) int {
	v := uint64(max(us, 0))
	if v < 2*logSub {
		return int(v)
	}
	shift := bits.Len64(v) - (logSubBits + 1)
	return min(shift*logSub+int(v>>shift), logHistLen-1)
}

// logUpper is the largest value that logIndex maps to i.
func logUpper(i int) int64 {
	if i < 2*logSub {
		return int64(i)
	}
	shift := i/logSub - 1
	m := int64(i%logSub + logSub)
	return (m+1)<<shift - 1
}

// quantile returns the value at quantile q (0..1) of n recorded values:
// the upper edge of its bucket.
func (h *logHist) quantile(n uint64, q float64) int64 {
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	var seen uint64
	for i, c := range h {
		seen += uint64(c)
		if seen >= max(rank, 1) {
			return logUpper(i)
		}
	}
	return logUpper(logHistLen - 1)
}

// maxIntervals bounds the time series: when a run outlasts that many
// intervals, the interval doubles and neighbours merge.
const maxIntervals = 100

// seriesRec records the ok calls' latencies by when they completed, in
// intervals of width from the start of the run. Not safe for concurrent
// use: each histogram shard has one.
type seriesRec struct {
	width     time.Duration
	intervals []seriesInterval
}

type seriesInterval struct {
	ok uint64
	h  logHist
}

// seriesWidth is the first interval width: a 50th of a timed run, else
// 10 ms, doubled as needed.
func seriesWidth(cfg Config) time.Duration {
	if cfg.Duration > 0 {
		return max(cfg.Duration/50, 10*time.Millisecond)
	}
	return 10 * time.Millisecond
}

func (s *seriesRec) record(at time.Duration, us int64) {
	i := int(at / s.width)
	for i >= maxIntervals {
		s.coarsen()
		i = int(at / s.width)
	}
	for len(s.intervals) <= i {
		s.intervals = append(s.intervals, seriesInterval{})
	}
	iv := &s.intervals[i]
	iv.ok++
	iv.h[logIndex(us)]++
}

// coarsen doubles the interval width, merging neighbours.
func (s *seriesRec) coarsen() {
	n := (len(s.intervals) + 1) / 2
	for i := range n {
		a := s.intervals[2*i]
		if 2*i+1 < len(s.intervals) {
			b := &s.intervals[2*i+1]
			a.ok += b.ok
			for j := range a.h {
				a.h[j] += b.h[j]
			}
		}
		s.intervals[i] = a
	}
	s.intervals = s.intervals[:n]
	s.width *= 2
}

// add merges o into s (both starting at the same time).
func (s *seriesRec) add(o *seriesRec) {
	for s.width < o.width {
		s.coarsen()
	}
	c := *o
	c.intervals = append([]seriesInterval(nil), o.intervals...)
	for c.width < s.width {
		c.coarsen()
	}
	for len(s.intervals) < len(c.intervals) {
		s.intervals = append(s.intervals, seriesInterval{})
	}
	for i := range c.intervals {
		s.intervals[i].ok += c.intervals[i].ok
		for j := range c.intervals[i].h {
			s.intervals[i].h[j] += c.intervals[i].h[j]
		}
	}
}

// Series is the throughput and p99 latency of the ok calls, interval by
// interval (by when calls completed).
type Series struct {
	IntervalS float64       `json:"interval_s"`
	Points    []SeriesPoint `json:"points"`
}

// SeriesPoint is one interval: its end (seconds from the start), the ok
// calls completed in it, per second, and their p99 latency (within 6%).
type SeriesPoint struct {
	EndS       float64 `json:"t_s"`
	OK         uint64  `json:"ok"`
	Throughput float64 `json:"throughput"`
	P99        int64   `json:"p99_us"`
}

// series returns the recorded series; the last interval ends at elapsed.
func (s *seriesRec) series(elapsed time.Duration) *Series {
	out := &Series{IntervalS: s.width.Seconds()}
	for i, iv := range s.intervals {
		start, end := time.Duration(i)*s.width, time.Duration(i+1)*s.width
		if end > elapsed && i > 0 && elapsed-start < s.width/2 {
			break // a last sliver of an interval: too short to say much
		}
		end = max(min(end, elapsed), start+time.Millisecond)
		out.Points = append(out.Points, SeriesPoint{
			EndS: end.Seconds(), OK: iv.ok,
			Throughput: float64(iv.ok) / (end - start).Seconds(),
			P99:        iv.h.quantile(iv.ok, 0.99),
		})
	}
	return out
}

// percentiles returns the HDR percentile plot's points: 10 a decade of
// 1/(1-p), from 0 to 99.999.
func percentiles(h *hdrhistogram.Histogram) []PercentilePoint {
	if h.TotalCount() == 0 {
		return nil
	}
	const perDecade, decades = 10, 5
	ps := make([]float64, 0, perDecade*decades+1)
	for k := range perDecade*decades + 1 {
		p := 100 * (1 - math.Pow(10, -float64(k)/perDecade))
		ps = append(ps, math.Round(p*1e6)/1e6)
	}
	vs := h.ValueAtPercentilesSlice(ps)
	out := make([]PercentilePoint, len(ps))
	for i := range ps {
		out[i] = PercentilePoint{Percentile: ps[i], Micros: vs[i]}
	}
	return out
}
