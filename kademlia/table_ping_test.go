package kademlia

import (
	"slices"
	"testing"
	"time"
)

// TestTableHeadPingOnce checks that a full, unsplittable bucket asks for
// one ping of its head however many newcomers arrive, and what PingResult
// does with the answer.
func TestTableHeadPingOnce(t *testing.T) {
	const k = 4
	tests := []struct {
		name      string
		ok        bool
		dropRepl  bool // empty the replacement cache before the result
		wantOrder func(cs []Contact) []Contact
		wantRepl  func(cs []Contact) []Contact
		wantFails int // failures of the head afterwards (-1: gone)
	}{
		{
			name:      "head answers: moves to tail, newcomers stay in cache",
			ok:        true,
			wantOrder: func(cs []Contact) []Contact { return []Contact{cs[1], cs[2], cs[3], cs[0]} },
			wantRepl:  func(cs []Contact) []Contact { return cs[k : k+3] },
			wantFails: 0,
		},
		{
			name:      "head silent: evicted for most recent newcomer",
			ok:        false,
			wantOrder: func(cs []Contact) []Contact { return []Contact{cs[1], cs[2], cs[3], cs[k+2]} },
			wantRepl:  func(cs []Contact) []Contact { return cs[k : k+2] },
			wantFails: -1,
		},
		{
			name:      "head silent, empty cache: counts a failure",
			ok:        false,
			dropRepl:  true,
			wantOrder: func(cs []Contact) []Contact { return cs[:k] },
			wantRepl:  func([]Contact) []Contact { return nil },
			wantFails: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, _ := newRTTable(ID{}, tableConfig{K: k})
			cs := farContacts(k + 3)
			for _, c := range cs[:k] {
				if h := tab.addFound(c); h != nil {
					t.Fatalf("ping requested before the bucket is full")
				}
			}
			h := tab.addFound(cs[k])
			if h == nil || *h != cs[0] {
				t.Fatalf("first newcomer: head = %v, want %s", h, cs[0])
			}
			for _, c := range cs[k+1:] {
				if h := tab.addFound(c); h != nil {
					t.Fatalf("head pinged again for %s", c)
				}
			}
			if tt.dropRepl {
				for _, c := range cs[k:] {
					if !tab.failed(c.ID) {
						t.Fatalf("Failed(replacement %s) = false", c)
					}
				}
			}
			tab.pingResult(cs[0].ID, tt.ok)
			checkTable(t, tab)
			entries, repl := bucketIDs(tab, cs[0].ID)
			if want := contactIDs(tt.wantOrder(cs)); !slices.Equal(entries, want) {
				t.Fatalf("entries %v, want %v", entries, want)
			}
			if want := contactIDs(tt.wantRepl(cs)); !slices.Equal(repl, want) {
				t.Fatalf("replacements %v, want %v", repl, want)
			}
			if got := failuresOf(tab, cs[0].ID); got != tt.wantFails {
				t.Fatalf("head failures = %d, want %d", got, tt.wantFails)
			}
			// The pending ping is cleared: the next newcomer pings the
			// (possibly new) head once more.
			next := rtContact(farID(1000))
			h = tab.addFound(next)
			if h == nil || h.ID != tt.wantOrder(cs)[0].ID {
				t.Fatalf("after result: head = %v, want %s", h, tt.wantOrder(cs)[0])
			}
			if h := tab.addFound(rtContact(farID(1001))); h != nil {
				t.Fatalf("pinged twice after result")
			}
		})
	}
}

func TestTableHeadPingPendingTimeout(t *testing.T) {
	const k = 2
	tab, clk := newRTTable(ID{}, tableConfig{K: k, PendingTimeout: 10 * time.Second})
	cs := farContacts(k + 3)
	for _, c := range cs[:k] {
		tab.addFound(c)
	}
	if h := tab.addFound(cs[k]); h == nil {
		t.Fatal("no ping requested")
	}
	clk.Advance(9 * time.Second)
	if h := tab.addFound(cs[k+1]); h != nil {
		t.Fatal("pinged again within PendingTimeout")
	}
	clk.Advance(time.Second)
	if h := tab.addFound(cs[k+2]); h == nil || h.ID != cs[0].ID {
		t.Fatalf("lost ping not retried: %v", h)
	}
}

func TestTableHeadPingClearedByOtherPaths(t *testing.T) {
	const k = 3
	tests := []struct {
		name     string
		clear    func(tab *table, head Contact)
		wantHead int // index in cs of the head asked for next
	}{
		{"head seen", func(tab *table, h Contact) { tab.addFound(h) }, 1},
		{"head removed", func(tab *table, h Contact) { tab.remove(h.ID) }, 1},
		{"head failed out", func(tab *table, h Contact) {
			for range defaultMaxFailures {
				tab.failed(h.ID)
			}
		}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, _ := newRTTable(ID{}, tableConfig{K: k})
			cs := farContacts(k + 2)
			for _, c := range cs[:k] {
				tab.addFound(c)
			}
			h := tab.addFound(cs[k])
			if h == nil || h.ID != cs[0].ID {
				t.Fatalf("head = %v", h)
			}
			tt.clear(tab, *h)
			checkTable(t, tab)
			h = tab.addFound(cs[k+1])
			if h == nil || h.ID != cs[tt.wantHead].ID {
				t.Fatalf("next head = %v, want %s", h, cs[tt.wantHead])
			}
			// A late result for the old head does not clear the new ping.
			tab.pingResult(cs[0].ID, true)
			if h := tab.addFound(rtContact(farID(999))); h != nil {
				t.Fatalf("stale PingResult cleared the new pending ping")
			}
		})
	}
}
