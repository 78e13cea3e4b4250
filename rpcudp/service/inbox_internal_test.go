package service

import "testing"

// TestInboxBoundedBeforeRenewal: emissions that come before the first
// renewal (which sets the number expected next) are held, but no more
// than the reorder window.
func TestInboxBoundedBeforeRenewal(t *testing.T) {
	b := newInbox()
	defer b.close()
	for seq := uint64(1); seq <= 10000; seq++ {
		b.add(Emission{Seq: seq})
	}
	b.mu.Lock()
	n := len(b.held)
	b.mu.Unlock()
	if n > reorderWindow {
		t.Fatalf("%d emissions held before the first renewal, want at most %d", n, reorderWindow)
	}
}
