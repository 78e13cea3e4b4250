package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rpcudp/go-rpcudp/kademlia"
	"github.com/rpcudp/go-rpcudp/rpcudp"
)

// lookupSummary aggregates the lookups of one phase ("bootstrap",
// "settle", "set" or "get") and kind (LookupStats.Kind: "node" or "value").
type lookupSummary struct {
	Phase, Kind      string
	Count, Found     int
	RPCsP50, RPCsP99 int
	HopsP50, HopsP99 int
}

// summary is the outcome of a demo run.
type summary struct {
	Nodes, Joined   int // nodes started; nodes whose bootstrap found someone
	Keys, KeysSet   int // keys to set; keys set without error
	KeysFound       int // keys every getter found with the right value
	Gets, GetsFound int // Get calls; those that returned the right value
	GetErrors       int // Get calls that failed
	Lookups         []lookupSummary
	GetP50, GetP90  time.Duration // Get latency percentiles
	GetP99          time.Duration
	DatagramsIn     uint64 // summed over every node's endpoint
	DatagramsOut    uint64
	CallsOK         uint64
	CallsTimedOut   uint64
	// CallsCancelled are the calls a lookup cancelled because it had its
	// answer before they returned; CallsFailed those that got an error
	// reply or could not be sent (see addStats).
	CallsCancelled, CallsFailed uint64
	Bootstrap, Settle, Set, Get time.Duration // phase durations
	Total                       time.Duration // the whole run, the nodes' start included
	Settled, SettleWanted       int           // joined nodes that repeated their self-lookup within -settle; joined nodes
	Seed                        uint64
	FirstFailures               []string // a few failed Gets, for the report
	ListenAddr                  string
	GetsPerKeyChosen            int
	K, Alpha                    int
}

// ok reports whether every key was set and every Get found it.
func (s summary) ok() bool {
	return s.Keys > 0 && s.KeysSet == s.Keys && s.KeysFound == s.Keys && s.GetsFound == s.Gets
}

// addStats sums the nodes' endpoint counters. An endpoint counts a call
// that a lookup cancelled as failed, as it counts an error reply or a send
// error; since the demo's nodes call only each other, the error replies
// they sent and their send errors are the failures, the rest cancelled.
func (s *summary) addStats(all []rpcudp.Stats) {
	var ended, failed uint64
	for _, st := range all {
		s.DatagramsIn += st.DatagramsIn
		s.DatagramsOut += st.DatagramsOut
		s.CallsOK += st.CallsOK
		s.CallsTimedOut += st.CallsTimedOut
		ended += st.CallsFailed
		failed += st.ErrorReplies + st.SendErrors
	}
	s.CallsFailed = min(failed, ended)
	s.CallsCancelled = ended - s.CallsFailed
}

// Phases of a run, in order.
var phases = []string{"bootstrap", "settle", "set", "get"}

// lookupLog collects Config.OnLookup reports from every node, tagged with
// the phase the run was in, and counts each node's self-lookups.
type lookupLog struct {
	mu    sync.Mutex
	phase string
	stats map[[2]string][]kademlia.LookupStats // by phase and kind
	self  map[int]int                          // self-lookups by node
	// selfLookup gets a token (when empty) after each self-lookup.
	selfLookup chan struct{}
}

func (l *lookupLog) setPhase(p string) {
	l.mu.Lock()
	l.phase = p
	l.mu.Unlock()
}

// add records node's lookup s; self says it was a lookup of node's own id.
func (l *lookupLog) add(node int, self bool, s kademlia.LookupStats) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stats == nil {
		l.stats = map[[2]string][]kademlia.LookupStats{}
		l.self = map[int]int{}
	}
	k := [2]string{l.phase, s.Kind}
	l.stats[k] = append(l.stats[k], s)
	if self {
		l.self[node]++
		select {
		case l.selfLookup <- struct{}{}:
		default:
		}
	}
}

// repeatedSelfLookups counts the nodes with joined[node] set that have run
// at least two self-lookups (Bootstrap's and a repeat).
func (l *lookupLog) repeatedSelfLookups(joined []bool) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for node, ok := range joined {
		if ok && l.self[node] >= 2 {
			n++
		}
	}
	return n
}

func (l *lookupLog) summarize() []lookupSummary {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []lookupSummary
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
		out = append(out, lookupSummary{
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

func printSummary(w io.Writer, s summary) {
	fmt.Fprintf(w, "demo: %d nodes on %s (k=%d, alpha=%d), %d keys, %d gets per key (seed %d)\n",
		s.Nodes, s.ListenAddr, s.K, s.Alpha, s.Keys, s.GetsPerKeyChosen, s.Seed)
	fmt.Fprintf(w, "  bootstrap  %d/%d nodes joined in %s\n", s.Joined, s.Nodes, dur(s.Bootstrap))
	if s.SettleWanted > 0 {
		fmt.Fprintf(w, "  settle     %d/%d joined nodes repeated their self-lookup within %s\n", s.Settled, s.SettleWanted, dur(s.Settle))
	} else {
		fmt.Fprintln(w, "  settle     no wait for the repeated self-lookups (-settle 0)")
	}
	fmt.Fprintf(w, "  set        %d/%d keys stored in %s\n", s.KeysSet, s.Keys, dur(s.Set))
	fmt.Fprintf(w, "  get        %d/%d keys found by every getter; %d/%d gets found the value in %s\n",
		s.KeysFound, s.Keys, s.GetsFound, s.Gets, dur(s.Get))
	fmt.Fprintf(w, "  time       %s in all: %s\n", dur(s.Total), phaseTimes(s))
	fmt.Fprintf(w, "  latency    Get p50 %s  p90 %s  p99 %s\n", dur(s.GetP50), dur(s.GetP90), dur(s.GetP99))
	printLookups(w, s)
	fmt.Fprintf(w, "  network    %d datagrams (%d out, %d in); calls %d ok, %d timed out, %d cancelled by a lookup that had its answer, %d failed\n",
		s.DatagramsIn+s.DatagramsOut, s.DatagramsOut, s.DatagramsIn, s.CallsOK, s.CallsTimedOut, s.CallsCancelled, s.CallsFailed)
	if s.GetErrors > 0 {
		fmt.Fprintf(w, "  errors     %d gets returned an error\n", s.GetErrors)
	}
	for _, f := range s.FirstFailures {
		fmt.Fprintf(w, "  failure    %s\n", f)
	}
	if s.ok() {
		fmt.Fprintln(w, "PASS: every key was found from every node")
	} else {
		fmt.Fprintln(w, "FAIL: some keys were not found")
	}
}

// phaseTimes lists the phases' durations, each in a unit that suits it.
func phaseTimes(s summary) string {
	var parts []string
	for i, d := range []time.Duration{s.Bootstrap, s.Settle, s.Set, s.Get} {
		parts = append(parts, phases[i]+" "+dur(d))
	}
	return strings.Join(parts, ", ")
}

func printLookups(w io.Writer, s summary) {
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
}
