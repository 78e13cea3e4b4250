package kademlia

import (
	"fmt"
	"net/netip"
	"testing"
)

// noIPLimits turns the routing table's IP limits off, for tests whose
// contacts share a network.
var noIPLimits = IPLimits{Exempt: func(netip.Addr) bool { return true }}

// TestIPLimits: at most PerBucket contacts of one network per bucket and
// PerTable per table (replacement caches included), IPv4 by /24 and IPv6
// by /32 by default; loopback exempt by default; Exempt and negative
// limits turn them off; other networks are not held back.
func TestIPLimits(t *testing.T) {
	tests := []struct {
		name      string
		lim       IPLimits
		addr      func(i int) netip.AddrPort
		wantTable int // contacts kept of 200 offered
	}{
		{"IPv4 one /24", IPLimits{}, func(i int) netip.AddrPort {
			return netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), uint16(1000+i))
		}, defaultIPPerTable},
		{"IPv4 one address", IPLimits{}, func(i int) netip.AddrPort {
			return netip.AddrPortFrom(netip.MustParseAddr("203.0.113.7"), uint16(1000+i))
		}, defaultIPPerTable},
		{"IPv6 one /48", IPLimits{}, func(i int) netip.AddrPort {
			return netip.MustParseAddrPort(fmt.Sprintf("[2001:db8:1:%x::1]:%d", i, 1000+i))
		}, defaultIPPerTable},
		{"IPv6 /48s of one /32", IPLimits{}, func(i int) netip.AddrPort {
			return netip.MustParseAddrPort(fmt.Sprintf("[2a05:d000:%x::1]:%d", i, 1000+i))
		}, defaultIPPerTable},
		{"IPv6 /32 each", IPLimits{}, func(i int) netip.AddrPort {
			return netip.MustParseAddrPort(fmt.Sprintf("[2a10:%x::1]:1", i))
		}, -1},
		{"IPv6 by /48: /48s of one /32", IPLimits{IPv6Prefix: 48}, func(i int) netip.AddrPort {
			return netip.MustParseAddrPort(fmt.Sprintf("[2a05:d000:%x::1]:%d", i, 1000+i))
		}, -1},
		{"IPv4 /24 each", IPLimits{}, func(i int) netip.AddrPort {
			return netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, byte(i), 1, 1}), 4000)
		}, -1},
		{"loopback exempt", IPLimits{}, func(i int) netip.AddrPort {
			return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(1000+i))
		}, -1},
		{"exempt all", noIPLimits, func(i int) netip.AddrPort {
			return netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), 1)
		}, -1},
		{"per table 3", IPLimits{PerTable: 3}, func(i int) netip.AddrPort {
			return netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), 1)
		}, 3},
		{"no limits", IPLimits{PerBucket: -1, PerTable: -1}, func(i int) netip.AddrPort {
			return netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), 1)
		}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim := tt.lim.withDefaults()
			tab := newTable(ID{}, tableConfig{K: 20, IPLimits: lim})
			// Honest contacts, each in a network of its own, split the
			// table into buckets.
			for i := range 400 {
				tab.addFound(Contact{ID: RandomID(), Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{100, byte(i >> 8), byte(i), 1}), 1)})
			}
			honest := tab.len()
			for i := range 200 {
				tab.addFound(Contact{ID: RandomID(), Addr: tt.addr(i)})
			}
			kept, perBucket := 0, map[int]int{}
			tab.mu.Lock()
			for bi, b := range tab.buckets {
				for _, list := range [][]tableEntry{b.entries, b.replacements} {
					for _, e := range list {
						if p, ok := lim.network(e.c.Addr.Addr()); ok && p.Contains(tt.addr(0).Addr()) {
							kept++
							perBucket[bi]++
						}
					}
				}
			}
			tab.mu.Unlock()
			if tt.wantTable < 0 {
				if tab.len() < honest+50 {
					t.Errorf("kept %d contacts (%d before), want many more", tab.len(), honest)
				}
				return
			}
			if kept != tt.wantTable {
				t.Errorf("kept %d contacts of one network, want %d", kept, tt.wantTable)
			}
			for bi, n := range perBucket {
				if n > lim.PerBucket {
					t.Errorf("bucket %d holds %d contacts of one network, want at most %d", bi, n, lim.PerBucket)
				}
			}
		})
	}
}
