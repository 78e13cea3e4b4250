package kademlia

import (
	"context"
	"testing"
	"time"
)

// hooks is the tests' testHooks: give them to listen or serve to observe
// and steer a node. Nil fields do nothing.
type hooks struct {
	onTask        func(what string)
	onMaintained  func(kind string)
	onStateSaved  func(path string, err error)
	tickRefresh   <-chan time.Time
	tickRepublish <-chan time.Time
	probeOff      bool
}

func (h *hooks) taskDone(what string) {
	if h.onTask != nil {
		h.onTask(what)
	}
}

func (h *hooks) maintained(kind string) {
	if h.onMaintained != nil {
		h.onMaintained(kind)
	}
}

func (h *hooks) stateSaved(path string, err error) {
	if h.onStateSaved != nil {
		h.onStateSaved(path, err)
	}
}

func (h *hooks) ticks() (refresh, republish <-chan time.Time) { return h.tickRefresh, h.tickRepublish }

func (h *hooks) noProbe() bool { return h.probeOff }

// tab returns the node's live routing table.
func (n *Node) tab() *table { return n.rt.tab }

// offlineNode returns a node that does not serve: enough to test the
// routing and hand-off rules. It starts no goroutine and needs no Close.
func offlineNode(t testing.TB, cfg Config, h ...testHooks) *Node {
	t.Helper()
	cfg, err := cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	guard, err := newStoreGuard(cfg.Validators)
	if err != nil {
		t.Fatal(err)
	}
	n := &Node{cfg: cfg, guard: guard, id: cfg.ID, log: cfg.Logger, storage: cfg.Storage}
	if len(h) > 0 {
		n.hooks = h[0]
	}
	if n.storage == nil {
		n.storage = newMemoryStorage(StorageConfig{})
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	t.Cleanup(n.cancel)
	n.rt = newRouting(n)
	return n
}

// MemorySizes exposes a memoryStorage's internal sizes (map, expiry heap,
// order list) to the package's external tests.
func MemorySizes(s *memoryStorage) (items, expiry, order int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.items), len(s.expiry), s.order.Len()
}

// The in-memory storage and its defaults, for the package's external
// tests (storage_test.go runs one suite on every Storage).
type MemoryStorage = memoryStorage

func NewMemoryStorage(cfg StorageConfig) *MemoryStorage { return newMemoryStorage(cfg) }

const DefaultStorageTTL = defaultStorageTTL

func (c StorageConfig) WithDefaults() StorageConfig { return c.withDefaults() }

// The types of Metrics' nested structs, for the tests' literals.
type (
	HandOffMetrics = struct {
		Newcomers, Unproved, Throttled uint64
		Keys, Bytes, Failed, Skipped   uint64
	}
	RepublishMetrics = struct{ Keys, Originals, Failed uint64 }
	RefusedMetrics   = struct {
		BadRecord, BadSignature, Stale, SeqConflict uint64
		Quota, Unproved                             uint64
	}
)
