package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rpcudp/go-rpcudp/kademlia"
	"github.com/rpcudp/go-rpcudp/kademlia/boltstore"
)

// corruptFreelist writes a bbolt store with values at path and overwrites
// the header of its freelist page (the corruption that made bbolt panic
// with "invalid freelist page", issue 9 finding 6).
func corruptFreelist(t *testing.T, path string) {
	t.Helper()
	s, err := boltstore.Open(path, kademlia.StorageConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		key, _ := kademlia.Digest(fmt.Sprint(i))
		v, _ := kademlia.EncodeValue(strings.Repeat("v", 200))
		if err := s.Put(key, v, kademlia.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Meta page: 16-byte page header, then magic, version, page size,
	// flags (4 bytes each), root bucket (16), freelist page id (8).
	pageSize := int(binary.LittleEndian.Uint32(data[16+8:]))
	for _, meta := range []int{0, pageSize} {
		fl := int(binary.LittleEndian.Uint64(data[meta+16+16+16:]))
		copy(data[fl*pageSize:], bytes.Repeat([]byte{0xa5}, 16))
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestNodeBadFiles: bad numbers and files are an error at start, exit 1,
// never a crash (issue 9, finding 6).
func TestNodeBadFiles(t *testing.T) {
	dir := t.TempDir()
	id := kademlia.RandomID().String()
	hugeK := filepath.Join(dir, "hugek.state")
	if err := os.WriteFile(hugeK, []byte(`{"id": "`+id+`", "k": 1000000000000, "alpha": 3, "neighbors": []}`), 0o600); err != nil {
		t.Fatal(err)
	}
	junkDB := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junkDB, bytes.Repeat([]byte{0xde, 0xad}, 8192), 0o600); err != nil {
		t.Fatal(err)
	}
	freelistDB := filepath.Join(dir, "freelist.db")
	corruptFreelist(t, freelistDB)
	for _, tt := range []struct {
		name string
		args []string
		err  string
	}{
		{"huge k in state", []string{"-state", hugeK}, "Config.K is 1000000000000"},
		{"junk db", []string{"-db", junkDB}, junkDB},
		{"corrupt freelist", []string{"-db", freelistDB}, freelistDB},
		{"state in a missing directory", []string{"-state", filepath.Join(dir, "nope", "a.state")}, "cannot be written"},
		{"state is a directory", []string{"-state", dir}, "is a directory"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(testCtx(t), append([]string{"-listen", "127.0.0.1:0"}, tt.args...), &out, &errOut, nil)
			if code != exitFail || !strings.Contains(errOut.String(), tt.err) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errOut.String(), exitFail, tt.err)
			}
		})
	}
}

// TestNodeLoneSavesState: a node that knows nobody writes its state at
// start and keeps it at shutdown, so its id survives a restart.
func TestNodeLoneSavesState(t *testing.T) {
	state := filepath.Join(t.TempDir(), "lone.state")
	a := startNode(t, "-listen", "127.0.0.1:0", "-state", state)
	if st, err := kademlia.LoadState(state); err != nil || st.ID != a.node.ID() {
		t.Fatalf("state at start: %+v, %v", st, err)
	}
	id := a.node.ID()
	if code := a.stop(); code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, a.errOut)
	}
	a2 := startNode(t, "-listen", "127.0.0.1:0", "-state", state)
	if a2.node.ID() != id {
		t.Errorf("restarted with id %s, want %s", a2.node.ID(), id)
	}
}

// TestNodeMetrics scrapes -metrics end to end on loopback.
func TestNodeMetrics(t *testing.T) {
	a := startNode(t, "-listen", "127.0.0.1:0", "-metrics", "127.0.0.1:0")
	m := regexp.MustCompile(`metrics on (http://\S+/metrics)`).FindStringSubmatch(a.out.String())
	if m == nil {
		t.Fatalf("stdout %q names no metrics address", a.out)
	}
	c := client(t, a)
	if err := c.Set(testCtx(t), "metrics", "value"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(m[1])
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d, %v", m[1], resp.StatusCode, err)
	}
	text := string(body)
	for _, tt := range []struct {
		metric string
		min    float64
	}{
		{`kademlia_datagrams_total{direction="in"}`, 1},
		{`kademlia_calls_total{outcome="ok"}`, 0},
		{`kademlia_requests_served_total`, 1},
		{`kademlia_drops_total{reason="malformed"}`, 0},
		{`kademlia_table_contacts`, 1},
		{`kademlia_stored_keys`, 1},
		{`kademlia_stored_bytes`, 1},
		{`kademlia_lookup_duration_seconds_count{kind="node"}`, 0},
		{`kademlia_lookup_hops_bucket{kind="value",le="+Inf"}`, 0},
		{`kademlia_handoff_keys_total`, 0},
		{`kademlia_reply_budget_answers_total{decision="dropped"}`, 0},
		{`kademlia_republished_keys_total{kind="hourly"}`, 0},
		{`kademlia_stores_refused_total{reason="bad_signature"}`, 0},
		{`kademlia_lookup_bad_copies_total{why="stale"}`, 0},
	} {
		v, ok := sample(text, tt.metric)
		if !ok || v < tt.min {
			t.Errorf("%s = %v (present %v), want at least %v", tt.metric, v, ok, tt.min)
		}
	}
	if code := a.stop(); code != 0 {
		t.Errorf("exit %d", code)
	}
	if _, err := http.Get(m[1]); err == nil {
		t.Error("the metrics server still answers after shutdown")
	}
}

// sample returns the value of the sample named exactly metric (with its
// labels) in a Prometheus text exposition.
func sample(text, metric string) (float64, bool) {
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, metric+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}
