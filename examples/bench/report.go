package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// writeHeader says what is about to run.
func writeHeader(w io.Writer, cfg Config, res Result) {
	where := "in-process server"
	if !res.InProcess {
		where = "server at -addr"
	}
	fmt.Fprintf(w, "rpcudp bench: %s on %s (%s)\n", cfg.method(), res.Target, where)
	load := fmt.Sprintf("%d calls", cfg.N)
	if cfg.Duration > 0 {
		load = fmt.Sprintf("for %s", cfg.Duration)
	}
	retry := "off"
	if cfg.Retry > 0 {
		retry = fmt.Sprintf("from %s", cfg.Retry)
	}
	inFlight := fmt.Sprintf("%d in flight", cfg.Concurrency)
	if ci := res.Config; ci.Load == "open" {
		inFlight = fmt.Sprintf("open loop at %s calls/s, at most %d in flight", cfg.Rate, cfg.Concurrency)
	}
	payload := fmt.Sprintf("%d-byte payload", cfg.Size)
	if !cfg.echoes() {
		payload = "args " + cfg.Args
		if cfg.Args == "" {
			payload = "no args"
		}
	}
	fmt.Fprintf(w, "  %s, %s, %s (%d-byte requests), timeout %s, retries %s, loss %g\n",
		load, inFlight, payload, res.Config.RequestBytes, cfg.Timeout, retry, cfg.Loss)
	fmt.Fprintf(w, "  machine: %s\n", machineLine(res.Config.Machine))
	if cfg.Raw {
		fmt.Fprintln(w, "  then the same load as plain UDP echo (raw), in-process")
	}
}

// machineLine describes the machine in one line.
func machineLine(m Machine) string {
	s := fmt.Sprintf("%s/%s, %d CPUs, GOMAXPROCS %d, %s", m.OS, m.Arch, m.NumCPU, m.GOMAXPROCS, m.GoVersion)
	if m.CPUModel != "" {
		s += ", " + m.CPUModel
	}
	return s
}

// writeReport prints the results as a table, one column per mode, and the
// details below it.
func writeReport(w io.Writer, res Result) error {
	t := &reportTable{cols: []*RunResult{res.RPC}, ratio: res.Ratio}
	if res.Raw != nil {
		t.cols = append(t.cols, res.Raw)
	}
	t.header()
	t.countRows()
	t.openRows()
	t.latencyRows()
	t.dropRows()
	t.b.WriteString("\n")
	for _, r := range t.cols {
		writeDetails(&t.b, r)
	}
	t.b.WriteString("throughput counts ok calls per second; latencies are those of ok calls (HDR histogram, 3 significant figures)\n")
	if res.RPC.Rate > 0 {
		t.b.WriteString("open loop: each latency counts from the call's scheduled send time, the wait for a free -c slot included\n")
	}
	writeFooter(&t.b, res)
	_, err := io.WriteString(w, t.b.String())
	return err
}

// reportTable builds the results table: a row per figure, a column per
// mode, and a last column of rpc/raw ratios when both modes ran.
type reportTable struct {
	b     strings.Builder
	cols  []*RunResult
	ratio *Ratio
}

// header writes the column titles.
func (t *reportTable) header() {
	fmt.Fprintf(&t.b, "\n%-16s", "")
	for _, r := range t.cols {
		fmt.Fprintf(&t.b, "%14s", r.Mode)
	}
	if t.ratio != nil {
		fmt.Fprintf(&t.b, "%12s", "rpc/raw")
	}
	t.b.WriteString("\n")
}

// row writes one figure: label, a cell per mode, and ratio if not "".
func (t *reportTable) row(label string, ratio string, cell func(r *RunResult) string) {
	fmt.Fprintf(&t.b, "%-16s", label)
	for _, r := range t.cols {
		fmt.Fprintf(&t.b, "%14s", cell(r))
	}
	if t.ratio != nil && ratio != "" {
		fmt.Fprintf(&t.b, "%12s", ratio)
	}
	t.b.WriteString("\n")
}

// ratioCell formats one of the rpc/raw ratios, "" when there are none.
func (t *reportTable) ratioCell(f func(q *Ratio) float64) string {
	if t.ratio == nil || f(t.ratio) == 0 {
		return ""
	}
	return fmt.Sprintf("%.2fx", f(t.ratio))
}

// numCell formats a counter.
func numCell(f func(r *RunResult) uint64) func(r *RunResult) string {
	return func(r *RunResult) string { return fmt.Sprint(f(r)) }
}

// latCell formats a latency, "-" when no call succeeded.
func latCell(f func(l Latency) int64) func(r *RunResult) string {
	return func(r *RunResult) string {
		if r.OK == 0 {
			return "-"
		}
		return fmtMicros(f(r.Latency))
	}
}

// countRows writes the call counts, the elapsed time and the throughput.
func (t *reportTable) countRows() {
	t.row("calls", "", numCell(func(r *RunResult) uint64 { return r.Calls }))
	t.row("ok", "", numCell(func(r *RunResult) uint64 { return r.OK }))
	t.row("timeouts", "", numCell(func(r *RunResult) uint64 { return r.Timeouts }))
	t.row("errors", "", numCell(func(r *RunResult) uint64 { return r.Errors }))
	t.row("dropped (loss)", "", numCell(func(r *RunResult) uint64 { return r.Dropped.Total }))
	t.row("elapsed", "", func(r *RunResult) string { return fmt.Sprintf("%.3fs", r.Elapsed.Seconds()) })
	t.row("throughput", t.ratioCell(func(q *Ratio) float64 { return q.Throughput }),
		func(r *RunResult) string { return fmt.Sprintf("%.0f/s", r.Throughput) })
}

