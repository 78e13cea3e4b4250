package rpcudp

import (
	"net/netip"
	"testing"
)

// TestGenMapBounded: the proven set and the credit accounts stay within
// twice a generation's size, and keep the entries written last.
func TestGenMapBounded(t *testing.T) {
	m := genMap[int]{max: 100}
	addr := func(i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 1)
	}
	for i := range 1000 {
		m.put(addr(i), i)
		m.put(addr(0), 0) // written again and again: never forgotten
		if n := len(m.young) + len(m.old); n > 2*m.max {
			t.Fatalf("%d entries after %d puts", n, i+1)
		}
	}
	for _, i := range []int{0, 999, 950, 900} {
		if v, ok := m.get(addr(i)); !ok || v != i {
			t.Errorf("get(%d) = %d, %v", i, v, ok)
		}
	}
	if _, ok := m.get(addr(500)); ok {
		t.Errorf("an entry written 500 puts ago is still there")
	}
	m.remove(addr(999))
	if _, ok := m.get(addr(999)); ok {
		t.Errorf("removed entry still there")
	}
}
