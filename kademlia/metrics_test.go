package kademlia

import (
	"testing"
)

// TestMetrics: a node's Metrics add up: lookups by kind in histograms
// whose counts match, the table bucket by bucket, the stored keys and
// bytes, the endpoint's counters.
func TestMetrics(t *testing.T) {
	nodes := dhtNetwork(t, 5, Config{})
	ctx := dhtCtx(t)
	n := nodes[1]
	if err := n.Set(ctx, "metrics-key", "metrics-value"); err != nil {
		t.Fatal(err)
	}
	if _, found, err := n.Get(ctx, "metrics-key", GetOptions{SkipLocal: true}); err != nil || !found {
		t.Fatalf("Get: %v, %v", found, err)
	}
	m := n.Metrics()
	if m.NodeLookups.Count < 2 || m.ValueLookups.Count != 1 || m.ValueLookups.Found != 1 {
		t.Errorf("lookups: node %+v, value %+v", m.NodeLookups, m.ValueLookups)
	}
	for _, h := range []Histogram{m.NodeLookups.Seconds, m.NodeLookups.Hops, m.ValueLookups.Seconds, m.ValueLookups.Hops} {
		var sum uint64
		for _, c := range h.Counts {
			sum += c
		}
		if len(h.Counts) != len(h.Bounds)+1 || sum != h.Count {
			t.Errorf("histogram %+v: counts do not add up", h)
		}
	}
	contacts := 0
	for _, b := range n.Table().Buckets {
		contacts += len(b.Contacts)
	}
	if contacts != n.Table().len() || contacts == 0 {
		t.Errorf("buckets hold %d contacts, the table %d", contacts, n.Table().len())
	}
	if m.StoredKeys != 1 || m.StoredBytes <= 0 {
		t.Errorf("stored: %d keys, %d bytes", m.StoredKeys, m.StoredBytes)
	}
	if m.RPC.DatagramsOut == 0 || m.RPC.CallsOK == 0 || nodes[0].Metrics().RPC.Requests == 0 {
		t.Errorf("RPC stats: %+v", m.RPC)
	}
}
