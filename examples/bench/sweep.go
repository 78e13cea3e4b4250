package main

import (
	"fmt"
	"io"
	"strings"
)

// writeSweep prints a -rate sweep: one row per rate and mode, so that the
// knee of the latency curve shows.
func writeSweep(w io.Writer, res Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "\n%8s %4s %9s %9s %6s %15s %10s %9s %9s %9s %9s %9s %5s\n",
		"rate", "mode", "sent", "ok", "failed", "late", "throughput", "p50", "p90", "p99", "p99.9", "max", "cpu")
	for _, st := range res.Sweep {
		for _, r := range []*RunResult{st.RPC, st.Raw} {
			if r == nil {
				continue
			}
			lat := func(us int64) string {
				if r.OK == 0 {
					return "-"
				}
				return fmtMicros(us)
			}
			fmt.Fprintf(&b, "%8s %4s %9d %9d %6d %15s %8.0f/s %9s %9s %9s %9s %9s %5s\n",
				fmtRate(st.Rate)+"/s", r.Mode, r.Calls, r.OK, r.Timeouts+r.Errors, lateCell(r), r.Throughput,
				lat(r.Latency.P50), lat(r.Latency.P90), lat(r.Latency.P99), lat(r.Latency.P999), lat(r.Latency.Max),
				cpuCell(r.ClientCPU))
		}
	}
	b.WriteString("\nopen loop: latencies count from each call's scheduled send time; late: calls sent over " +
		lateSlack.String() + " behind schedule (or never)\n")
	writeFooter(&b, res)
	_, err := io.WriteString(w, b.String())
	return err
}

// Thresholds of the warnings that the client, not the server, may have
// set the numbers.
const (
	lateWarn = 0.01 // share of the calls not sent on schedule
	cpuWarn  = 0.90 // process CPU time over wall time, as a share of GOMAXPROCS
)

// warnings says where the numbers may be the client's rather than the
// server's: calls not sent on schedule, the process's CPU saturated, and
// datagrams the kernel dropped.
func warnings(res Result) []string {
	var out []string
	for _, st := range res.steps() {
		for _, r := range []*RunResult{st.RPC, st.Raw} {
			if r == nil {
				continue
			}
			out = append(out, runWarnings(r, res.InProcess)...)
		}
	}
	return out
}

func runWarnings(r *RunResult, inProcess bool) []string {
	var out []string
	name := r.Mode
	if r.Rate > 0 {
		name += " at " + fmtRate(r.Rate) + "/s"
	}
	if r.Scheduled > 0 && float64(r.Late) > lateWarn*float64(r.Scheduled) {
		pct := func(n uint64) float64 { return 100 * float64(n) / float64(r.Scheduled) }
		out = append(out, fmt.Sprintf("%s: %.1f%% of the calls were not sent on schedule: %.1f%% waited for one of the -c slots "+
			"(the server is saturated, or raise -c), %.1f%% were sent late by the client itself (its timers or CPU); "+
			"the rate was not offered as asked, and their latencies count the wait",
			name, pct(r.Late), pct(r.HeldBack), pct(r.Late-r.HeldBack)))
	}
	if r.ClientCPU >= cpuWarn {
		who := "the client"
		if inProcess {
			who = "the client and the in-process server together"
		}
		out = append(out, fmt.Sprintf("%s: the process used %.0f%% of its GOMAXPROCS CPUs (%s): the client may be the bottleneck",
			name, 100*r.ClientCPU, who))
	}
	if s := r.ClientStats; s != nil && s.Drops.Kernel > 0 {
		out = append(out, fmt.Sprintf("%s: the kernel dropped %d replies (the client's receive buffer was full)", name, s.Drops.Kernel))
	}
	return out
}
