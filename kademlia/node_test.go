package kademlia

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/rpcudp/go-rpcudp/rpcudp/simnet"
)

// TestTwoNodeSetGet is Python's test_storing: a node bootstrapped from
// another sets a key and both get it.
func TestTwoNodeSetGet(t *testing.T) {
	ctx := dhtCtx(t)
	a := newDHTNode(t, Config{})
	b := newDHTNode(t, Config{})
	if _, err := b.Bootstrap(ctx, []netip.AddrPort{a.Addr()}); err != nil {
		t.Fatal(err)
	}
	if err := b.Set(ctx, "key", "value"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*Node{b, a} {
		v, found, err := n.Get(ctx, "key")
		if err != nil || !found || v.String() != "value" {
			t.Errorf("Get = %v, %v, %v; want value", v, found, err)
		}
	}
	if _, found, err := a.Get(ctx, "missing"); err != nil || found {
		t.Errorf("Get(missing) = %v, %v", found, err)
	}
	// The publisher keeps its copy as the original.
	key, _ := Digest("key")
	if m, ok := metaOf(t, b.storage, key); !ok || !m.Original {
		t.Errorf("publisher's meta %+v, %v", m, ok)
	}
	if m, ok := metaOf(t, a.storage, key); !ok || m.Original {
		t.Errorf("peer's meta %+v, %v", m, ok)
	}
}

// TestDigestLikePython is Python's test_digest.
func TestDigestLikePython(t *testing.T) {
	for _, tt := range []struct {
		key  any
		want string
	}{{1, "1"}, {"another", "another"}, {[]byte("another"), "another"}} {
		got, err := Digest(tt.key)
		if err != nil || got != ID(sha1.Sum([]byte(tt.want))) {
			t.Errorf("Digest(%#v) = %v, %v", tt.key, got, err)
		}
	}
}

func TestBootstrap(t *testing.T) {
	t.Parallel() // it waits for rechecks (verifyGrace): let others run meanwhile
	ctx := dhtCtx(t)
	a := newDHTNode(t, Config{})
	b := newDHTNode(t, Config{})
	if _, err := b.Bootstrap(ctx, []netip.AddrPort{a.Addr()}); err != nil {
		t.Fatal(err)
	}
	// a hands b out once b has answered a ping verifyGrace after it arrived (a
	// contact that has only called a might be a client that has exited).
	for len(a.rt.tab.closestAnswering(b.ID(), 1, nil)) == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("a never hands b out")
		case <-time.After(20 * time.Millisecond):
		}
	}
	tests := []struct {
		name    string
		addrs   func(self *Node) []netip.AddrPort
		wantErr error
		want    []*Node // in the result and the table
	}{
		{"two peers", func(*Node) []netip.AddrPort { return []netip.AddrPort{a.Addr(), b.Addr()} }, nil, []*Node{a, b}},
		{"one peer finds the other", func(*Node) []netip.AddrPort { return []netip.AddrPort{a.Addr()} }, nil, []*Node{a, b}},
		{"dead and alive", func(*Node) []netip.AddrPort { return []netip.AddrPort{deadAddr(t), b.Addr()} }, nil, []*Node{a, b}},
		{"dead only", func(*Node) []netip.AddrPort { return []netip.AddrPort{deadAddr(t)} }, ErrNoPeers, nil},
		{"none", func(*Node) []netip.AddrPort { return nil }, ErrNoPeers, nil},
		{"ourselves", func(n *Node) []netip.AddrPort { return []netip.AddrPort{n.Addr()} }, ErrNoPeers, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newDHTNode(t, Config{RPCTimeout: 200 * time.Millisecond})
			got, err := n.Bootstrap(ctx, tt.addrs(n))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Bootstrap err = %v, want %v", err, tt.wantErr)
			}
			for _, w := range tt.want {
				if !slices.ContainsFunc(got, func(c Contact) bool { return c.ID == w.ID() && c.Addr == w.Addr() }) {
					t.Errorf("result %v lacks %v", got, w.ID())
				}
				if _, ok := n.rt.tab.contains(w.ID()); !ok {
					t.Errorf("table lacks %v", w.ID())
				}
				if _, ok := w.rt.tab.contains(n.ID()); !ok {
					t.Errorf("%v did not add the newcomer", w.ID())
				}
			}
			if tt.wantErr == nil {
				if got := n.BootstrappableNeighbors(); len(got) != len(tt.want) {
					t.Errorf("BootstrappableNeighbors = %v", got)
				}
			}
		})
	}
	n := newDHTNode(t, Config{})
	n.Close()
	if _, err := n.Bootstrap(ctx, []netip.AddrPort{a.Addr()}); !errors.Is(err, ErrNodeClosed) {
		t.Errorf("Bootstrap after Close: %v", err)
	}
}

