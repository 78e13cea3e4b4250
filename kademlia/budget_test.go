package kademlia

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/vmihailenco/msgpack/v5"
)

// encodedLen is the size of v as rpcudp encodes a reply body.
func encodedLen(t *testing.T, v any) int {
	t.Helper()
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Len()
}

// TestReplySize: the budget's size of an answer is its encoded size, for
// every answer the handlers give (ports may be counted a little high).
func TestReplySize(t *testing.T) {
	n := offlineNode(t, Config{})
	for i := range 25 {
		n.rt.tab.add(Contact{ID: RandomID(), Addr: simAddr(i)}, true)
	}
	n.rt.tab.add(Contact{ID: RandomID(), Addr: netip.MustParseAddrPort("[2001:db8::1234:5678]:80")}, true)
	for _, tt := range []struct {
		name string
		res  any
	}{
		{"ping", n.id[:]},
		{"store", true},
		{"stun", []any{"10.1.2.3", 8468}},
		{"find_node", n.neighbors(RandomID(), Contact{})},
		{"find_node empty", []any{}},
		{"find_value small", map[string]any{"value": dhtValue(t, "v")}},
		{"find_value 8 KiB", map[string]any{"value": dhtValue(t, make([]byte, 8000))}},
	} {
		got, want := replySize(tt.res, nil), encodedLen(t, tt.res)
		if got < want || got > want+2*defaultK {
			t.Errorf("%s: replySize = %d, encoded %d", tt.name, got, want)
		}
	}
}

// TestReplyBudgetSources: a source gets its bucket and no more; the table
// of sources stays within ReplySources, idle sources are forgotten and,
// while every tracked source is busy, newcomers share one overflow bucket.
func TestReplyBudgetSources(t *testing.T) {
	now := time.Unix(1000, 0)
	cfg, err := Config{ReplyBytesPerSecond: 10000, ReplyBurst: 20000, ReplySources: 4, Now: func() time.Time { return now }}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	b := newReplyBudget(cfg)
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}) }
	if !b.allow(addr(1), 20000) || b.allow(addr(1), 1) {
		t.Fatal("a source's bucket is not its burst")
	}
	for i := 2; i <= 4; i++ {
		b.allow(addr(i), 15000)
	}
	if !b.allow(addr(5), 20000) || b.allow(addr(6), 1) || b.tracked() != 4 {
		t.Fatalf("untracked sources do not share the overflow bucket (tracked %d)", b.tracked())
	}
	now = now.Add(3 * time.Second) // every bucket full again: idle
	if !b.allow(addr(7), 1) || b.tracked() != 1 {
		t.Fatalf("idle sources not swept: %d tracked", b.tracked())
	}
	if !b.allow(addr(1), 20000) {
		t.Fatal("a forgotten source did not get a fresh bucket")
	}
}

// TestReplyBudgetDropsAnswers: over budget, a request gets no answer at
// all (rpcudp drops it, counted in Stats.Drops.RateLimited) and the drop is
// counted in Metrics; loopback sources are exempt.
func TestReplyBudgetDropsAnswers(t *testing.T) {
	n := offlineNode(t, Config{ReplyBytesPerSecond: 1, ReplyBurst: 1})
	n.budget = newReplyBudget(n.cfg)
	ok := func(context.Context, *rpcudp.Request) (any, error) { return make([]byte, 4000), nil }
	req := &rpcudp.Request{From: netip.MustParseAddrPort("192.0.2.1:1"), Method: methodFindValue}
	for i := range 3 {
		_, err := n.budget.intercept(context.Background(), req, ok)
		if (i < 2) != (err == nil) || (err != nil && !errors.Is(err, rpcudp.ErrRateLimited)) {
			t.Fatalf("answer %d: %v", i, err)
		}
	}
	req.From = netip.MustParseAddrPort("127.0.0.1:1")
	if _, err := n.budget.intercept(context.Background(), req, ok); err != nil {
		t.Fatalf("loopback: %v", err)
	}
	if m := n.Metrics().Replies; m.Sent != 2 || m.Dropped != 1 || m.DroppedBytes == 0 || m.Sources != 1 {
		t.Errorf("Metrics().Replies = %+v", m)
	}
}