// latencyRows writes the latency percentiles.
func (t *reportTable) latencyRows() {
	t.row("latency p50", t.ratioCell(func(q *Ratio) float64 { return q.P50 }), latCell(func(l Latency) int64 { return l.P50 }))
	t.row("latency p90", "", latCell(func(l Latency) int64 { return l.P90 }))
	t.row("latency p99", t.ratioCell(func(q *Ratio) float64 { return q.P99 }), latCell(func(l Latency) int64 { return l.P99 }))
	t.row("latency p99.9", "", latCell(func(l Latency) int64 { return l.P999 }))
	t.row("latency max", "", latCell(func(l Latency) int64 { return l.Max }))
}

// openRows writes the open loop's schedule keeping, and the client's CPU.
func (t *reportTable) openRows() {
	if t.cols[0].Rate > 0 {
		t.row("rate", "", func(r *RunResult) string { return fmtRate(r.Rate) + "/s" })
		t.row("late", "", func(r *RunResult) string { return lateCell(r) })
	}
	t.row("client cpu", "", func(r *RunResult) string { return cpuCell(r.ClientCPU) })
}

// lateCell formats the open loop's calls not sent on schedule.
func lateCell(r *RunResult) string {
	if r.Scheduled == 0 {
		return "-"
	}
	return fmt.Sprintf("%d %.1f%%", r.Late, 100*float64(r.Late)/float64(r.Scheduled))
}

// cpuCell formats the process's CPU use as a share of GOMAXPROCS.
func cpuCell(share float64) string {
	if share == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*share)
}

// writeFooter writes the partial-results notice and the warnings.
func writeFooter(b *strings.Builder, res Result) {
	if res.Interrupted {
		b.WriteString("interrupted: the results are partial\n")
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(b, "warning: %s\n", w)
	}
}

// dropRows writes the retransmissions and what the endpoints dropped.
func (t *reportTable) dropRows() {
	t.row("retransmits", "", numCell(func(r *RunResult) uint64 { return r.Retransmits }))
	t.row("client drops", "", numCell(func(r *RunResult) uint64 { return r.ClientDrops }))
	t.row("server drops", "", func(r *RunResult) string {
		if r.ServerStats == nil && r.RawStats == nil {
			return "-" // a server elsewhere: not known
		}
		return fmt.Sprint(r.ServerDrops)
	})
	t.row("kernel drops", "", func(r *RunResult) string {
		if r.ClientStats == nil {
			return "-"
		}
		n := r.ClientStats.Drops.Kernel
		if r.ServerStats != nil {
			n += r.ServerStats.Drops.Kernel
		}
		return fmt.Sprint(n)
	})
}

// writeDetails prints what the table leaves out: the first error, the
// losses by direction, and the endpoints' counters.
func writeDetails(b *strings.Builder, r *RunResult) {
	if r.FirstError != "" {
		fmt.Fprintf(b, "%s: first error: %s\n", r.Mode, r.FirstError)
	}
	if r.Dropped.Total > 0 {
		fmt.Fprintf(b, "%s: dropped on purpose: %d requests, %d replies\n", r.Mode, r.Dropped.Requests, r.Dropped.Replies)
	}
	if s := r.ClientStats; s != nil {
		fmt.Fprintf(b, "%s client: %d datagrams out, %d in, %d retransmits, %d send errors%s\n",
			r.Mode, s.DatagramsOut, s.DatagramsIn, s.Retransmits, s.SendErrors, dropDetail(s.Drops))
	}
	if s := r.ClientStats; s != nil && s.RecvBuffer > 0 {
		fmt.Fprintf(b, "%s client: socket buffers %d bytes receive, %d send (as the kernel reports them)\n",
			r.Mode, s.RecvBuffer, s.SendBuffer)
	}
	if s := r.ServerStats; s != nil {
		fmt.Fprintf(b, "%s server: %d requests served, %d answered from the reply cache, %d error replies%s\n",
			r.Mode, s.Requests, s.CacheHits, s.ErrorReplies, dropDetail(s.Drops))
	}
	if s := r.RawStats; s != nil {
		fmt.Fprintf(b, "%s: %d datagrams echoed, %d resent, %d stale replies, %d from elsewhere, %d short\n",
			r.Mode, s.Echoed, s.Retransmits, s.Stale, s.WrongSender, s.Short)
	}
}

// dropDetail lists the nonzero drop counters.
func dropDetail(d DropStats) string {
	var parts []string
	for _, c := range []struct {
		name string
		n    uint64
	}{
		{"unknown id", d.UnknownID}, {"wrong sender", d.WrongSender}, {"duplicate", d.Duplicate},
		{"overload", d.Overload}, {"rate limited", d.RateLimited}, {"malformed", d.Malformed},
		{"oversize", d.Oversize}, {"kernel (receive buffer full)", d.Kernel},
	} {
		if c.n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", c.name, c.n))
		}
	}
	if len(parts) == 0 {
		return ", no drops"
	}
	return ", drops: " + strings.Join(parts, ", ")
}

// fmtMicros formats a latency given in microseconds.
func fmtMicros(us int64) string {
	switch {
	case us < 1000:
		return fmt.Sprintf("%dus", us)
	case us < 1_000_000:
		return fmt.Sprintf("%.2fms", float64(us)/1e3)
	default:
		return fmt.Sprintf("%.3fs", float64(us)/1e6)
	}
}

// writeJSON prints the result as one JSON object on one line.
func writeJSON(w io.Writer, res Result) error {
	return json.NewEncoder(w).Encode(res)
}
