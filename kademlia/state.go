package kademlia

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"time"
)

// State is what Node.SaveState writes and LoadState reads (as Python's
// save_state/load_state): enough for a node to come back with the same id
// and rejoin through its last neighbours. On disk it is JSON:
//
//	{"id": "<40 hex digits>", "k": 20, "alpha": 3, "neighbors": ["127.0.0.1:8468"]}
type State struct {
	// ID, K and Alpha are the node's; Neighbors its
	// BootstrappableNeighbors.
	ID        ID
	K, Alpha  int
	Neighbors []netip.AddrPort
}

// stateFile is State's JSON form.
type stateFile struct {
	ID        string   `json:"id"`
	K         int      `json:"k"`
	Alpha     int      `json:"alpha"`
	Neighbors []string `json:"neighbors"`
}

// state returns the node's current state: its id, K, Alpha and
// BootstrappableNeighbors.
func (n *Node) state() *State {
	return &State{ID: n.id, K: n.cfg.K, Alpha: n.cfg.Alpha, Neighbors: n.BootstrappableNeighbors()}
}

// SaveState writes the node's State to path as JSON, atomically (path holds
// the old or the new state). With every > 0 it also saves every interval,
// and once more at Close (those saves log their failures). With no
// neighbours known, it keeps those already in the file for this node's id.
func (n *Node) SaveState(path string, every time.Duration) error {
	if n.ctx.Err() != nil {
		return ErrNodeClosed
	}
	if err := n.saveStateKeepingNeighbors(path); err != nil {
		return err
	}
	if every > 0 {
		n.saveRegularly(path, every)
	}
	return nil
}

// save writes s to path atomically (see Node.SaveState).
func (s *State) save(path string) error {
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

// LoadState reads a State written by Node.SaveState: restart with
// Config{ID: st.ID, K: st.K, Alpha: st.Alpha}, Bootstrap(ctx, st.Neighbors).
func LoadState(path string) (*State, error) {
	data, err := readLimited(path, maxStateFile)
	if err != nil {
		return nil, fmt.Errorf("kademlia: load state: %w", err)
	}
	var f stateFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("kademlia: load state %s: %w", path, err)
	}
	id, err := ParseID(f.ID)
	if err != nil {
		return nil, fmt.Errorf("load state %s: %w", path, err)
	}
	if err := checkStateNumbers(f.K, f.Alpha); err != nil {
		return nil, fmt.Errorf("kademlia: load state %s: %w", path, err)
	}
	if len(f.Neighbors) > maxK {
		return nil, fmt.Errorf("kademlia: load state %s: %w: %d neighbors, more than maxK", path, ErrBadConfig, len(f.Neighbors))
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

// maxStateFile bounds the size of a state file LoadState reads: maxK
// neighbours take about 50 KiB.
const maxStateFile = 1 << 20

// readLimited reads the file at path, which must be at most limit bytes.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: %w: over %d bytes", path, ErrBadConfig, limit)
	}
	return data, nil
}

// saveRegularly saves the node's state to path every interval until
// Close, and once more when Close is called.
func (n *Node) saveRegularly(path string, interval time.Duration) {
	n.goLoop(func(ctx context.Context) {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				n.saveStateKeepingNeighbors(path)
			case <-ctx.Done():
				n.saveStateKeepingNeighbors(path)
				return
			}
		}
	})
}

// saveStateKeepingNeighbors saves the node's state to path; with no
// neighbours known, the neighbours of the node's previous state in path
// are kept.
func (n *Node) saveStateKeepingNeighbors(path string) error {
	st := n.state()
	if len(st.Neighbors) == 0 {
		if old, err := LoadState(path); err == nil && old.ID == st.ID {
			st.Neighbors = old.Neighbors
		}
		n.log.Debug("kademlia: no known neighbors, saving state with the previous ones", "path", path, "kept", len(st.Neighbors))
	}
	err := st.save(path)
	if err != nil {
		n.log.Warn("kademlia: saving state failed", "path", path, "err", err)
	}
	if n.hooks != nil {
		n.hooks.stateSaved(path, err)
	}
	return err
}
