package kademlia

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/rpcudp/go-rpcudp/rpcudp/wire"
	"github.com/vmihailenco/msgpack/v5"
)

// triple is a contact as a find_node answer lists it.
func triple(c Contact) []any { return contactTriple(c) }

// TestLookupSurvivesLiarsAndDeadPeers runs value and node lookups through
// a table full of peers that answer garbage, answers of the wrong shape,
// themselves, nonexistent contacts, or nothing at all: the lookups still
// find the honest nodes and the value, and every misbehaving peer is
// counted as failed.
func TestLookupSurvivesLiarsAndDeadPeers(t *testing.T) {
	ctx := dhtCtx(t)
	honest := dhtNetwork(t, 5, Config{})
	key, _ := Digest("liar-key")
	if err := honest[0].Set(ctx, "liar-key", "truth"); err != nil {
		t.Fatal(err)
	}
	var lookups []LookupStats
	var mu sync.Mutex
	q, err := listen(ctx, "127.0.0.1:0", Config{K: 32, RPCTimeout: 300 * time.Millisecond, OnLookup: func(s LookupStats) {
		mu.Lock()
		lookups = append(lookups, s)
		mu.Unlock()
	}}, &hooks{probeOff: true}) // probes off: keep the failure counts where the lookups left them
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	for _, h := range honest {
		q.rt.tab.addFound(Contact{ID: h.ID(), Addr: h.Addr()})
	}

	// Ids near the key, so that the liars and the dead are asked first.
	next := byte(0)
	nearKey := func() ID { next++; return xorID(key, next, 0x5a) }
	deadNear := func() Contact { return Contact{ID: nearKey(), Addr: deadAddr(t)} }
	raw := func(b ...byte) msgpack.RawMessage { return msgpack.RawMessage(b) }

	liars := []struct {
		name      string
		answer    func(self Contact) any
		wellShape bool // the answer is a valid (if useless) contact list
	}{
		{"garbage string", func(Contact) any { return "garbage" }, false},
		{"nil", func(Contact) any { return nil }, false},
		{"int", func(Contact) any { return 42 }, false},
		{"pairs", func(Contact) any { return []any{[]any{1, 2}} }, false},
		{"flat triple", func(self Contact) any { return triple(self) }, false},
		{"id as str", func(self Contact) any {
			// Pre-encoded: rpcudp itself never sends a str that is not
			// valid UTF-8, but a buggy peer may.
			b := wire.AppendArrayLen(nil, 1)
			b = wire.AppendArrayLen(b, 3)
			b = wire.AppendStr(b, string(self.ID[:]))
			b = wire.AppendStr(b, "127.0.0.1")
			return msgpack.RawMessage(wire.AppendInt(b, 5))
		}, false},
		{"map without value", func(Contact) any { return map[string]any{"x": 1} }, false},
		{"list value", func(Contact) any { return map[string]any{"value": []int{1, 2}} }, false},
		{"trailing bytes", func(Contact) any { return raw(0x90, 0x90) }, false},
		{"truncated", func(Contact) any { return raw(0x91, 0x93, 0xc4, 0x14, 1, 2) }, false},
		{"error reply", func(Contact) any { return errors.New("no") }, false},
		{"bad contacts", func(self Contact) any {
			good := nearKey()
			return []any{
				[]any{good[:19], "127.0.0.1", 5},
				[]any{good[:], "999.1.1.1", 5},
				[]any{good[:], "127.0.0.1", 0},
				[]any{good[:], "127.0.0.1", 70000},
				[]any{q.id[:], "127.0.0.1", int(q.Addr().Port())},
			}
		}, true},
		{"itself", func(self Contact) any { return []any{triple(self), triple(self), triple(self)} }, true},
		{"nonexistent contacts", func(Contact) any {
			var out []any
			for range 3 {
				out = append(out, triple(deadNear()))
			}
			return out
		}, true},
	}
	type liarPeer struct {
		c         Contact
		name      string
		wellShape bool
		errReply  bool
	}
	var peers []liarPeer
	for _, l := range liars {
		p := newFakePeer(t, nearKey(), nil)
		self := p.contact()
		reply := l.answer(self)
		h := rpcudp.HandlerFunc(func(context.Context, *rpcudp.Request) (any, error) {
			if err, ok := reply.(error); ok {
				return nil, err
			}
			return reply, nil
		})
		p.ep.Handle(methodFindNode, h)
		p.ep.Handle(methodFindValue, h)
		q.rt.tab.addFound(self)
		peers = append(peers, liarPeer{self, l.name, l.wellShape, l.name == "error reply"})
	}
	var dead []Contact
	for range 2 {
		c := deadNear()
		dead = append(dead, c)
		q.rt.tab.addFound(c)
	}

	v, found, err := q.Get(ctx, "liar-key")
	if err != nil || !found || v.String() != "truth" {
		t.Fatalf("Get = %v, %v, %v; want truth", v, found, err)
	}
	res, err := q.lookup(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range honest {
		if !slices.ContainsFunc(res.closest, func(c Contact) bool { return c.ID == h.ID() }) {
			t.Errorf("honest node %v missing from the lookup result %v", h.ID(), res.closest)
		}
	}
	for _, p := range peers {
		in := slices.ContainsFunc(res.closest, func(c Contact) bool { return c.ID == p.c.ID })
		if in != p.wellShape {
			t.Errorf("liar %q in result = %v, want %v", p.name, in, p.wellShape)
		}
		f := tableFailures(q.tab(), p.c.ID)
		switch {
		case p.wellShape || p.errReply:
			if f != 0 {
				t.Errorf("liar %q (answered) has %d failures", p.name, f)
			}
		case f == 0:
			t.Errorf("liar %q has no failure counted", p.name)
		}
	}
	for _, c := range dead {
		if f := tableFailures(q.tab(), c.ID); f < 1 {
			t.Errorf("dead peer has %d failures", f)
		}
		if slices.ContainsFunc(res.closest, func(x Contact) bool { return x.ID == c.ID }) {
			t.Errorf("dead peer %v in result", c)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lookups) != 2 || lookups[0].Kind != "value" || !lookups[0].Found || lookups[1].Kind != "node" || lookups[0].Target != key {
		t.Errorf("lookup stats %+v", lookups)
	}
	// The second lookup asks every candidate but those that just failed
	// the first one (suspects).
	answering := len(honest)
	for _, p := range peers {
		if p.wellShape || p.errReply {
			answering++
		}
	}
	if lookups[1].RPCs < answering {
		t.Errorf("node lookup sent %d RPCs, want every answering candidate asked (%d)", lookups[1].RPCs, answering)
	}
}

// TestLookupHonoursContext: a lookup ends when its context does, without
// counting the unanswered peers as failed.
func TestLookupHonoursContext(t *testing.T) {
	q := newDHTNode(t, Config{RPCTimeout: 10 * time.Second})
	var dead []Contact
	for range 4 {
		c := Contact{ID: RandomID(), Addr: deadAddr(t)}
		dead = append(dead, c)
		q.rt.tab.addFound(c)
	}
	ctx, cancel := context.WithTimeout(dhtCtx(t), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := q.Get(ctx, "anything")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("lookup took %v after its context ended", d)
	}
	for _, c := range dead {
		if f := tableFailures(q.tab(), c.ID); f != 0 {
			t.Errorf("%v has %d failures; the context, not the peer, ended the call", c, f)
		}
	}
}

// TestLookupEndsOnClose: closing the node ends its running lookups.
func TestLookupEndsOnClose(t *testing.T) {
	q, err := Listen(dhtCtx(t), "127.0.0.1:0", Config{RPCTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	asked := make(chan struct{}, 1)
	release := make(chan struct{})
	p := newFakePeer(t, RandomID(), map[string]rpcudp.HandlerFunc{
		methodFindValue: func(ctx context.Context, _ *rpcudp.Request) (any, error) {
			asked <- struct{}{}
			<-release
			return []any{}, nil
		},
	})
	t.Cleanup(func() { close(release) }) // runs before the peer closes
	q.rt.tab.addFound(p.contact())
	errc := make(chan error, 1)
	go func() {
		_, _, err := q.Get(context.Background(), "k")
		errc <- err
	}()
	ctx := dhtCtx(t)
	waitFor(t, ctx, asked, "the lookup's request")
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(t, ctx, errc, "Get to return"); !errors.Is(err, ErrNodeClosed) {
		t.Errorf("Get after Close: %v, want ErrNodeClosed", err)
	}
}

// TestLookupKeepsAlphaInFlight: a slow peer does not hold the lookup up
// (no lockstep rounds): the closest peer answers only once every other
// peer has been asked, which a lookup waiting for the slowest peer of a
// round would never do before the slow peer's timeout.
func TestLookupKeepsAlphaInFlight(t *testing.T) {
	const others = 9
	q := newDHTNode(t, Config{RPCTimeout: 10 * time.Second})
	target := RandomID()
	var count atomic.Int32
	allAsked := make(chan struct{})
	for i := range others {
		p := newFakePeer(t, xorID(target, byte(i+2), 0), map[string]rpcudp.HandlerFunc{
			methodFindNode: func(context.Context, *rpcudp.Request) (any, error) {
				if count.Add(1) == others {
					close(allAsked)
				}
				return []any{}, nil
			},
		})
		q.rt.tab.addFound(p.contact())
	}
	slow := newFakePeer(t, xorID(target, 1), map[string]rpcudp.HandlerFunc{
		methodFindNode: func(context.Context, *rpcudp.Request) (any, error) {
			select {
			case <-allAsked:
			case <-time.After(15 * time.Second): // a lockstep lookup has failed by now
			}
			return []any{}, nil
		},
	})
	q.rt.tab.addFound(slow.contact())
	start := time.Now()
	res, err := q.lookup(dhtCtx(t), target)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("lookup took %v", d)
	}
	if len(res.closest) != others+1 || res.closest[0].ID != slow.id {
		t.Errorf("closest = %v, want all %d peers, the slow one first", res.closest, others+1)
	}
	if res.stats.RPCs != others+1 {
		t.Errorf("RPCs = %d, want %d", res.stats.RPCs, others+1)
	}
}

// TestLookupHopsAndCaching follows a chain of referrals A -> B -> C. The
// value lookup counts three hops and caches the value at B, the closest
// node that answered without it; the node lookup of C's id finds C.
func TestLookupHopsAndCaching(t *testing.T) {
	key := RandomID()
	stored := make(chan []msgpack.RawMessage, 1)
	var a, b, c *fakePeer
	c = newFakePeer(t, xorID(key, 1), map[string]rpcudp.HandlerFunc{
		methodFindValue: answer(map[string]any{"value": "found it"}),
		methodFindNode:  answer([]any{}),
	})
	b = newFakePeer(t, xorID(key, 2, 0), map[string]rpcudp.HandlerFunc{
		methodFindValue: answer([]any{triple(c.contact())}),
		methodFindNode:  answer([]any{triple(c.contact())}),
		methodStore: func(_ context.Context, req *rpcudp.Request) (any, error) {
			args, err := req.RawArgs()
			stored <- args
			return true, err
		},
	})
	a = newFakePeer(t, xorID(key, 3, 0, 0), map[string]rpcudp.HandlerFunc{
		methodFindValue: answer([]any{triple(b.contact())}),
		methodFindNode:  answer([]any{triple(b.contact())}),
	})
	q := newDHTNode(t, Config{})
	q.rt.tab.addFound(a.contact())
	ctx := dhtCtx(t)

	res, err := q.readValue(ctx, key, q.cfg.K, readPolicy{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.found || res.value.String() != "found it" {
		t.Fatalf("value lookup = %v, %v", res.value, res.found)
	}
	want := LookupStats{Kind: "value", Target: key, RPCs: 3, Hops: 3, Found: true}
	if got := res.stats; got.Kind != want.Kind || got.Target != want.Target || got.RPCs != want.RPCs || got.Hops != want.Hops || got.Found != want.Found {
		t.Errorf("stats %+v, want %+v", got, want)
	}
	args := waitFor(t, ctx, stored, "the caching store at B")
	if len(args) != 3 {
		t.Fatalf("store args %v", args)
	}
	if id, err := binID(args[0]); err != nil || id != q.ID() {
		t.Errorf("store sender %x", []byte(args[0]))
	}
	if id, err := binID(args[1]); err != nil || id != key {
		t.Errorf("store key %x", []byte(args[1]))
	}
	if v, err := valueFromMsgpack(args[2]); err != nil || v.String() != "found it" {
		t.Errorf("store value %x", []byte(args[2]))
	}

	// A node that knows only A.
	q = newDHTNode(t, Config{})
	q.rt.tab.addFound(a.contact())
	nres, err := q.lookup(ctx, c.id)
	if err != nil {
		t.Fatal(err)
	}
	if !nres.stats.Found || nres.stats.Hops != 3 || len(nres.closest) != 3 || nres.closest[0].ID != c.id {
		t.Errorf("node lookup: closest %v, stats %+v", nres.closest, nres.stats)
	}
}

func TestMostCommon(t *testing.T) {
	v := func(s string) foundValue {
		val, _ := EncodeValue(s)
		return foundValue{value: val, peer: Contact{Addr: netip.MustParseAddrPort("127.0.0.1:1")}}
	}
	for _, tt := range []struct {
		in   []string
		want string
	}{
		{[]string{"a"}, "a"},
		{[]string{"a", "b", "b"}, "b"},
		{[]string{"b", "a"}, "b"}, // ties: the first answered
		{[]string{"a", "b", "c", "c", "a", "c"}, "c"},
	} {
		var in []foundValue
		for _, s := range tt.in {
			in = append(in, v(s))
		}
		if got := mostCommon(in).value.String(); got != tt.want {
			t.Errorf("mostCommon(%v) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// TestLookupQueryTimeout: a dead contact among the closest holds a lookup
// for QueryTimeout, not for the (longer) RPCTimeout.
func TestLookupQueryTimeout(t *testing.T) {
	nodes := dhtNetwork(t, 3, Config{RPCTimeout: 20 * time.Second, QueryTimeout: 200 * time.Millisecond})
	q := nodes[1]
	for range 3 {
		q.rt.tab.addFound(Contact{ID: RandomID(), Addr: deadAddr(t)})
	}
	start := time.Now()
	if err := q.Set(dhtCtx(t), "key", "value"); err != nil {
		t.Fatal(err)
	}
	v, ok, err := nodes[2].Get(dhtCtx(t), "key")
	if err != nil || !ok || v.String() != "value" {
		t.Fatalf("Get: %v %v %v", v, ok, err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Set and Get took %v; dead contacts should cost QueryTimeout (200ms), not RPCTimeout (20s)", d)
	}
	if _, err := Listen(context.Background(), "127.0.0.1:0", Config{QueryTimeout: -1}); err == nil {
		t.Error("negative QueryTimeout accepted")
	}
}

// TestSuspectContacts: a contact whose RPC timed out is suspect: lookups
// skip it and find_node answers leave it out while a background probe
// pings it. A dead one is removed after MaxFailures failures in a row; a
// live one that only lost a datagram is back as soon as it answers.
func TestSuspectContacts(t *testing.T) {
	ctx := dhtCtx(t)
	nodes := dhtNetwork(t, 3, Config{RPCTimeout: 300 * time.Millisecond, MaxFailures: 3})
	q := nodes[1]
	dead := Contact{ID: RandomID(), Addr: deadAddr(t)}
	q.rt.tab.addFound(dead)
	live := Contact{ID: nodes[2].ID(), Addr: nodes[2].Addr()}
	q.rt.tab.addFound(live) // it has answered q (not merely called it)

	// A timed-out RPC makes both suspect (the live one "lost a datagram").
	for _, c := range []Contact{dead, live} {
		q.rt.record(ctx, c, rpcudp.ErrTimeout)
	}
	if !q.rt.tab.suspect(dead.ID) {
		t.Fatal("dead contact not suspect after a timeout")
	}
	for _, c := range q.rt.tab.closestAnswering(dead.ID, 20, nil) {
		if c.ID == dead.ID {
			t.Error("a suspect contact is still offered to lookups")
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, deadIn := q.rt.tab.contains(dead.ID)
		if !deadIn && !q.rt.tab.suspect(live.ID) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s: dead contact still in table %v, live contact suspect %v", deadIn, q.rt.tab.suspect(live.ID))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, ok := q.rt.tab.contains(live.ID); !ok {
		t.Error("the live contact was dropped")
	}
}
