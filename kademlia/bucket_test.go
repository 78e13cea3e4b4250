package kademlia

import (
	"slices"
	"testing"
	"time"
)

func TestTableConfigDefaults(t *testing.T) {
	cfg := newTable(ID{}, tableConfig{}).config()
	if cfg.K != 20 || cfg.B != 5 || cfg.MaxFailures != 5 || cfg.ReplacementFactor != 5 ||
		cfg.PendingTimeout != time.Minute || cfg.Now == nil {
		t.Fatalf("defaults = %+v", cfg)
	}
	cfg = newTable(ID{}, tableConfig{K: 8, B: 1, MaxFailures: 2, ReplacementFactor: 3}).config()
	if cfg.K != 8 || cfg.B != 1 || cfg.MaxFailures != 2 || cfg.ReplacementFactor != 3 {
		t.Fatalf("explicit config = %+v", cfg)
	}
}

func TestTableIDMidpoint(t *testing.T) {
	top := fullIDRange().Hi
	tests := []struct {
		name       string
		lo, hi, mi ID
	}{
		{"python [0,10]", idFromUint64(0), idFromUint64(10), idFromUint64(5)},
		{"full", ID{}, top, idFromHex(t, "7fffffffffffffffffffffffffffffffffffffff")},
		{"upper half", ID{0x80}, top, idFromHex(t, "bfffffffffffffffffffffffffffffffffffffff")},
		{"carry", idFromUint64(0xff), idFromUint64(0x101), idFromUint64(0x100)},
		{"pair", idFromUint64(6), idFromUint64(7), idFromUint64(6)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := idMidpoint(tt.lo, tt.hi); got != tt.mi {
				t.Fatalf("midpoint = %s, want %s", got, tt.mi)
			}
		})
	}
	if idIncrement(idFromUint64(0xff)) != idFromUint64(0x100) {
		t.Fatal("increment carry")
	}
}

// TestTableRangeContains ports Python's test_in_range.
func TestTableRangeContains(t *testing.T) {
	r := idRange{Lo: idFromUint64(0), Hi: idFromUint64(10)}
	for _, tt := range []struct {
		x    uint64
		want bool
	}{{5, true}, {11, false}, {10, true}, {0, true}} {
		if got := r.contains(idFromUint64(tt.x)); got != tt.want {
			t.Errorf("Contains(%d) = %v, want %v", tt.x, got, tt.want)
		}
	}
	if d := fullIDRange().depth(); d != 0 {
		t.Errorf("full range depth %d", d)
	}
	if d := (idRange{Lo: ID{0x80}, Hi: idFromHex(t, "87ffffffffffffffffffffffffffffffffffffff")}).depth(); d != 5 {
		t.Errorf("[80,87ff..] depth %d", d)
	}
	for range 50 {
		if id := r.random(); !r.contains(id) {
			t.Fatalf("Random() %s outside %s", id, r)
		}
	}
}

// TestTableBucketSplit ports Python's test_split and test_split_no_overlap
// and checks how contacts, replacements and a pending ping are
// redistributed.
func TestTableBucketSplit(t *testing.T) {
	t.Run("python [0,10]", func(t *testing.T) {
		b := &kbucket{idRange: idRange{Lo: idFromUint64(0), Hi: idFromUint64(10)}}
		b.entries = []tableEntry{{c: rtContact(idFromUint64(5))}, {c: rtContact(idFromUint64(6))}}
		one, two := b.split(5, 25)
		if len(one.entries) != 1 || one.idRange != (idRange{idFromUint64(0), idFromUint64(5)}) {
			t.Errorf("one = %s with %d", one.idRange, len(one.entries))
		}
		if len(two.entries) != 1 || two.idRange != (idRange{idFromUint64(6), idFromUint64(10)}) {
			t.Errorf("two = %s with %d", two.idRange, len(two.entries))
		}
	})
	t.Run("no overlap", func(t *testing.T) {
		b := &kbucket{idRange: fullIDRange()}
		left, right := b.split(20, 100)
		if idIncrement(left.Hi) != right.Lo {
			t.Fatalf("gap or overlap: %s %s", left.idRange, right.idRange)
		}
		if left.Lo != (ID{}) || right.Lo != (ID{0x80}) || right.Hi != fullIDRange().Hi {
			t.Fatalf("halves %s %s", left.idRange, right.idRange)
		}
		if left.depth() != 1 || right.depth() != 1 {
			t.Fatalf("depths %d %d", left.depth(), right.depth())
		}
	})
	t.Run("redistribute", func(t *testing.T) {
		then := time.Unix(1000, 0)
		lo := []ID{{0x01}, {0x7f}, {0x02}}
		hi := []ID{{0x81}, {0xff}}
		b := &kbucket{idRange: fullIDRange(), lastUpdated: then}
		// Interleave so that order preservation is visible.
		for i, id := range []ID{lo[0], hi[0], lo[1], hi[1], lo[2]} {
			b.entries = append(b.entries, tableEntry{c: rtContact(id), failures: i})
		}
		b.pinging, b.pingID, b.pingSince = true, lo[0], then
		// Replacements: three for the high half (room for 1), one low.
		for _, id := range []ID{{0x90}, {0x10}, {0xa0}, {0xb0}} {
			b.replacements = append(b.replacements, tableEntry{c: rtContact(id)})
		}
		one, two := b.split(3, 15)
		if got, want := ids(one.entries), []ID{lo[0], lo[1], lo[2]}; !slices.Equal(got, want) {
			t.Errorf("low half %v, want %v", got, want)
		}
		if got, want := ids(two.entries), []ID{hi[0], hi[1], {0xb0}}; !slices.Equal(got, want) {
			t.Errorf("high half %v, want %v (most recent replacement promoted)", got, want)
		}
		if got, want := ids(one.replacements), []ID{{0x10}}; !slices.Equal(got, want) {
			t.Errorf("low replacements %v, want %v", got, want)
		}
		if got, want := ids(two.replacements), []ID{{0x90}, {0xa0}}; !slices.Equal(got, want) {
			t.Errorf("high replacements %v, want %v", got, want)
		}
		if one.entries[1].failures != 2 || two.entries[1].failures != 3 {
			t.Errorf("failure counts not carried: %d %d", one.entries[1].failures, two.entries[1].failures)
		}
		if !one.pinging || one.pingID != lo[0] || two.pinging {
			t.Errorf("pending ping not carried to the low half only")
		}
		if !one.lastUpdated.Equal(then) || !two.lastUpdated.Equal(then) {
			t.Errorf("lastUpdated not inherited")
		}
	})
}

func ids(es []tableEntry) []ID {
	out := make([]ID, len(es))
	for i, e := range es {
		out[i] = e.c.ID
	}
	return out
}