// TestSetRejectsBadTypesBeforeSending: a value (or key) of a type Python
// cannot hold fails before any datagram leaves.
func TestSetRejectsBadTypesBeforeSending(t *testing.T) {
	ctx := dhtCtx(t)
	nodes := dhtNetwork(t, 2, Config{})
	n := nodes[1]
	x := 1
	for _, tt := range []struct {
		key, value any
		want       error
	}{
		{"k", nil, ErrValueType},
		{"k", struct{}{}, ErrValueType},
		{"k", []int{1}, ErrValueType},
		{"k", map[string]string{}, ErrValueType},
		{"k", &x, ErrValueType},
		{"k", complex(1, 2), ErrValueType},
		{"k", Value{}, ErrValueType},
		{"k", string([]byte{0xff}), ErrValueType},
		{struct{}{}, "v", ErrValueType},
		{nil, "v", ErrValueType},
	} {
		t.Run(fmt.Sprintf("%T/%T", tt.key, tt.value), func(t *testing.T) {
			before := n.Endpoint().Stats().DatagramsOut
			if err := n.Set(ctx, tt.key, tt.value); !errors.Is(err, tt.want) {
				t.Fatalf("Set = %v, want %v", err, tt.want)
			}
			if tt.key == "k" { // a bad value (not key): under a digest too
				if err := n.Set(ctx, RandomID(), tt.value); !errors.Is(err, tt.want) {
					t.Fatalf("Set(ID) = %v, want %v", err, tt.want)
				}
			}
			if after := n.Endpoint().Stats().DatagramsOut; after != before {
				t.Errorf("%d datagrams sent", after-before)
			}
		})
	}
}

// TestSetValueSizeLimit: the largest value that fits a store request goes
// through; one byte more is refused before anything is sent.
func TestSetValueSizeLimit(t *testing.T) {
	ctx := dhtCtx(t)
	nodes := dhtNetwork(t, 3, Config{})
	big := make([]byte, MaxValueSize-3) // bin16 header: 3 bytes
	for i := range big {
		big[i] = byte(i)
	}
	if err := nodes[0].Set(ctx, "big", big); err != nil {
		t.Fatal(err)
	}
	key, _ := Digest("big")
	if err := nodes[2].storage.Delete(key); err != nil {
		t.Fatal(err)
	}
	v, found, err := nodes[2].Get(ctx, "big")
	if got, _ := v.Interface(); err != nil || !found || !reflect.DeepEqual(got, big) {
		t.Fatalf("Get(big) = %d bytes, %v, %v", v.Len(), found, err)
	}
	before := nodes[0].Endpoint().Stats().DatagramsOut
	if err := nodes[0].Set(ctx, "bigger", append(big, 0)); !errors.Is(err, rpcudp.ErrMessageTooLarge) {
		t.Fatalf("Set(too big) = %v", err)
	}
	if nodes[0].Endpoint().Stats().DatagramsOut != before {
		t.Error("datagrams sent for a value too large")
	}
}

