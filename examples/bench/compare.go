package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// comparison is two runs side by side: a section per mode (and rate, for
// sweeps), a row per figure, with B/A ratios.
type comparison struct {
	NameA, NameB string
	Sections     []cmpSection
	Differs      []string // the settings and machine that differ
}

type cmpSection struct {
	Title string
	Rows  []cmpRow
}

type cmpRow struct{ Label, A, B, Ratio string }

// compareMain is "bench compare [-html FILE] A.json B.json"; it returns
// the exit status: 0, or 2 for bad usage or a file that does not read.
func compareMain(argv []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	htmlFile := fs.String("html", "", "also write both runs as one self-contained HTML page to this file")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: bench compare [-html FILE] A.json B.json\n\n"+
			"Prints two runs saved with -json side by side, with B/A ratios.\n\nflags:")
		fs.PrintDefaults()
	}
	files, err := parseInterspersed(fs, argv)
	if err == nil && len(files) != 2 {
		err = errors.New("want two files: A.json B.json")
		fs.Usage()
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var runs [2]Result
	for i := 0; err == nil && i < 2; i++ {
		runs[i], err = readResult(files[i])
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench compare:", err)
		return 2
	}
	cmp := compare(fileName(files[0]), fileName(files[1]), runs[0], runs[1])
	if err := writeCompare(stdout, cmp); err != nil {
		fmt.Fprintln(stderr, "bench compare:", err)
		return 2
	}
	if *htmlFile != "" {
		if err := writeFileHTML(*htmlFile, []namedResult{{"A", runs[0]}, {"B", runs[1]}}, cmp); err != nil {
			fmt.Fprintln(stderr, "bench compare: -html:", err)
			return 2
		}
	}
	return 0
}

// parseInterspersed parses flags placed before, between or after the
// positional arguments, and returns those.
func parseInterspersed(fs *flag.FlagSet, argv []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(argv); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		argv = fs.Args()[1:]
	}
}

func fileName(path string) string { return filepath.Base(path) }

// readResult reads a run saved with -json.
func readResult(path string) (Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Result{}, err
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return Result{}, fmt.Errorf("%s: not a bench -json result: %w", path, err)
	}
	if len(r.steps()) == 0 {
		return Result{}, fmt.Errorf("%s: no rpc run in it (not a bench -json result?)", path)
	}
	return r, nil
}

// compare pairs the runs' steps in order (for sweeps, rate by rate) and
// each step's modes.
func compare(nameA, nameB string, a, b Result) *comparison {
	c := &comparison{NameA: nameA, NameB: nameB, Differs: settingsDiffer(a, b)}
	sa, sb := a.steps(), b.steps()
	for i := range min(len(sa), len(sb)) {
		pairs := [][2]*RunResult{{sa[i].RPC, sb[i].RPC}, {sa[i].Raw, sb[i].Raw}}
		for _, p := range pairs {
			if p[0] == nil || p[1] == nil {
				continue
			}
			c.Sections = append(c.Sections, cmpSection{Title: stepTitle(p[0], p[1]), Rows: compareRuns(p[0], p[1])})
		}
	}
	return c
}

func stepTitle(a, b *RunResult) string {
	rate := func(r *RunResult) string {
		if r.Rate == 0 {
			return "closed loop"
		}
		return fmtRate(r.Rate) + "/s"
	}
	if a.Rate == b.Rate {
		return a.Mode + ", " + rate(a)
	}
	return a.Mode + ", " + rate(a) + " vs " + rate(b)
}

// compareRuns is the rows of one mode's comparison.
func compareRuns(a, b *RunResult) []cmpRow {
	num := func(label string, va, vb float64, format func(float64) string) cmpRow {
		r := cmpRow{Label: label, A: format(va), B: format(vb), Ratio: "-"}
		if va != 0 {
			r.Ratio = fmt.Sprintf("%.2fx", vb/va)
		}
		return r
	}
	count := func(v float64) string { return fmt.Sprintf("%.0f", v) }
	micros := func(v float64) string { return fmtMicros(int64(v)) }
	rows := []cmpRow{
		num("throughput", a.Throughput, b.Throughput, func(v float64) string { return fmt.Sprintf("%.0f/s", v) }),
		num("latency p50", float64(a.Latency.P50), float64(b.Latency.P50), micros),
		num("latency p90", float64(a.Latency.P90), float64(b.Latency.P90), micros),
		num("latency p99", float64(a.Latency.P99), float64(b.Latency.P99), micros),
		num("latency p99.9", float64(a.Latency.P999), float64(b.Latency.P999), micros),
		num("latency max", float64(a.Latency.Max), float64(b.Latency.Max), micros),
		num("calls", float64(a.Calls), float64(b.Calls), count),
		num("ok", float64(a.OK), float64(b.OK), count),
		num("failed", float64(a.Timeouts+a.Errors), float64(b.Timeouts+b.Errors), count),
	}
	if a.Rate > 0 || b.Rate > 0 {
		rows = append(rows, num("late", float64(a.Late), float64(b.Late), count))
	}
	return append(rows, num("client cpu", a.ClientCPU, b.ClientCPU, cpuCell))
}

// settingsDiffer lists the settings and machine facts that differ.
func settingsDiffer(a, b Result) []string {
	var out []string
	na, nb := namedResult{Res: a}, namedResult{Res: b}
	for _, row := range settingsRows([]namedResult{na, nb}) {
		if row[0] != "target" && row[1] != row[2] {
			out = append(out, fmt.Sprintf("%s: %s -> %s", row[0], row[1], row[2]))
		}
	}
	return out
}

// writeCompare prints the comparison as text.
func writeCompare(w io.Writer, c *comparison) error {
	var b strings.Builder
	fmt.Fprintf(&b, "A: %s\nB: %s\n", c.NameA, c.NameB)
	if len(c.Differs) == 0 {
		b.WriteString("same settings and machine\n")
	}
	for _, d := range c.Differs {
		fmt.Fprintf(&b, "differs: %s\n", d)
	}
	for _, s := range c.Sections {
		fmt.Fprintf(&b, "\n%-16s %14s %14s %9s\n", s.Title, "A", "B", "B/A")
		for _, r := range s.Rows {
			fmt.Fprintf(&b, "%-16s %14s %14s %9s\n", r.Label, r.A, r.B, r.Ratio)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeFileHTML writes the HTML report to a file.
func writeFileHTML(path string, runs []namedResult, cmp *comparison) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := writeHTML(f, runs, cmp); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
