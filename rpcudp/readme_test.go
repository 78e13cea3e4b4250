package rpcudp

import (
	"os"
	"strings"
	"testing"
)

// TestReadmeSnippets keeps the README's code in step with the Example
// functions that compile and run it: every line of every ```go block in
// README.md must appear, in order, in one of the example files.
func TestReadmeSnippets(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var sources []string
	for _, f := range []string{"example_test.go", "../kademlia/example_test.go", "../kademlia/example_record_test.go", "../kademlia/example_values_test.go", "../kademlia/boltstore/example_test.go", "service/example_test.go"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, normalizeLines(string(b)))
	}
	blocks := strings.Split(string(readme), "```go\n")
	if len(blocks) < 3 {
		t.Fatalf("README has %d go blocks, want 2", len(blocks)-1)
	}
	for _, blk := range blocks[1:] {
		code := normalizeLines(blk[:strings.Index(blk, "```")])
		found := false
		for _, src := range sources {
			if strings.Contains(src, code) {
				found = true
			}
		}
		if !found {
			t.Errorf("README snippet is in no Example function:\n%s", code)
		}
	}
}

func normalizeLines(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
