package kademlia

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
)

// attacker is a scripted peer on the simulated network: it answers ping
// with the id it claims and find_node / find_value with the contacts
// answer returns, and accepts every store without keeping it.
type attacker struct {
	c  Contact
	ep *rpcudp.Endpoint
}

func newAttacker(t testing.TB, cl *simCluster, c Contact, answer func(key ID) []Contact) *attacker {
	conn, err := cl.net.Listen(c.Addr)
	if err != nil {
		t.Fatal(err)
	}
	// An attacker answers at once, whoever asks: it does not wait for
	// the asker to prove its address (rpcudp's 3x rule).
	ep := rpcudp.New(conn, rpcudp.WithTimeout(time.Second), rpcudp.WithAntiAmplification(-1, nil))
	find := func(_ context.Context, req *rpcudp.Request) (any, error) {
		args, err := req.RawArgs()
		if err != nil || len(args) != 2 {
			return nil, rpcudp.ErrBadArgs
		}
		key, err := binID(args[1])
		if err != nil {
			return nil, err
		}
		out := []any{}
		for _, o := range answer(key) {
			out = append(out, contactTriple(o))
		}
		return out, nil
	}
	for name, h := range map[string]rpcudp.HandlerFunc{
		methodPing:      func(context.Context, *rpcudp.Request) (any, error) { return c.ID[:], nil },
		methodStore:     func(context.Context, *rpcudp.Request) (any, error) { return true, nil },
		methodFindNode:  find,
		methodFindValue: find,
	} {
		if err := ep.Handle(name, h); err != nil {
			t.Fatal(err)
		}
	}
	return &attacker{c: c, ep: ep}
}

// closestContacts returns the k contacts of cs closest to key.
func closestContacts(cs []Contact, key ID, k int) []Contact {
	cs = slices.Clone(cs)
	slices.SortFunc(cs, func(a, b Contact) int { return cmpDistance(key, a.ID, b.ID) })
	return cs[:min(k, len(cs))]
}

// TestSuiteEclipse (issue 9, finding 4): 1,000 attacker ids, all in one
// /24, call a victim (and answer its pings and lookups, naming only each
// other). The victim keeps at most IPLimits.PerTable of them (2 per
// bucket), and its lookups still find the honest K closest nodes.
func TestSuiteEclipse(t *testing.T) {
	t.Parallel()
	honestN, lookups := bySize(50, 100), bySize(50, 200)
	const attackers = 1000
	synctest.Test(t, func(t *testing.T) {
		cl := newSimCluster(t, 9)
		defer cl.close()
		cl.grow(honestN, Config{})
		cl.joinAtOnce(cl.nodes)
		victim := cl.nodes[0]
		evil := make([]Contact, attackers)
		for i := range evil {
			addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{66, 6, 6, byte(i % 250)}), uint16(2000+i))
			evil[i] = Contact{ID: cl.randomID(), Addr: addr}
		}
		var eps []*attacker
		defer func() {
			for _, a := range eps {
				a.ep.Close()
			}
		}()
		for _, c := range evil {
			eps = append(eps, newAttacker(t, cl, c, func(key ID) []Contact { return closestContacts(evil, key, defaultK) }))
		}
		parallel(len(eps), 64, func(i int) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			eps[i].ep.Call(ctx, victim.Addr(), methodPing, eps[i].c.ID[:])
		})
		time.Sleep(time.Minute) // verification pings, revalidation
		synctest.Wait()

		lim := IPLimits{}.withDefaults()
		evilNet := netip.MustParsePrefix("66.6.6.0/24")
		kept, perBucket := 0, 0
		for _, b := range victim.Table().Buckets {
			n := 0
			for _, c := range b.Contacts {
				if evilNet.Contains(c.Addr.Addr()) {
					n++
				}
			}
			kept += n
			perBucket = max(perBucket, n)
		}
		found := share{}
		isEvil := func(c Contact) bool { return evilNet.Contains(c.Addr.Addr()) }
		for range lookups {
			target := cl.randomID()
			res, err := victim.lookup(context.Background(), target)
			honest := slices.DeleteFunc(slices.Clone(res.closest), isEvil)
			want := trueClosest(cl.nodes, target, defaultK-lim.PerBucket, func(n *Node) bool { return n == victim })
			found.of++
			if err == nil && sameIDs(honest, want) {
				found.n++
			}
		}
		t.Logf("eclipse: %d attacker ids from one /24 called the victim: it keeps %d of them (at most %d in a bucket; limits %d per bucket, %d per table) among %d contacts",
			attackers, kept, perBucket, lim.PerBucket, lim.PerTable, victim.Table().len())
		t.Logf("eclipse: %d/%d lookups from the victim found the honest %d closest (%.1f%%)", found.n, found.of, defaultK-lim.PerBucket, 100*found.value())
		if kept > lim.PerTable || perBucket > lim.PerBucket {
			t.Errorf("victim keeps %d attacker contacts (%d in one bucket), want at most %d (%d)", kept, perBucket, lim.PerTable, lim.PerBucket)
		}
		if found.n != found.of {
			t.Errorf("%d of %d lookups missed honest closest nodes", found.of-found.n, found.of)
		}
	})
}

