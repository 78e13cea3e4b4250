package kademlia

import (
	"context"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"
)

// TestLookupCutsSlowQueries: contacts that never answer hold a lookup for
// about a pace threshold each, not for QueryTimeout: once maxInflight
// queries are in flight, the one slow for longest is cut short and its
// contact counts as failed. An honest peer names K dead contacts closest
// to the target; the node lookup still ends long before they could time
// out (1 s each, 9 at a time: over 2 s).
func TestLookupCutsSlowQueries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newSimCluster(t, 6)
		defer cl.close()
		target := cl.randomID()
		dead := make([]Contact, defaultK)
		for i := range dead {
			addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{45, 1, byte(i), 1}), 4000) // nobody listens
			dead[i] = Contact{ID: xorID(target, 0, 0, 0, byte(i+1)), Addr: addr}
		}
		peer := Contact{ID: xorID(target, 1, 0, 0, 0, 0), Addr: netip.MustParseAddrPort("44.1.1.1:4000")}
		a := newAttacker(t, cl, peer, func(ID) []Contact { return dead })
		defer a.ep.Close()
		q := cl.serve(netip.MustParseAddrPort("44.2.2.2:4000"), Config{})
		cl.nodes = append(cl.nodes, q)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := q.pingAddr(ctx, peer.Addr); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		res, err := q.lookup(ctx, target)
		took := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("a lookup past %d dead contacts took %v (virtual), %d RPCs", len(dead), took, res.stats.RPCs)
		if took > time.Second {
			t.Errorf("lookup took %v, want under 1 s", took)
		}
		if res.stats.RPCs != len(dead)+1 || len(res.closest) != 1 || res.closest[0] != peer {
			t.Errorf("RPCs %d, closest %v; want %d RPCs and the peer alone", res.stats.RPCs, res.closest, len(dead)+1)
		}
	})
}
