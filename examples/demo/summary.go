package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/rpcudp/go-rpcudp/kademlia"
)

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
