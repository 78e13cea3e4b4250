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
	"github.com/rpcudp/go-rpcudp/rpcudp/wire"
	"github.com/vmihailenco/msgpack/v5"
)

// spoofedStore is a store datagram claiming sender.
func spoofedStore(rng *rand.Rand, sender, key ID, v any) []byte {
	var id [20]byte
	for i := range id {
		id[i] = byte(rng.Uint32())
	}
	body, _ := msgpack.Marshal([]any{methodStore, []any{sender[:], key[:], v}})
	return append(append([]byte{wire.TypeRequest}, id[:]...), body...)
}

// TestSuiteStoreFlood (issue 18, finding 5): a stranger storing 8 KB
// values as fast as it can, from one socket that answers pings, holds at
// most its network's share of a node's storage (a 64th), so that a Set
// from another network still succeeds; and stores from spoofed addresses
// store nothing. Without the quota and the proof, the stranger fills the
// storage and the Set fails with "storage full".
func TestSuiteStoreFlood(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(18, 5))
		net := simnet.New(simnet.Config{Seed: 18, Latency: 5 * time.Millisecond, Quantum: time.Millisecond})
		defer net.Close()
		const maxBytes = 1 << 20
		st := newMemoryStorage(StorageConfig{MaxBytes: maxBytes})
		defer st.Close()
		serve := func(addr string, cfg Config) *Node {
			conn, err := net.Listen(netip.MustParseAddrPort(addr))
			if err != nil {
				t.Fatal(err)
			}
			cfg.RPCTimeout = time.Second
			n, err := Serve(conn, cfg)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		victim := serve("10.1.0.1:8468", Config{Storage: st})
		defer victim.Close()
		writer := serve("10.2.0.1:8468", Config{})
		defer writer.Close()
		if _, err := writer.Bootstrap(context.Background(), []netip.AddrPort{victim.Addr()}); err != nil {
			t.Fatal(err)
		}

		// Spoofed stores, from addresses nobody listens at.
		spoofed := make([]ID, 100)
		for i := range spoofed {
			spoofed[i] = nearID(rng, ID{}, 0)
			from := netip.AddrPortFrom(netip.AddrFrom4([4]byte{77, 7, byte(i), 1}), 4000)
			net.Inject(from, victim.Addr(), spoofedStore(rng, nearID(rng, ID{}, 0), spoofed[i], "spoofed"))
		}

		// The stranger: one socket, answering pings with the id it claims.
		conn, err := net.Listen(netip.MustParseAddrPort("66.6.6.1:4000"))
		if err != nil {
			t.Fatal(err)
		}
		ep := rpcudp.New(conn, rpcudp.WithTimeout(time.Second))
		defer ep.Close()
		evilID := nearID(rng, ID{}, 0)
		ep.Handle(methodPing, answer(evilID[:]))
		const stores = 300
		keys := make([]ID, stores)
		for i := range keys {
			keys[i] = nearID(rng, ID{}, 0)
		}
		var accepted, refused atomic.Int64
		blob := make([]byte, 8100)
		parallel(stores, 16, func(i int) {
			if _, err := ep.Call(context.Background(), victim.Addr(), methodStore, evilID[:], keys[i][:], blob); err == nil {
				accepted.Add(1)
			} else {
				refused.Add(1)
			}
		})
		time.Sleep(5 * time.Second)
		synctest.Wait()

		setErr := writer.Set(context.Background(), "legit", blob)
		var held int64
		for _, k := range keys {
			if v, ok, _ := st.Get(k); ok {
				held += itemSize(v)
			}
		}
		heldSpoofed := 0
		for _, k := range spoofed {
			if _, ok, _ := st.Get(k); ok {
				heldSpoofed++
			}
		}
		m := victim.Metrics()
		share := max(int64(IDLen+MaxValueSize), maxBytes/64)
		t.Logf("store flood: %d stores of 8,100 B from one socket: %d accepted, %d refused; it holds %d bytes (its share: %d of %d); storage %d bytes",
			stores, accepted.Load(), refused.Load(), held, share, maxBytes, m.StoredBytes)
		t.Logf("store flood: %d spoofed stores: %d held; refused %+v; a Set from another network: %v", len(spoofed), heldSpoofed, m.Refused, setErr)
		if held > share {
			t.Errorf("the stranger holds %d bytes, over its share of %d", held, share)
		}
		if setErr != nil {
			t.Errorf("Set from another network: %v", setErr)
		}
		if heldSpoofed > 0 {
			t.Errorf("%d spoofed stores were stored", heldSpoofed)
		}
	})
}
