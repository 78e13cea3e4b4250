package kademlia

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// maintNode is a node whose maintenance ticks the test drives.
type maintNode struct {
	*Node
	refresh, republish chan time.Time
	events             chan string
	mu                 sync.Mutex
	lookups            []LookupStats
}

func newMaintNode(t *testing.T, clock *fakeClock) *maintNode {
	t.Helper()
	m := &maintNode{refresh: make(chan time.Time), republish: make(chan time.Time), events: make(chan string, 8)}
	h := &hooks{tickRefresh: m.refresh, tickRepublish: m.republish, onMaintained: func(kind string) { m.events <- kind }}
	n, err := listen(context.Background(), "127.0.0.1:0", Config{Now: clock.Now, RPCTimeout: 2 * time.Second, OnLookup: func(s LookupStats) {
		m.mu.Lock()
		m.lookups = append(m.lookups, s)
		m.mu.Unlock()
	}}, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	m.Node = n
	return m
}

func (m *maintNode) lookupCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.lookups)
}

// tick triggers one maintenance run and waits until it is done.
func (m *maintNode) tick(t *testing.T, ctx context.Context, ch chan time.Time, want string) {
	t.Helper()
	select {
	case ch <- time.Now():
	case <-ctx.Done():
		t.Fatal("maintenance loop not running")
	}
	if got := waitFor(t, ctx, m.events, want); got != want {
		t.Fatalf("maintenance %q, want %q", got, want)
	}
}

// TestRefreshAndRepublish drives the maintenance of two nodes on a fake
// clock: the hourly refresh looks up lonely buckets and republishes keys
// without extending their expiry locally; the original publisher's
// republish extends the expiry everywhere.
func TestRefreshAndRepublish(t *testing.T) {
	ctx := dhtCtx(t)
	clock := newFakeClock()
	t0 := clock.Now()
	a := newMaintNode(t, clock)
	b := newMaintNode(t, clock)
	if _, err := b.Bootstrap(ctx, []netip.AddrPort{a.Addr()}); err != nil {
		t.Fatal(err)
	}
	if err := b.Set(ctx, "m", "v"); err != nil {
		t.Fatal(err)
	}
	key, _ := Digest("m")
	week := defaultStorageTTL
	wantMeta := func(n *maintNode, stored, expires time.Time, original bool) {
		t.Helper()
		m, ok := metaOf(t, n.storage, key)
		if !ok || !m.Stored.Equal(stored) || !m.Expires.Equal(expires) || m.Original != original {
			t.Errorf("meta %+v (held %v), want stored %v expires %v original %v", m, ok, stored, expires, original)
		}
	}
	wantMeta(a, t0, t0.Add(week), false)
	wantMeta(b, t0, t0.Add(week), true)

	// Within the hour: nothing lonely, nothing to republish.
	clock.Advance(30 * time.Minute)
	before := a.lookupCount()
	a.tick(t, ctx, a.refresh, "refresh")
	if a.lookupCount() != before {
		t.Errorf("refresh within the hour ran %d lookups", a.lookupCount()-before)
	}
	wantMeta(b, t0, t0.Add(week), true)

	// Two hours on: every bucket is lonely and the key is due.
	clock.Advance(90 * time.Minute)
	t2 := clock.Now()
	before = a.lookupCount()
	a.tick(t, ctx, a.refresh, "refresh")
	a.mu.Lock()
	refreshes := 0
	for _, s := range a.lookups[before:] {
		if s.Kind == "node" && s.Target != key {
			refreshes++
		}
	}
	a.mu.Unlock()
	if refreshes == 0 {
		t.Error("no bucket refresh lookup")
	}
	wantMeta(a, t2, t0.Add(week), false) // republished, expiry kept
	wantMeta(b, t2, t2.Add(week), true)  // received a store
	if got := a.Metrics().Republish; got != (RepublishMetrics{Keys: 1}) {
		t.Errorf("a's republish metrics %+v after its hourly republish, want 1 key", got)
	}

	// The original publisher's republish extends the expiry everywhere.
	clock.Advance(time.Hour)
	t3 := clock.Now()
	b.tick(t, ctx, b.republish, "originals")
	wantMeta(b, t3, t3.Add(week), true)
	wantMeta(a, t3, t3.Add(week), false)
	if got := b.Metrics().Republish; got.Originals != 1 || got.Failed != 0 {
		t.Errorf("b's republish metrics %+v after its 24-hour republish, want 1 original", got)
	}
}

// TestMaintenanceLoopTicks runs the loop on real, short intervals.
func TestMaintenanceLoopTicks(t *testing.T) {
	events := make(chan string, 64)
	h := &hooks{onMaintained: func(kind string) {
		select {
		case events <- kind:
		default:
		}
	}}
	n, err := listen(context.Background(), "127.0.0.1:0",
		Config{RefreshInterval: 5 * time.Millisecond, OriginalRepublishInterval: 7 * time.Millisecond}, h)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx := dhtCtx(t)
	seen := map[string]int{}
	for seen["refresh"] < 2 || seen["originals"] < 2 {
		seen[waitFor(t, ctx, events, "maintenance ticks")]++
	}
}
