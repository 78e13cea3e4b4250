package kademlia

import (
	"context"
	"crypto/sha1"
	"net/netip"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/rpcudp/go-rpcudp/rpcudp/simnet"
	"github.com/rpcudp/go-rpcudp/rpcudp/wire"
)

// handOffFlood is what ten pings with fresh ids drew from a node holding
// many values.
type handOffFlood struct {
	stores, storeBytes, pingBytes int64
	elapsed                       time.Duration
	metrics                       HandOffMetrics
}

func (f handOffFlood) amplification() float64 { return float64(f.storeBytes) / float64(f.pingBytes) }

// runHandOffFlood reproduces issue 9's finding 5 on simnet, in virtual
// time: a node holding `values` values of 1 KiB receives one ping from
// each of ten peers with fresh ids (each answers pings with its id, so it
// passes the proof a hand-off now asks for), and the peers count the store
// requests the node sends them.
func runHandOffFlood(t *testing.T, cfg Config, values int) (f handOffFlood) {
	synctest.Test(t, func(t *testing.T) {
		net := simnet.New(simnet.Config{Seed: 5, Latency: time.Millisecond})
		defer net.Close()
		st := newMemoryStorage(StorageConfig{})
		defer st.Close()
		blob := make([]byte, 1000)
		for i := range values {
			blob[0], blob[1] = byte(i), byte(i>>8)
			if err := st.Put(RandomID(), dhtValue(t, blob), PutOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		welcomed := make(chan struct{}, 16)
		cfg.Storage = st
		h := &hooks{probeOff: true, onTask: func(what string) {
			if what == "welcome" {
				welcomed <- struct{}{}
			}
		}}
		conn, err := net.Listen(netip.MustParseAddrPort("10.200.0.1:8468"))
		if err != nil {
			t.Fatal(err)
		}
		n, err := serve(conn, cfg, h)
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		var stores, storeBytes atomic.Int64
		peers := make([]*rpcudp.Endpoint, 10)
		for i := range peers {
			peers[i] = floodPeer(t, net, i, &stores, &storeBytes)
			defer peers[i].Close()
		}
		start := time.Now()
		for i, ep := range peers {
			id := peerID(i)
			if _, err := ep.Call(context.Background(), n.Addr(), methodPing, id[:]); err != nil {
				t.Fatal(err)
			}
			f.pingBytes += int64(wire.HeaderLen + 1 + strSize(len(methodPing)) + 1 + binSize(IDLen))
		}
		for range peers {
			<-welcomed
		}
		f.elapsed = time.Since(start)
		f.stores, f.storeBytes, f.metrics = stores.Load(), storeBytes.Load(), n.Metrics().HandOff
	})
	return f
}

// peerID is flood peer i's id: fresh, derived from i.
func peerID(i int) ID { return ID(sha1.Sum([]byte{'f', byte(i)})) }

// floodPeer is peer i of a hand-off flood: it answers pings with its id
// and counts the stores it receives.
func floodPeer(t *testing.T, net *simnet.Network, i int, stores, bytes *atomic.Int64) *rpcudp.Endpoint {
	conn, err := net.Listen(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i + 1), 0, 1}), 8468))
	if err != nil {
		t.Fatal(err)
	}
	ep := rpcudp.New(conn)
	id := peerID(i)
	ep.Handle(methodPing, rpcudp.HandlerFunc(func(context.Context, *rpcudp.Request) (any, error) { return id[:], nil }))
	ep.Handle(methodStore, rpcudp.HandlerFunc(func(_ context.Context, req *rpcudp.Request) (any, error) {
		args, err := req.RawArgs()
		if err != nil || len(args) != 3 {
			return nil, rpcudp.ErrBadArgs
		}
		v, err := valueFromMsgpack(args[2])
		if err != nil {
			return nil, err
		}
		stores.Add(1)
		bytes.Add(int64(storeRequestSize(v)))
		return true, nil
	}))
	return ep
}

