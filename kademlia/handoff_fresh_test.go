package kademlia

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/rpcudp/go-rpcudp/rpcudp/simnet"
)

// passCountingStorage counts the passes over a Storage's items.
type passCountingStorage struct {
	Storage
	passes atomic.Int64
}

func (s *passCountingStorage) Iterate(fn func(ID, Value, Meta) bool) error {
	s.passes.Add(1)
	return s.Storage.Iterate(fn)
}

// TestFreshIDsDoNotScanStorage (issue 18, finding 3): at a node holding
// keys near its id, with a healthy routing table, pings with fresh ids
// from spoofed addresses and from peers that answer (random ids) cost no
// pass over the storage and hand off nothing; a peer that answers from
// right next to the node's id is still handed keys.
func TestFreshIDsDoNotScanStorage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(18, 33))
		net := simnet.New(simnet.Config{Seed: 18, Latency: time.Millisecond})
		defer net.Close()
		self := nearID(rng, ID{}, 0)
		mem := newMemoryStorage(StorageConfig{})
		defer mem.Close()
		for i := range 2000 {
			if err := mem.Put(nearID(rng, self, 24), dhtValue(t, i), PutOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		st := &passCountingStorage{Storage: mem}
		conn, err := net.Listen(netip.MustParseAddrPort("10.200.0.1:8468"))
		if err != nil {
			t.Fatal(err)
		}
		// (RPCTimeout: the revalidation pings to the spoofed addresses,
		// 8 at a time, end sooner.)
		n, err := Serve(conn, Config{ID: self, Storage: st, RPCTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		for depth := range 10 { // K contacts at each depth down to depth 9
			for range defaultK {
				id := nearID(rng, self, depth)
				id[depth/8] ^= 0x80 >> (depth % 8)
				n.rt.tab.addFound(Contact{ID: id, Addr: simAddr(n.rt.tab.len())})
			}
		}
		var stores atomic.Int64
		pinger := func(i int, id ID, answer bool) {
			addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{172, 16 + byte(i>>8), byte(i), 1}), 8468)
			if answer {
				c, err := net.Listen(addr)
				if err != nil {
					t.Fatal(err)
				}
				ep := rpcudp.New(c)
				t.Cleanup(func() { ep.Close() })
				ep.Handle(methodPing, rpcudp.HandlerFunc(func(context.Context, *rpcudp.Request) (any, error) { return id[:], nil }))
				ep.Handle(methodStore, rpcudp.HandlerFunc(func(context.Context, *rpcudp.Request) (any, error) {
					stores.Add(1)
					return true, nil
				}))
			}
			net.Inject(addr, n.Addr(), spoofedPing(rng, id))
		}
		for i := range 100 {
			pinger(i, nearID(rng, self, 0), false)
			pinger(100+i, nearID(rng, self, 0), true)
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(30 * time.Second) // verification pings and hand-offs
		synctest.Wait()
		if p, m := st.passes.Load(), n.Metrics().HandOff; p != 0 || m.Newcomers != 0 || stores.Load() != 0 {
			t.Errorf("200 fresh ids: %d passes over the storage, %d stores, hand-off metrics %+v; want none", p, stores.Load(), m)
		}
		pinger(300, nearID(rng, self, 22), true) // one of the node's closest contacts now
		time.Sleep(30 * time.Second)
		synctest.Wait()
		if m := n.Metrics().HandOff; m.Newcomers != 1 || stores.Load() == 0 {
			t.Errorf("a newcomer next to the node's id: %d stores, hand-off metrics %+v; want it handed keys", stores.Load(), m)
		}
		t.Logf("%d passes over the storage, %d keys handed to the newcomer next to the node's id", st.passes.Load(), stores.Load())
	})
}