// TestSuiteHijack (issue 9, finding 3): a stranger sends every node pings
// claiming the ids of all the others, from its own addresses, and answers
// pings with those ids. No contact moves while its node answers. A node
// that really moves (restarts with its id on a new address) is moved once
// its old address fails and the new one proves the id.
func TestSuiteHijack(t *testing.T) {
	t.Parallel()
	const honestN = 50
	synctest.Test(t, func(t *testing.T) {
		cl := newSimCluster(t, 3)
		defer cl.close()
		cl.grow(honestN, Config{})
		cl.joinAtOnce(cl.nodes)
		time.Sleep(10 * time.Second)
		before := make([]map[ID]netip.AddrPort, len(cl.nodes))
		for i, n := range cl.nodes {
			before[i] = map[ID]netip.AddrPort{}
			for _, c := range n.Table().Contacts() {
				before[i][c.ID] = c.Addr
			}
		}
		forged := 0
		var eps []*attacker
		defer func() {
			for _, a := range eps {
				a.ep.Close()
			}
		}()
		for i, n := range cl.nodes {
			a := newAttacker(t, cl, Contact{ID: n.ID(), Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{66, 7, byte(i), 1}), 666)}, func(ID) []Contact { return nil })
			eps = append(eps, a)
		}
		parallel(len(eps)*len(cl.nodes), 64, func(j int) {
			a, victim := eps[j/len(cl.nodes)], cl.nodes[j%len(cl.nodes)]
			if victim.ID() == a.c.ID {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			a.ep.Call(ctx, victim.Addr(), methodPing, a.c.ID[:])
		})
		forged = len(eps) * (len(cl.nodes) - 1)
		time.Sleep(time.Minute)
		synctest.Wait()
		moved, known := countMoved(cl, before)
		t.Logf("hijack: %d forged pings (every node's id claimed from another address, answered there too): %d of the %d contacts known before moved",
			forged, moved, known)
		if moved > 0 {
			t.Errorf("%d contacts moved to a forger's address", moved)
		}

		// A real move: node 1 restarts on a new address with its id.
		old := cl.nodes[1]
		id := old.ID()
		old.Close()
		n := cl.serve(netip.MustParseAddrPort("10.250.0.1:8468"), Config{ID: id})
		cl.nodes[1] = n
		if _, err := n.Bootstrap(context.Background(), []netip.AddrPort{cl.nodes[0].Addr()}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		at, stale := 0, 0
		for _, o := range cl.nodes {
			if c, ok := o.rt.tab.contains(id); ok {
				if c.Addr == n.Addr() {
					at++
				} else {
					stale++
				}
			}
		}
		t.Logf("hijack: a node restarted on a new address: %d nodes moved it there, %d still hold the old address", at, stale)
		if at == 0 {
			t.Error("no node moved the contact of a node that really moved")
		}
	})
}

