package kademlia

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"
)

// State is what SaveState writes and LoadState reads: enough for a node to
// come back with the same id and rejoin through its last neighbours, the
// Go counterpart of Python's save_state/load_state (which pickles the same
// fields).
//
// On disk it is JSON:
//
//	{"id": "<40 hex digits>", "k": 20, "alpha": 3, "neighbors": ["127.0.0.1:8468", "[::1]:8469"]}
type State struct {
	// ID is the node's id.
	ID ID
	// K and Alpha are the node's Config.K and Config.Alpha.
	K, Alpha int
	// Neighbors are the node's BootstrappableNeighbors.
	Neighbors []netip.AddrPort
}

// stateFile is State's JSON form.
type stateFile struct {
	ID        string   `json:"id"`
	K         int      `json:"k"`
	Alpha     int      `json:"alpha"`
	Neighbors []string `json:"neighbors"`
}

// State returns the node's current state: its id, K, Alpha and
// BootstrappableNeighbors.
func (n *Node) State() *State {
	return &State{ID: n.id, K: n.cfg.K, Alpha: n.cfg.Alpha, Neighbors: n.BootstrappableNeighbors()}
}

// SaveState writes the node's State to path as JSON, atomically: the data
// goes to a temporary file in the same directory, which is synced and then
// renamed over path, so path always holds either the old or the new state.
func (n *Node) SaveState(path string) error {
	return n.State().Save(path)
}

// Save writes s to path atomically (see Node.SaveState).
func (s *State) Save(path string) error {
	f := stateFile{ID: s.ID.String(), K: s.K, Alpha: s.Alpha, Neighbors: make([]string, len(s.Neighbors))}
	for i, a := range s.Neighbors {
		f.Neighbors[i] = a.String()
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("kademlia: save state: %w", err)
	}
	if err := writeFileAtomic(path, append(data, '\n')); err != nil {
		return fmt.Errorf("kademlia: save state: %w", err)
	}
	return nil
}

// writeFileAtomic writes data to a temporary file next to path, syncs it,
// renames it to path and syncs the directory. The temporary file is
// removed on any failure.
func writeFileAtomic(path string, data []byte) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	// Make the rename durable; not every platform can sync a directory.
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// LoadState reads a State written by SaveState. Use it to restart a node:
//
//	st, err := kademlia.LoadState(path)
//	n, err := kademlia.NewNode(kademlia.Config{ID: st.ID, K: st.K, Alpha: st.Alpha})
//	...
//	n.Bootstrap(ctx, st.Neighbors)
func LoadState(path string) (*State, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("kademlia: load state: %w", err)
	}
	var f stateFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("kademlia: load state %s: %w", path, err)
	}
	id, err := ParseID(f.ID)
	if err != nil {
		return nil, fmt.Errorf("kademlia: load state %s: %w", path, err)
	}
	if f.K < 0 || f.Alpha < 0 {
		return nil, fmt.Errorf("kademlia: load state %s: negative k (%d) or alpha (%d)", path, f.K, f.Alpha)
	}
	s := &State{ID: id, K: f.K, Alpha: f.Alpha, Neighbors: make([]netip.AddrPort, 0, len(f.Neighbors))}
	for _, a := range f.Neighbors {
		ap, err := netip.ParseAddrPort(a)
		if err != nil {
			return nil, fmt.Errorf("kademlia: load state %s: neighbor: %w", path, err)
		}
		s.Neighbors = append(s.Neighbors, ap)
	}
	return s, nil
}

// SaveStateRegularly saves the node's state to path every interval (as
// Python's save_state_regularly) until Close, and once more when Close is
// called. A save is skipped while the node knows no neighbours, as in
// Python, so that a file with good neighbours is not overwritten with an
// empty list. An interval <= 0 saves only at Close. Failures are logged.
// Calling it on a closed node does nothing.
func (n *Node) SaveStateRegularly(path string, interval time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.goLoopLocked(func(ctx context.Context) {
		var tick <-chan time.Time
		if interval > 0 {
			t := time.NewTicker(interval)
			defer t.Stop()
			tick = t.C
		}
		for {
			select {
			case <-tick:
				n.saveStateIfNeighbors(path)
			case <-ctx.Done():
				n.saveStateIfNeighbors(path)
				return
			}
		}
	})
}

// errNoNeighbors: a regular save was skipped.
var errNoNeighbors = errors.New("kademlia: no neighbors, state not saved")

func (n *Node) saveStateIfNeighbors(path string) {
	st := n.State()
	var err error
	if len(st.Neighbors) == 0 {
		err = errNoNeighbors
		n.log.Debug("kademlia: no known neighbors, so not writing state", "path", path)
	} else if err = st.Save(path); err != nil {
		n.log.Warn("kademlia: saving state failed", "path", path, "err", err)
	}
	if n.onStateSaved != nil {
		n.onStateSaved(path, err)
	}
}
