package main

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"strings"
)

// namedResult is a run the HTML report shows, with its name ("" for a
// report of one run; A and B's files for compare).
type namedResult struct {
	Name string
	Res  Result
}

// plotRun is one line of the charts: a mode's run, labelled.
type plotRun struct {
	label string
	run   *RunResult
}

// htmlPage is what the template draws.
type htmlPage struct {
	Title       string
	Subtitle    string
	Warnings    []string
	SummaryHead []string
	Summary     [][]string // one row per run, step and mode
	Compare     *comparison
	Percentile  *svgChart
	Throughput  *svgChart
	P99         *svgChart
	Settings    [][]string // a row per setting, a column per result
	Names       []string
	JSON        []namedText
}

type namedText struct{ Name, Text string }

// summaryHead titles the summary table's columns.
var summaryHead = []string{"run", "mode", "rate", "calls", "ok", "failed", "late", "throughput",
	"p50", "p90", "p99", "p99.9", "max", "client cpu", "kernel drops"}

// writeHTML writes the report of one run, or of the two runs compared
// (cmp not nil), as one self-contained page.
func writeHTML(w io.Writer, runs []namedResult, cmp *comparison) error {
	p := htmlPage{Title: "rpcudp bench", Compare: cmp}
	var lines []plotRun
	for _, nr := range runs {
		res := nr.Res
		p.Names = append(p.Names, nr.Name)
		for _, st := range res.steps() {
			for _, r := range []*RunResult{st.RPC, st.Raw} {
				if r == nil {
					continue
				}
				label := strings.TrimSpace(nr.Name + " " + r.Mode)
				if r.Rate > 0 {
					label += " " + fmtRate(r.Rate) + "/s"
				}
				lines = append(lines, plotRun{label: label, run: r})
				p.Summary = append(p.Summary, summaryRow(nr.Name, r))
			}
		}
		for _, warn := range res.Warnings {
			p.Warnings = append(p.Warnings, strings.TrimSpace(nr.Name+" "+warn))
		}
		js, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return err
		}
		p.JSON = append(p.JSON, namedText{Name: nr.Name, Text: string(js)})
	}
	p.SummaryHead = summaryHead
	if len(runs) == 1 { // no run column
		p.SummaryHead = p.SummaryHead[1:]
		for i := range p.Summary {
			p.Summary[i] = p.Summary[i][1:]
		}
	}
	p.Subtitle = subtitle(runs)
	p.Settings = settingsRows(runs)
	p.Percentile = percentileChart(lines)
	p.Throughput, p.P99 = overTimeCharts(lines)
	return pageTemplate.Execute(w, p)
}

// subtitle says what ran where, in one line.
func subtitle(runs []namedResult) string {
	var parts []string
	for _, nr := range runs {
		r := nr.Res
		where := "in-process server"
		if !r.InProcess {
			where = "remote server"
		}
		load := "closed loop, " + fmt.Sprint(r.Config.Concurrency) + " in flight"
		if r.Config.Load == "open" {
			load = "open loop, at most " + fmt.Sprint(r.Config.Concurrency) + " in flight"
		}
		parts = append(parts, strings.TrimSpace(fmt.Sprintf("%s %s on %s (%s), %s", nr.Name, r.Config.Method, r.Target, where, load)))
	}
	return strings.Join(parts, "; ")
}

// summaryRow is a run's row of the summary table.
func summaryRow(name string, r *RunResult) []string {
	lat := func(us int64) string {
		if r.OK == 0 {
			return "-"
		}
		return fmtMicros(us)
	}
	rate, kernel := "closed loop", "-"
	if r.Rate > 0 {
		rate = fmtRate(r.Rate) + "/s"
	}
	if s := r.ClientStats; s != nil {
		kernel = fmt.Sprint(s.Drops.Kernel)
	}
	return []string{name, r.Mode, rate, fmt.Sprint(r.Calls), fmt.Sprint(r.OK), fmt.Sprint(r.Timeouts + r.Errors),
		lateCell(r), fmt.Sprintf("%.0f/s", r.Throughput), lat(r.Latency.P50), lat(r.Latency.P90),
		lat(r.Latency.P99), lat(r.Latency.P999), lat(r.Latency.Max), cpuCell(r.ClientCPU), kernel}
}

// settingsRows lists the runs' settings and machines, a column per run.
func settingsRows(runs []namedResult) [][]string {
	fields := []struct {
		name string
		get  func(Result) string
	}{
		{"target", func(r Result) string { return r.Target }},
		{"server", func(r Result) string { return map[bool]string{true: "in-process", false: "remote"}[r.InProcess] }},
		{"load", func(r Result) string { return r.Config.Load }},
		{"rate (calls/s)", func(r Result) string { return ratesText(r.Config) }},
		{"calls (-n)", func(r Result) string { return orDash(r.Config.Calls > 0, fmt.Sprint(r.Config.Calls)) }},
		{"duration (-d)", func(r Result) string { return orDash(r.Config.DurationS > 0, fmt.Sprintf("%gs", r.Config.DurationS)) }},
		{"in flight (-c)", func(r Result) string { return fmt.Sprint(r.Config.Concurrency) }},
		{"method", func(r Result) string { return r.Config.Method }},
		{"args", func(r Result) string { return r.Config.Args }},
		{"payload (-s)", func(r Result) string { return fmt.Sprintf("%d bytes", r.Config.Size) }},
		{"request datagram", func(r Result) string { return fmt.Sprintf("%d bytes", r.Config.RequestBytes) }},
		{"timeout, retry", func(r Result) string { return fmt.Sprintf("%gs, %gs", r.Config.TimeoutS, r.Config.RetryS) }},
		{"loss (-loss), seed", func(r Result) string { return fmt.Sprintf("%g, %d", r.Config.Loss, r.Config.Seed) }},
		{"OS/arch", func(r Result) string { return r.Config.OS + "/" + r.Config.Arch }},
		{"CPUs, GOMAXPROCS", func(r Result) string { return fmt.Sprintf("%d, %d", r.Config.NumCPU, r.Config.GOMAXPROCS) }},
		{"CPU", func(r Result) string { return r.Config.CPUModel }},
		{"Go", func(r Result) string { return r.Config.GoVersion }},
		{"client socket buffers", func(r Result) string { return buffersText(r) }},
	}
	var rows [][]string
	for _, f := range fields {
		row := []string{f.name}
		for _, nr := range runs {
			row = append(row, f.get(nr.Res))
		}
		rows = append(rows, row)
	}
	return rows
}

func ratesText(ci ConfigInfo) string {
	switch {
	case ci.Rate > 0:
		return fmtRate(ci.Rate)
	case len(ci.Rates) > 0:
		var s []string
		for _, r := range ci.Rates {
			s = append(s, fmtRate(r))
		}
		return strings.Join(s, ", ")
	}
	return "-"
}

// buffersText is the client socket's buffers as the kernel reports them.
func buffersText(r Result) string {
	for _, st := range r.steps() {
		if s := st.RPC.ClientStats; s != nil && s.RecvBuffer > 0 {
			return fmt.Sprintf("receive %d, send %d bytes (as the kernel reports them)", s.RecvBuffer, s.SendBuffer)
		}
	}
	return "unknown"
}

var pageTemplate = template.Must(template.New("page").Parse(pageHTML))

// orDash is s, or "-" for a setting not in use.
func orDash(used bool, s string) string {
	if !used {
		return "-"
	}
	return s
}