// TestHandOffFloodBounded: ten pings with fresh ids against a node holding
// many values (issue 9, finding 5: 27 stores, 231 times the traffic
// received) draw at most Config.HandOffKeys stores per newcomer and at
// most the hand-off budget's bucket plus its rate over the time taken.
// Without bounds (NoLimit), the same pings draw thousands of stores.
func TestHandOffFloodBounded(t *testing.T) {
	values := bySize(2000, 20000)
	unbounded := runHandOffFlood(t, Config{HandOffKeys: NoLimit, HandOffBytesPerSecond: NoLimit}, values)
	t.Logf("hand-off flood, %d values of 1 KiB, 10 pings with fresh ids (%d bytes):", values, unbounded.pingBytes)
	t.Logf("  unbounded:             %5d stores, %9d bytes, amplification %7.0fx", unbounded.stores, unbounded.storeBytes, unbounded.amplification())
	if unbounded.stores < int64(values) {
		t.Errorf("unbounded: %d stores, want at least %d (the finding does not reproduce)", unbounded.stores, values)
	}
	for _, tt := range []struct {
		name string
		cfg  Config
	}{
		{"defaults", Config{}},
		{"16 keys, 8 KiB/s", Config{HandOffKeys: 16, HandOffBytesPerSecond: 8 << 10}},
		{"4 keys, no byte limit", Config{HandOffKeys: 4, HandOffBytesPerSecond: NoLimit}},
	} {
		f := runHandOffFlood(t, tt.cfg, values)
		c, _ := tt.cfg.withDefaults()
		t.Logf("  %-22s %5d stores, %9d bytes, amplification %7.0fx (skipped %d keys, %d newcomers throttled, took %v virtual)",
			tt.name+":", f.stores, f.storeBytes, f.amplification(), f.metrics.Skipped, f.metrics.Throttled, f.elapsed)
		if maxKeys := int64(10 * c.HandOffKeys); c.HandOffKeys != NoLimit && f.stores > maxKeys {
			t.Errorf("%s: %d stores, want at most %d (10 newcomers × HandOffKeys)", tt.name, f.stores, maxKeys)
		}
		if c.HandOffBytesPerSecond != NoLimit {
			rate := float64(c.HandOffBytesPerSecond)
			bound := int64(max(rate, maxDatagram) + rate*f.elapsed.Seconds())
			if f.storeBytes > bound {
				t.Errorf("%s: %d store bytes in %v, want at most %d (bucket + rate × time)", tt.name, f.storeBytes, f.elapsed, bound)
			}
		}
		if f.stores == 0 || f.metrics.Keys != uint64(f.stores) {
			t.Errorf("%s: %d stores, Metrics().HandOff.Keys = %d", tt.name, f.stores, f.metrics.Keys)
		}
	}
}

// TestHandOffNeedsProof: a newcomer that does not answer a ping from the
// address it claims (a spoofed one) is handed no key: one ping, not the
// stores, goes to that address.
func TestHandOffNeedsProof(t *testing.T) {
	n := newDHTNode(t, Config{}, &hooks{probeOff: true})
	if err := n.storage.Put(RandomID(), dhtValue(t, "v"), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	var stores atomic.Int64
	liar := newFakePeer(t, ID{1}, map[string]rpcudp.HandlerFunc{
		methodPing: answer(ID{2}.Bytes()), // claims ID{1} in its requests, answers as ID{2}
		methodStore: func(context.Context, *rpcudp.Request) (any, error) {
			stores.Add(1)
			return true, nil
		},
	})
	n.handOff(dhtCtx(t), liar.contact())
	m := n.Metrics().HandOff
	if stores.Load() != 0 || m.Unproved != 1 || m.Skipped != 1 {
		t.Errorf("stores %d, metrics %+v; want no store, one unproved newcomer", stores.Load(), m)
	}
}
