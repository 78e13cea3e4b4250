package kademlia

import (
	"context"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"
)

// honestAddr6 is the address of the i-th honest IPv6 node, each in a /32
// of its own (2a10:XXXX::/32).
func honestAddr6(i int) netip.AddrPort {
	var b [16]byte
	b[0], b[1], b[2], b[3], b[15] = 0x2a, 0x10, byte(i>>8), byte(i), 1
	return netip.AddrPortFrom(netip.AddrFrom16(b), 8468)
}

// sybilAddr6 is the address of the i-th Sybil: two hosts in each of ten
// /48s of one hoster's /32, 2a05:d000:000X::/48.
func sybilAddr6(i int) netip.AddrPort {
	var b [16]byte
	b[0], b[1], b[2], b[3], b[5], b[15] = 0x2a, 0x05, 0xd0, 0x00, byte(i/2), byte(1+i%2)
	return netip.AddrPortFrom(netip.AddrFrom16(b), 8468)
}

// TestSuiteSybilKey6 (issue 18, finding 6): 20 Sybils whose ids are chosen
// right around one key, spread over ten IPv6 /48s of one /32 (what one
// hoster hands out cheaply), join an honest IPv6 network. A Set of the
// key from an honest node leaves most copies on honest nodes (the IPv6
// network unit of the IP limits is a /32: the Sybils count as one network
// in routing tables and in a lookup's candidates), and once the Sybils
// have left, a Get still finds the value.
func TestSuiteSybilKey6(t *testing.T) {
	t.Parallel()
	const sybils = 20
	honestN := bySize(60, 150)
	synctest.Test(t, func(t *testing.T) {
		cl := newSimCluster(t, 48)
		defer cl.close()
		for i := range honestN {
			cl.nodes = append(cl.nodes, cl.serve(honestAddr6(i), Config{}))
		}
		honest := cl.nodes
		cl.joinAtOnce(honest)
		key, err := Digest("sybil-key")
		if err != nil {
			t.Fatal(err)
		}
		var syb []*Node
		for i := range sybils {
			n := cl.serve(sybilAddr6(i), Config{ID: xorID(key, 0, 0, byte(i+1))})
			syb = append(syb, n)
		}
		cl.nodes = append(cl.nodes, syb...)
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		via := make([]netip.AddrPort, len(syb))
		for i := range via {
			via[i] = honest[cl.rng.IntN(len(honest))].Addr()
		}
		parallel(len(syb), 8, func(i int) { syb[i].Bootstrap(ctx, []netip.AddrPort{via[i]}) })
		time.Sleep(time.Minute)
		synctest.Wait()

		setter := honest[len(honest)/2]
		if err := setter.Set(ctx, key, "v"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		honestCopies, sybilCopies := 0, 0
		for _, n := range cl.nodes {
			if _, ok, _ := n.storage.Get(key); !ok || n == setter {
				continue
			}
			if netip.MustParsePrefix("2a05:d000::/32").Contains(n.Addr().Addr()) {
				sybilCopies++
			} else {
				honestCopies++
			}
		}
		t.Logf("sybil key: %d Sybils around one key in 10 /48s of one /32, %d honest IPv6 nodes: a Set left %d copies on honest nodes, %d on Sybils",
			sybils, honestN, honestCopies, sybilCopies)
		if honestCopies < 15 {
			t.Errorf("%d honest copies of %d, want at least 15", honestCopies, honestCopies+sybilCopies)
		}

		closeAll(syb)
		cl.nodes = honest
		getter := honest[len(honest)/3]
		v, found, err := getter.Get(ctx, "sybil-key", GetOptions{SkipLocal: true})
		t.Logf("sybil key: once the Sybils left, a get found %v (%v)", found, err)
		if err != nil || !found || v.String() != "v" {
			t.Errorf("get after the Sybils left = %v, %v, %v", v, found, err)
		}
	})
}