// TestSetGetFailures: Set and Get say so when nobody can take or give the
// value (Python crashes or returns False/None).
func TestSetGetFailures(t *testing.T) {
	ctx := dhtCtx(t)
	t.Run("no peers", func(t *testing.T) {
		n := newDHTNode(t, Config{})
		if err := n.Set(ctx, "k", "v"); !errors.Is(err, ErrNoPeers) {
			t.Errorf("Set = %v", err)
		}
		if _, _, err := n.Get(ctx, "k"); !errors.Is(err, ErrNoPeers) {
			t.Errorf("Get = %v", err)
		}
		if n.storage.Len() != 0 {
			t.Error("stored locally")
		}
	})
	t.Run("all peers dead", func(t *testing.T) {
		n := newDHTNode(t, Config{RPCTimeout: 200 * time.Millisecond})
		for range 5 {
			n.rt.tab.addFound(Contact{ID: RandomID(), Addr: deadAddr(t)})
		}
		if err := n.Set(ctx, "k", "v"); !errors.Is(err, ErrNoPeers) {
			t.Errorf("Set = %v", err)
		}
		if _, _, err := n.Get(ctx, "k"); !errors.Is(err, ErrNoPeers) {
			t.Errorf("Get = %v", err)
		}
		if n.storage.Len() != 0 {
			t.Error("stored locally")
		}
	})
	t.Run("every store fails", func(t *testing.T) {
		n := newDHTNode(t, Config{})
		for range 3 {
			p := newFakePeer(t, RandomID(), map[string]rpcudp.HandlerFunc{
				methodFindNode: answer([]any{}),
				methodStore:    func(context.Context, *rpcudp.Request) (any, error) { return nil, ErrStorageFull },
			})
			n.rt.tab.addFound(p.contact())
		}
		if err := n.Set(ctx, "k", "v"); !errors.Is(err, ErrStoreFailed) {
			t.Errorf("Set = %v", err)
		}
	})
	t.Run("closed", func(t *testing.T) {
		n := newDHTNode(t, Config{Storage: newMemoryStorage(StorageConfig{})})
		n.Close()
		if err := n.Set(ctx, "k", "v"); !errors.Is(err, ErrNodeClosed) {
			t.Errorf("Set = %v", err)
		}
		if _, _, err := n.Get(ctx, "k"); !errors.Is(err, ErrNodeClosed) {
			t.Errorf("Get = %v", err)
		}
	})
}

// TestValueTypesRoundTrip sets every Python value type on one node and
// gets it on the others, from their storage and through a value lookup.
func TestValueTypesRoundTrip(t *testing.T) {
	ctx := dhtCtx(t)
	nodes := dhtNetwork(t, 3, Config{})
	tests := []struct {
		name  string
		value any
		want  any // Value.Interface()
	}{
		{"string", "hello", "hello"},
		{"empty string", "", ""},
		{"unicode", "héllo ☃", "héllo ☃"},
		{"bytes", []byte{0, 1, 0xfe, 0xff}, []byte{0, 1, 0xfe, 0xff}},
		{"empty bytes", []byte{}, []byte{}},
		{"int", 42, int64(42)},
		{"negative int", -7, int64(-7)},
		{"big int", int64(1<<40 + 3), int64(1<<40 + 3)},
		{"min int64", int64(math.MinInt64), int64(math.MinInt64)},
		{"max uint64", uint64(math.MaxUint64), uint64(math.MaxUint64)},
		{"float", 3.25, 3.25},
		{"float inf", math.Inf(-1), math.Inf(-1)},
		{"bool true", true, true},
		{"bool false", false, false},
		{"Value", dhtValue(t, "pre-encoded"), "pre-encoded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := "type-" + tt.name
			if err := nodes[0].Set(ctx, key, tt.value); err != nil {
				t.Fatal(err)
			}
			check := func(how string, v Value, found bool, err error) {
				t.Helper()
				if err != nil || !found {
					t.Fatalf("%s: found %v, err %v", how, found, err)
				}
				got, err := v.Interface()
				if err != nil || !reflect.DeepEqual(got, tt.want) {
					t.Errorf("%s: got %#v (%v), want %#v", how, got, err, tt.want)
				}
			}
			v, found, err := nodes[1].Get(ctx, key)
			check("stored", v, found, err)
			dkey, _ := Digest(key)
			if err := nodes[2].storage.Delete(dkey); err != nil {
				t.Fatal(err)
			}
			v, found, err = nodes[2].Get(ctx, key)
			check("looked up", v, found, err)
		})
	}
}