// countMoved counts the contacts each node knew before (by id and
// address) that now have another address, and those contacts. (A stranger
// can still introduce an id a node did not know at an address of its
// own: without signed ids nothing tells the two apart.)
func countMoved(cl *simCluster, before []map[ID]netip.AddrPort) (moved, known int) {
	for i, n := range cl.nodes {
		for id, addr := range before[i] {
			known++
			if c, ok := n.rt.tab.contains(id); ok && c.Addr != addr {
				moved++
			}
		}
	}
	return moved, known
}

// TestSuitePoisonedLookups: 20% of the nodes answer find_node and
// find_value with only each other (the attackers closest to the key) and
// keep nothing they are sent. Honest gets still succeed at least 98% of
// the time (see below).
func TestSuitePoisonedLookups(t *testing.T) {
	t.Parallel()
	honestN, evilN, keys := bySize(60, 400), bySize(15, 100), bySize(40, 500)
	synctest.Test(t, func(t *testing.T) {
		cl := newSimCluster(t, 20)
		defer cl.close()
		evil := make([]Contact, evilN)
		for i := range evil {
			evil[i] = Contact{ID: cl.randomID(), Addr: cl.addr()}
		}
		isEvil := map[ID]bool{}
		for _, c := range evil {
			isEvil[c.ID] = true
		}
		poison := rpcudp.WithInterceptors(func(ctx context.Context, req *rpcudp.Request, next rpcudp.HandlerFunc) (any, error) {
			switch req.Method {
			case methodFindNode, methodFindValue:
				args, err := req.RawArgs()
				if err != nil || len(args) != 2 {
					return next(ctx, req)
				}
				key, err := binID(args[1])
				if err != nil {
					return next(ctx, req)
				}
				out := []any{}
				for _, o := range closestContacts(evil, key, defaultK) {
					out = append(out, contactTriple(o))
				}
				return out, nil
			case methodStore:
				return true, nil
			}
			return next(ctx, req)
		})
		// The honest nodes join at once, each through an honest node (a
		// node that bootstraps only through liars is eclipsed in any
		// Kademlia); the liars join at the same moment, through random
		// honest nodes, and lie from the start.
		honest := cl.grow(honestN, Config{})
		for _, c := range evil {
			cl.nodes = append(cl.nodes, cl.serve(c.Addr, Config{ID: c.ID, RPCOptions: []rpcudp.Option{poison}}))
		}
		liars := cl.nodes[honestN:]
		via := make([]netip.AddrPort, len(liars))
		for i := range via {
			via[i] = honest[cl.rng.IntN(honestN)].Addr()
		}
		go func() {
			parallel(len(liars), 64, func(i int) { liars[i].Bootstrap(context.Background(), []netip.AddrPort{via[i]}) })
		}()
		cl.nodes = honest
		cl.joinAtOnce(honest)
		cl.nodes = append(honest, liars...)
		time.Sleep(time.Minute)
		synctest.Wait()
		got := share{}
		found := make([]bool, keys)
		parallel(keys, 32, func(i int) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			setter, getter := honest[i%len(honest)], honest[(i*7+3)%len(honest)]
			key := fmt.Sprintf("poison-%d", i)
			if err := setter.Set(ctx, key, "v"); err != nil {
				t.Logf("set %s: %v", key, err)
				return
			}
			v, ok, err := getter.Get(ctx, key, GetOptions{SkipLocal: true})
			found[i] = err == nil && ok && v.String() == "v"
		})
		for _, ok := range found {
			got.of++
			if ok {
				got.n++
			}
		}
		t.Logf("poisoned lookups: %d of %d nodes answer lookups with only each other and keep nothing: honest gets found %d/%d (%.1f%%)",
			evilN, evilN+honestN, got.n, got.of, 100*got.value())
		// 100% without rpcudp's 3x rule; with it 98.8% to 99.8% at 500
		// nodes (issue 18): an honest node that has never met the asker
		// holds its answer one round trip for the proof, while liars,
		// which called everyone as they joined, are proven and answer at
		// once, so they win the lookup's race more often. Issue 16's
		// lookup work is to win this back; until then the suite guards
		// 98%.
		if want := 0.98; got.value() < want {
			t.Errorf("honest gets found %.1f%%, want at least %.0f%%", 100*got.value(), 100*want)
		}
	})
}
