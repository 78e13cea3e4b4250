package kademlia

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// TestCLIClientsDoNotSlowTheNode reproduces issue 9's finding 1 on
// loopback: one long-running node, 100 short-lived client nodes run one
// after the other (bootstrap, get or set, close) as examples/get and
// examples/set do. Every get finds its value; once the node's recheck of
// new contacts has run (verifyGrace), it hands out no dead client; and the
// clients send few requests to dead addresses. The timings (1st, 10th,
// 100th run, median) print with -v.
func TestCLIClientsDoNotSlowTheNode(t *testing.T) {
	t.Parallel() // it waits for rechecks (verifyGrace): let others run meanwhile
	const runs = 100
	ctx := dhtCtx(t)
	node := newDHTNode(t, Config{})
	if err := node.Set(ctx, "cli-key", "cli-value"); err == nil {
		t.Fatal("Set on a lone node succeeded") // no peers yet
	}
	var (
		times     []time.Duration
		clientIDs = map[ID]bool{}
		deadCalls uint64
	)
	for i := range runs {
		start := time.Now()
		c := newDHTNode(t, Config{})
		if _, err := c.Bootstrap(ctx, []netip.AddrPort{node.Addr()}); err != nil {
			t.Fatalf("run %d: Bootstrap: %v", i, err)
		}
		if i%2 == 0 {
			if err := c.Set(ctx, fmt.Sprintf("cli-%d", i), "v"); err != nil {
				t.Fatalf("run %d: Set: %v", i, err)
			}
		} else {
			v, found, err := c.Get(ctx, fmt.Sprintf("cli-%d", i-1))
			if err != nil || !found || v.String() != "v" {
				t.Fatalf("run %d: Get = %v, %v, %v", i, v, found, err)
			}
		}
		s := c.Endpoint().Stats()
		deadCalls += s.CallsTimedOut + s.CallsFailed
		clientIDs[c.ID()] = true
		c.Close()
		times = append(times, time.Since(start))
	}
	t.Logf("%d CLI runs against one node: run 1 %v, run 10 %v, run 100 %v, median %v; %d client calls to dead peers",
		runs, times[0].Round(time.Microsecond), times[9].Round(time.Microsecond), times[99].Round(time.Microsecond),
		median(times).Round(time.Microsecond), deadCalls)
	if deadCalls > runs/2 {
		t.Errorf("the clients made %d calls that failed (dead peers), want at most %d", deadCalls, runs/2)
	}
	// Within verifyGrace (and a ping timeout) of the last run, the node
	// hands out no dead client.
	deadline := time.Now().Add(verifyGrace + node.cfg.RPCTimeout + 2*time.Second)
	for {
		handed := 0
		for _, c := range node.rt.tab.closestAnswering(RandomID(), 1000, nil) {
			if clientIDs[c.ID] {
				handed++
			}
		}
		if handed == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node still hands out %d dead clients", handed)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestInboundContactsHandedOutOnlyOnceVerified: a contact that has only
// sent us a request is not handed out (find_node answers, lookup seeds)
// until it answers one of our RPCs; the node pings it at once.
func TestInboundContactsHandedOutOnlyOnceVerified(t *testing.T) {
	clock := newFakeClock()
	n := offlineNode(t, Config{Now: clock.Now}, &hooks{probeOff: true})
	c := Contact{ID: RandomID(), Addr: netip.MustParseAddrPort("192.0.2.1:1")}
	handed := func() bool { return len(n.rt.tab.closestAnswering(c.ID, 20, nil)) == 1 }
	n.rt.addInbound(c) // a request from c
	if handed() {
		t.Fatal("a contact that only called us is handed out")
	}
	if _, ok := n.rt.tab.contains(c.ID); !ok {
		t.Fatal("unverified contact not kept")
	}
	n.rt.addFound(c)
	n.rt.addFound(c) // a flurry of answers counts once
	if handed() {
		t.Fatal("a contact that called us is handed out after answering once")
	}
	clock.Advance(verifyGrace)
	n.rt.addFound(c)
	if !handed() {
		t.Fatal("a contact that answered verifyGrace after it arrived is not handed out")
	}
	// A contact that entered by answering us is handed out at once.
	d := Contact{ID: RandomID(), Addr: netip.MustParseAddrPort("192.0.2.2:1")}
	n.rt.addFound(d)
	if len(n.rt.tab.closestAnswering(d.ID, 1, nil)) != 1 {
		t.Fatal("a contact that answered our request is not handed out")
	}
}

// TestBootstrappableNeighborsAnsweredRecently: the neighbours saved in
// the state are those that answered within RevalidateInterval.
func TestBootstrappableNeighborsAnsweredRecently(t *testing.T) {
	clock := newFakeClock()
	n := offlineNode(t, Config{Now: clock.Now}, &hooks{probeOff: true})
	old := Contact{ID: RandomID(), Addr: netip.MustParseAddrPort("192.0.2.1:1")}
	heard := Contact{ID: RandomID(), Addr: netip.MustParseAddrPort("192.0.2.3:1")}
	n.rt.addFound(old)
	clock.Advance(n.cfg.RevalidateInterval + time.Second)
	fresh := Contact{ID: RandomID(), Addr: netip.MustParseAddrPort("192.0.2.2:1")}
	n.rt.addFound(fresh)
	n.rt.addInbound(heard)
	if got := n.BootstrappableNeighbors(); !slices.Equal(got, []netip.AddrPort{fresh.Addr}) {
		t.Fatalf("BootstrappableNeighbors = %v, want only %v", got, fresh.Addr)
	}
}

// TestRecheckAfter: new inbound contacts are checked again soon, then
// less and less often, up to the revalidation interval.
func TestRecheckAfter(t *testing.T) {
	for _, tt := range []struct {
		answers int
		want    time.Duration
	}{{0, 32 * time.Second}, {1, 32 * time.Second}, {2, 10 * time.Minute}, {3, 10 * time.Minute}, {40, 10 * time.Minute}} {
		if got := recheckAfter(tt.answers, 2*time.Second, 10*time.Minute); got != tt.want {
			t.Errorf("recheckAfter(%d) = %v, want %v", tt.answers, got, tt.want)
		}
	}
}

// TestLookupFreesSlowSlots: the three contacts closest to the target are
// dead; the lookup frees their slots and their places among the K
// closest once they are much slower than the live peers, and finishes long
// before QueryTimeout.
func TestLookupFreesSlowSlots(t *testing.T) {
	nodes := dhtNetwork(t, 6, Config{QueryTimeout: 3 * time.Second})
	q := nodes[1]
	for _, n := range nodes {
		q.rt.tab.addFound(Contact{ID: n.ID(), Addr: n.Addr()}) // as if they had answered q
	}
	target := RandomID()
	for i := range 3 {
		q.rt.tab.addFound(Contact{ID: xorID(target, byte(i+1)), Addr: deadAddr(t)})
	}
	start := time.Now()
	res, err := q.lookup(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	d := time.Since(start)
	t.Logf("lookup with 3 dead closest contacts: %v, %d RPCs, %d answered", d, res.stats.RPCs, res.answered)
	if d > time.Second {
		t.Errorf("lookup took %v: the dead contacts held it (QueryTimeout 3 s)", d)
	}
	if len(res.closest) < 3 {
		t.Errorf("lookup found %d live nodes, want at least 3 of %d", len(res.closest), len(nodes)-1)
	}
	for _, c := range res.closest {
		if c.ID[0] == target[0] && c.ID[1] == target[1] && c.ID[19]^target[19] <= 3 {
			t.Errorf("dead contact %v in the result", c)
		}
	}
	// The slow ones count as failed: they are suspect now.
	for i := range 3 {
		if !q.rt.tab.suspect(xorID(target, byte(i+1))) {
			t.Errorf("dead contact %d not suspect after the lookup", i)
		}
	}
}