// TestKeyHandOffToNewNode: a node that joins next to a key is sent the key
// by the closest node holding it (paper section 2.5).
func TestKeyHandOffToNewNode(t *testing.T) {
	t.Parallel() // it waits for rechecks (verifyGrace): let others run meanwhile
	ctx := dhtCtx(t)
	nodes := dhtNetwork(t, 3, Config{})
	waitHandedOut(t, ctx, nodes)
	if err := nodes[1].Set(ctx, "handed-off", "welcome"); err != nil {
		t.Fatal(err)
	}
	key, _ := Digest("handed-off")
	st := &notifyStorage{Storage: newMemoryStorage(StorageConfig{}), puts: make(chan ID, 16)}
	defer st.Close()
	c := newDHTNode(t, Config{ID: xorID(key, 1), Storage: st})
	if _, err := c.Bootstrap(ctx, []netip.AddrPort{nodes[0].Addr()}); err != nil {
		t.Fatal(err)
	}
	for waitFor(t, ctx, st.puts, "the hand-off store") != key {
	}
	v, found, err := st.Get(key)
	if err != nil || !found || v.String() != "welcome" {
		t.Errorf("handed-off value %v, %v, %v", v, found, err)
	}
}

// TestShouldHandOff checks the welcome rule on a hand-made table.
func TestShouldHandOff(t *testing.T) {
	key := RandomID()
	far := key
	far[0] ^= 0x80
	mid := key
	mid[0] ^= 0x10
	tests := []struct {
		name     string
		self     ID
		table    []ID
		newcomer ID
		want     bool
	}{
		{"empty table", far, nil, xorID(key, 1), true},
		{"we are closest, newcomer close", mid, []ID{far}, xorID(key, 1), true},
		{"we are not closest", far, []ID{mid}, xorID(key, 1), false},
		{"newcomer farther than a full K", xorID(key, 1), []ID{xorID(key, 2), xorID(key, 3)}, far, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := offlineNode(t, Config{ID: tt.self, K: 2})
			for i, id := range tt.table {
				n.rt.tab.addFound(Contact{ID: id, Addr: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(i+1))})
			}
			if got := n.shouldHandOff(Contact{ID: tt.newcomer}, key); got != tt.want {
				t.Errorf("shouldHandOff = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestDeadHeadIsReplaced: a newcomer for a full bucket gets the head
// pinged; a head that does not answer is replaced by the newcomer.
func TestDeadHeadIsReplaced(t *testing.T) {
	const k = 2
	self := ID{0x01} // contacts starting 0b10000 share a bucket that cannot split
	base := ID{0x80}
	tasks := make(chan string, 16)
	n, err := listen(dhtCtx(t), "127.0.0.1:0", Config{ID: self, K: k, RPCTimeout: 200 * time.Millisecond},
		&hooks{onTask: func(what string) { tasks <- what }})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	dead := []Contact{{ID: xorID(base, 1), Addr: deadAddr(t)}, {ID: xorID(base, 2), Addr: deadAddr(t)}}
	for _, c := range dead {
		n.rt.tab.addFound(c)
	}
	p := newFakePeer(t, xorID(base, 3), nil)
	if _, err := p.ep.Call(dhtCtx(t), n.Addr(), methodPing, p.id[:]); err != nil {
		t.Fatal(err)
	}
	if _, ok := n.rt.tab.contains(p.id); ok {
		t.Fatal("newcomer added to a full bucket")
	}
	ctx := dhtCtx(t)
	for waitFor(t, ctx, tasks, "the head ping") != "ping head" {
	}
	if _, ok := n.rt.tab.contains(dead[0].ID); ok {
		t.Error("dead head still in the table")
	}
	if _, ok := n.rt.tab.contains(p.id); !ok {
		t.Error("newcomer did not replace the dead head")
	}
}

func TestNodeLifecycle(t *testing.T) {
	ctx := dhtCtx(t)
	t.Run("close twice, use after close", func(t *testing.T) {
		n := newDHTNode(t, Config{})
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
		if err := n.Set(ctx, "k", "v"); !errors.Is(err, ErrNodeClosed) {
			t.Errorf("Set after Close: %v", err)
		}
		if _, _, err := n.storage.Get(ID{}); !errors.Is(err, ErrStorageClosed) {
			t.Errorf("own storage not closed: %v", err)
		}
	})
	t.Run("given storage", func(t *testing.T) {
		st := newMemoryStorage(StorageConfig{})
		n := newDHTNode(t, Config{Storage: st})
		if !n.Addr().IsValid() || n.Endpoint() == nil {
			t.Error("no address or endpoint on a running node")
		}
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
		if err := st.Put(ID{}, dhtValue(t, 1), PutOptions{}); err != nil {
			t.Errorf("given storage closed by the node: %v", err)
		}
	})
	t.Run("bad listen address", func(t *testing.T) {
		if n, err := Listen(ctx, "256.0.0.1:0", Config{}); err == nil {
			n.Close()
			t.Error("Listen on a bad address succeeded")
		}
	})
}

func TestConfigDefaults(t *testing.T) {
	n, err := Listen(context.Background(), "127.0.0.1:0", Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	c := n.cfg
	if c.K != 20 || c.Alpha != 3 || c.B != 5 || c.MaxFailures != 5 || c.RPCTimeout != 5*time.Second ||
		c.RefreshInterval != time.Hour || c.OriginalRepublishInterval != 24*time.Hour || c.Now == nil || c.Logger == nil {
		t.Errorf("defaults: %+v", c)
	}
	if n.ID().IsZero() {
		t.Error("zero id")
	}
	if _, ok := n.storage.(*memoryStorage); !ok {
		t.Errorf("default storage %T", n.storage)
	}
	for _, bad := range []Config{{K: -1}, {Alpha: -1}, {B: -1}, {MaxFailures: -1}, {RPCTimeout: -1}, {RefreshInterval: -1}, {OriginalRepublishInterval: -1}} {
		if n, err := Listen(context.Background(), "127.0.0.1:0", bad); err == nil {
			n.Close()
			t.Errorf("Listen(%+v) succeeded", bad)
		}
	}
}

// TestIPv6 runs two nodes on [::1].
func TestIPv6(t *testing.T) {
	probe, err := Listen(context.Background(), "[::1]:0", Config{})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	probe.Close()
	ctx := dhtCtx(t)
	a := newDHTNodeOn(t, Config{}, "[::1]:0")
	b := newDHTNodeOn(t, Config{}, "[::1]:0")
	if _, err := b.Bootstrap(ctx, []netip.AddrPort{a.Addr()}); err != nil {
		t.Fatal(err)
	}
	if err := a.Set(ctx, "six", 6); err != nil {
		t.Fatal(err)
	}
	if v, found, err := b.Get(ctx, "six"); err != nil || !found || v.String() != "6" {
		t.Errorf("Get = %v, %v, %v", v, found, err)
	}
	if got, err := b.Stun(ctx, a.Addr()); err != nil || got != b.Addr() {
		t.Errorf("Stun = %v, %v; want %v", got, err, b.Addr())
	}
}

// TestServeSimnet runs a small network on the simulated network.
func TestServeSimnet(t *testing.T) {
	ctx := dhtCtx(t)
	net := simnet.New(simnet.Config{Seed: 1, Latency: time.Millisecond})
	defer net.Close()
	var nodes []*Node
	for i := range 8 {
		conn, err := net.Listen(netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, byte(i + 1)}), 8468))
		if err != nil {
			t.Fatal(err)
		}
		n, err := Serve(conn, Config{RPCTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		nodes = append(nodes, n)
	}
	for _, n := range nodes[1:] {
		if _, err := n.Bootstrap(ctx, []netip.AddrPort{nodes[0].Addr()}); err != nil {
			t.Fatal(err)
		}
	}
	if err := nodes[3].Set(ctx, "sim", "ulated"); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if v, found, err := n.Get(ctx, "sim"); err != nil || !found || v.String() != "ulated" {
			t.Errorf("%v: Get = %v, %v, %v", n.Addr(), v, found, err)
		}
	}
}

// waitHandedOut waits until every node hands out every other: a node
// hands out a contact that has only called it once it has answered a ping
// verifyGrace after it arrived (issue 9, finding 1).
func waitHandedOut(t *testing.T, ctx context.Context, nodes []*Node) {
	t.Helper()
	for _, n := range nodes {
		for _, o := range nodes {
			for n != o && len(n.rt.tab.closestAnswering(o.ID(), 1, nil)) == 0 {
				select {
				case <-ctx.Done():
					t.Fatalf("%v never hands out %v", n.ID(), o.ID())
				case <-time.After(20 * time.Millisecond):
				}
			}
		}
	}
}
