package main

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// xmlNode is a parsed element: the tests read the page as XML, which the
// report is written to be (and which is stricter than HTML).
type xmlNode struct {
	name  string
	attrs map[string]string
	text  strings.Builder // all text below, concatenated
	kids  []*xmlNode
}

// parsePage parses a whole page with encoding/xml in strict mode.
func parsePage(t *testing.T, page string) *xmlNode {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(page))
	d.Strict = true
	root := &xmlNode{name: "#document"}
	stack := []*xmlNode{root}
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the page is not well-formed: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			n := &xmlNode{name: tok.Name.Local, attrs: map[string]string{}}
			for _, a := range tok.Attr {
				n.attrs[a.Name.Local] = a.Value
			}
			top := stack[len(stack)-1]
			top.kids = append(top.kids, n)
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			for _, n := range stack {
				n.text.Write(tok)
			}
		}
	}
	if len(stack) != 1 {
		t.Fatalf("%d elements left open", len(stack)-1)
	}
	return root
}

// find returns the elements named name below n.
func (n *xmlNode) find(name string) []*xmlNode {
	var out []*xmlNode
	for _, k := range n.kids {
		if k.name == name {
			out = append(out, k)
		}
		out = append(out, k.find(name)...)
	}
	return out
}

// checkSelfContained checks that a page fetches nothing and runs nothing.
func checkSelfContained(t *testing.T, page string, root *xmlNode) {
	t.Helper()
	for _, bad := range []string{"http://", "https://", "<script", "<link", "<img", "<iframe", "@import", "url(", " src=", " href="} {
		if strings.Contains(page, bad) {
			t.Errorf("the page contains %q", bad)
		}
	}
	svgs := root.find("svg")
	if len(svgs) != 3 {
		t.Errorf("%d SVG charts, want 3", len(svgs))
	}
	for _, svg := range svgs {
		for _, pl := range svg.find("polyline") {
			for _, pt := range strings.Fields(pl.attrs["points"]) {
				x, y, ok := strings.Cut(pt, ",")
				_, ex := strconv.ParseFloat(x, 64)
				_, ey := strconv.ParseFloat(y, 64)
				if !ok || ex != nil || ey != nil {
					t.Fatalf("polyline point %q", pt)
				}
			}
		}
	}
}

// pageJSON returns the results the page's JSON blocks hold.
func pageJSON(t *testing.T, root *xmlNode) []Result {
	t.Helper()
	var out []Result
	for _, pre := range root.find("pre") {
		var r Result
		if err := json.Unmarshal([]byte(pre.text.String()), &r); err != nil {
			t.Fatalf("the page's JSON does not parse: %v", err)
		}
		out = append(out, r)
	}
	return out
}

func TestHTML(t *testing.T) {
	cfg := smallConfig()
	cfg.Raw = true
	cfg.JSON = true
	cfg.HTML = filepath.Join(t.TempDir(), "report.html")
	res, stdout, _ := runOK(t, cfg)
	b, err := os.ReadFile(cfg.HTML)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	root := parsePage(t, page)
	checkSelfContained(t, page, root)

	// The page holds the -json output, number for number.
	var printed Result
	if err := json.Unmarshal([]byte(stdout), &printed); err != nil {
		t.Fatal(err)
	}
	got := pageJSON(t, root)
	if len(got) != 1 || got[0].RPC.Latency != printed.RPC.Latency || got[0].Raw.Latency != printed.Raw.Latency ||
		got[0].RPC.OK != printed.RPC.OK || got[0].Config.GOMAXPROCS != printed.Config.GOMAXPROCS {
		t.Errorf("the page's JSON differs from -json's")
	}
	// And shows them: the summary table's cells.
	var cells []string
	for _, tab := range root.find("table") {
		if tab.attrs["id"] == "summary" {
			for _, td := range tab.find("td") {
				cells = append(cells, td.text.String())
			}
		}
	}
	summary := strings.Join(cells, "|")
	for _, r := range []*RunResult{res.RPC, res.Raw} {
		for _, want := range []string{fmtMicros(r.Latency.P50), fmtMicros(r.Latency.P99), fmtMicros(r.Latency.P999), strconv.FormatUint(r.OK, 10)} {
			if !strings.Contains(summary, "|"+want+"|") {
				t.Errorf("the summary lacks %s's %q: %s", r.Mode, want, summary)
			}
		}
	}
	for _, want := range []string{"GOMAXPROCS", "in-process", res.Config.GoVersion, "Latency by percentile", "99.99%", "Throughput over time", "p99 latency over time"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

func TestHTMLSweep(t *testing.T) {
	cfg := smallConfig()
	cfg.N = 100
	cfg.Rate = "1k,2k"
	cfg.HTML = filepath.Join(t.TempDir(), "sweep.html")
	runOK2(t, cfg)
	b, err := os.ReadFile(cfg.HTML)
	if err != nil {
		t.Fatal(err)
	}
	root := parsePage(t, string(b))
	checkSelfContained(t, string(b), root)
	if got := pageJSON(t, root); len(got) != 1 || len(got[0].Sweep) != 2 {
		t.Errorf("the sweep page's JSON: %+v", got)
	}
	if n := len(root.find("svg")[0].find("polyline")); n != 2 {
		t.Errorf("%d lines in the percentile plot, want one per rate", n)
	}
}
