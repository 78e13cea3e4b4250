package kademlia

import (
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"
)

// stateNode is a node (not listening) with a few neighbours.
func stateNode(t *testing.T) *Node {
	t.Helper()
	n := newDHTNode(t, Config{K: 7, Alpha: 2}, &hooks{})
	for _, a := range []string{"127.0.0.1:8468", "10.1.2.3:9000", "[::1]:8469", "[2001:db8::1]:1"} {
		n.rt.tab.addFound(Contact{ID: RandomID(), Addr: netip.MustParseAddrPort(a)})
	}
	return n
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestSaveLoadStateRoundTrip(t *testing.T) {
	n := stateNode(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	if err := os.WriteFile(path, []byte("old contents"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := n.SaveState(path, 0); err != nil {
		t.Fatal(err)
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{"state.json"}) {
		t.Errorf("directory holds %v; want only the state file (no temp file left)", got)
	}
	st, err := LoadState(path)
	if err != nil {
		t.Fatal(err)
	}
	want := &State{ID: n.ID(), K: 7, Alpha: 2, Neighbors: n.BootstrappableNeighbors()}
	if !reflect.DeepEqual(st, want) || len(st.Neighbors) != 4 {
		t.Errorf("LoadState = %+v, want %+v", st, want)
	}
	// The file is the documented JSON.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	if raw["id"] != n.ID().String() || raw["k"] != 7.0 || raw["alpha"] != 2.0 || len(raw["neighbors"].([]any)) != 4 || len(raw) != 4 {
		t.Errorf("state file %s", data)
	}
	// A node restarted from it has the same id and parameters.
	n2 := newDHTNode(t, Config{ID: st.ID, K: st.K, Alpha: st.Alpha})
	if n2.ID() != n.ID() {
		t.Error("restarted with another id")
	}
}

func TestSaveStateFailuresLeaveNoTempFile(t *testing.T) {
	n := stateNode(t)
	dir := t.TempDir()
	if err := n.SaveState(filepath.Join(dir, "missing", "state.json"), 0); err == nil {
		t.Error("saved into a missing directory")
	}
	// Renaming over a non-empty directory fails after the temp file exists.
	target := filepath.Join(dir, "occupied")
	if err := os.MkdirAll(filepath.Join(target, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := n.SaveState(target, 0); err == nil {
		t.Error("saved over a directory")
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{"occupied"}) {
		t.Errorf("directory holds %v after failed saves", got)
	}
}

func TestLoadStateErrors(t *testing.T) {
	dir := t.TempDir()
	id := RandomID().String()
	for _, tt := range []struct{ name, data string }{
		{"not json", "{"},
		{"bad id", `{"id": "zz", "k": 20, "alpha": 3, "neighbors": []}`},
		{"short id", `{"id": "abcd", "k": 20, "alpha": 3, "neighbors": []}`},
		{"bad neighbor", `{"id": "` + id + `", "k": 20, "alpha": 3, "neighbors": ["nowhere"]}`},
		{"negative k", `{"id": "` + id + `", "k": -1, "alpha": 3, "neighbors": []}`},
		{"huge k", `{"id": "` + id + `", "k": 1000000000000, "alpha": 3, "neighbors": []}`},
		{"huge alpha", `{"id": "` + id + `", "k": 20, "alpha": 1000000000000, "neighbors": []}`},
		{"k over uint64", `{"id": "` + id + `", "k": 1e30, "alpha": 3, "neighbors": []}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name)
			if err := os.WriteFile(path, []byte(tt.data), 0o600); err != nil {
				t.Fatal(err)
			}
			if st, err := LoadState(path); err == nil {
				t.Errorf("LoadState = %+v", st)
			}
		})
	}
	if _, err := LoadState(filepath.Join(dir, "absent")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// stateSaves records the node's regular saves.
type stateSaves struct {
	mu   sync.Mutex
	errs []error
	ch   chan error
}

func watchSaves(n *Node) *stateSaves {
	s := &stateSaves{ch: make(chan error, 64)}
	n.hooks.(*hooks).onStateSaved = func(_ string, err error) {
		s.mu.Lock()
		s.errs = append(s.errs, err)
		s.mu.Unlock()
		select {
		case s.ch <- err:
		default:
		}
	}
	return s
}

func (s *stateSaves) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.errs)
}

func TestSaveStateEvery(t *testing.T) {
	t.Run("ticks and close", func(t *testing.T) {
		n := stateNode(t)
		saves := watchSaves(n)
		path := filepath.Join(t.TempDir(), "state.json")
		if err := n.SaveState(path, 5*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if err := waitFor(t, dhtCtx(t), saves.ch, "a regular save"); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadState(path); err != nil {
			t.Fatal(err)
		}
		before := saves.count()
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
		if saves.count() <= before {
			t.Error("no save at Close")
		}
	})
	t.Run("once", func(t *testing.T) {
		n := stateNode(t)
		saves := watchSaves(n)
		path := filepath.Join(t.TempDir(), "state.json")
		if err := n.SaveState(path, 0); err != nil {
			t.Fatal(err)
		}
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
		if saves.count() != 1 {
			t.Errorf("%d saves, want 1", saves.count())
		}
		st, err := LoadState(path)
		if err != nil || st.ID != n.ID() {
			t.Errorf("state after Close: %+v, %v", st, err)
		}
	})
	t.Run("no neighbors", func(t *testing.T) {
		// A lone node saves its id (finding 6: it used to skip the save, so
		// its id did not survive a restart)...
		n := newDHTNode(t, Config{}, &hooks{})
		saves := watchSaves(n)
		path := filepath.Join(t.TempDir(), "state.json")
		if err := n.SaveState(path, 0); err != nil {
			t.Fatal(err)
		}
		n.Close()
		st, err := LoadState(path)
		if err != nil || st.ID != n.ID() || len(st.Neighbors) != 0 {
			t.Fatalf("lone node's state: %+v, %v", st, err)
		}
		if saves.count() != 1 || <-saves.ch != nil {
			t.Error("the save was not reported")
		}
		// After Close it does nothing.
		if err := n.SaveState(path, time.Millisecond); !errors.Is(err, ErrNodeClosed) {
			t.Errorf("SaveState after Close: %v, want ErrNodeClosed", err)
		}
		if saves.count() != 1 {
			t.Error("saved after Close")
		}
	})
	t.Run("no neighbors keeps the file's", func(t *testing.T) {
		// ...but does not overwrite good neighbours with an empty list.
		n := newDHTNode(t, Config{}, &hooks{})
		path := filepath.Join(t.TempDir(), "state.json")
		old := &State{ID: n.ID(), K: defaultK, Alpha: defaultAlpha, Neighbors: []netip.AddrPort{netip.MustParseAddrPort("10.1.2.3:8468")}}
		if err := old.save(path); err != nil {
			t.Fatal(err)
		}
		if err := n.SaveState(path, 0); err != nil {
			t.Fatal(err)
		}
		n.Close()
		if st, err := LoadState(path); err != nil || !reflect.DeepEqual(st, old) {
			t.Errorf("state = %+v, %v; want %+v", st, err, old)
		}
	})
}
