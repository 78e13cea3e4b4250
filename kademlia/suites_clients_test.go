package kademlia

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// entries returns a copy of the table's bucket entries.
func (t *table) entries() []tableEntry {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []tableEntry
	for _, b := range t.buckets {
		out = append(out, b.entries...)
	}
	return out
}

// deadContacts scans the nodes' tables for contacts at the addresses of
// closed clients: how many there are, how many of them are handed out
// (tableEntry.proven), and the longest any has been dead.
func deadContacts(nodes []*Node, closedAt map[netip.AddrPort]time.Time) (held, handedOut int, oldest time.Duration) {
	for _, n := range nodes {
		for _, e := range n.rt.tab.entries() {
			at, dead := closedAt[e.c.Addr]
			if !dead {
				continue
			}
			held++
			if e.proven() {
				handedOut++
			}
			oldest = max(oldest, time.Since(at))
		}
	}
	return held, handedOut, oldest
}

// TestSuiteClients (issue 9, finding 1): short-lived clients (a node
// that bootstraps, gets one key and closes, as examples/get does) come and
// go against a network of long-running nodes over a virtual day (-tags
// long: 10,000 clients, 100 nodes, 24 h; without: 120 clients, 15 nodes,
// 1 h). Get latency stays flat (the median of the last tenth of the
// clients is within 25% of the first tenth's), no dead client is handed
// out at any check, and no node keeps a dead client longer than
// Config.RevalidateInterval.
func TestSuiteClients(t *testing.T) {
	t.Parallel()
	nodesN, clients, period := bySize(15, 100), bySize(120, 10000), bySize(time.Hour, 24*time.Hour)
	const keys = 50
	synctest.Test(t, func(t *testing.T) {
		cl := newSimCluster(t, 10)
		defer cl.close()
		nodes := cl.grow(nodesN, Config{})
		cl.joinAtOnce(nodes)
		for i := range keys {
			if err := nodes[i%nodesN].Set(context.Background(), churnKey(i), churnValue(i)); err != nil {
				t.Fatal(err)
			}
		}
		revalidate := nodes[0].cfg.RevalidateInterval
		start := time.Now()
		var (
			mu        sync.Mutex
			closedAt  = map[netip.AddrPort]time.Time{}
			latencies = make([]time.Duration, clients)
			missed    int
			worst     time.Duration // oldest dead contact seen at a check
			handedOut int           // dead contacts handed out at the checks, over all checks
			wg        sync.WaitGroup
		)
		check := func() {
			mu.Lock()
			defer mu.Unlock()
			_, h, oldest := deadContacts(nodes, closedAt)
			worst, handedOut = max(worst, oldest), handedOut+h
		}
		for i := range clients {
			time.Sleep(time.Until(start.Add(time.Duration(i) * period / time.Duration(clients))))
			if i%(clients/20) == 0 {
				check()
			}
			c := cl.serve(cl.addr(), Config{})
			via, key := nodes[cl.rng.IntN(nodesN)].Addr(), cl.rng.IntN(keys)
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				t0 := time.Now()
				_, err := c.Bootstrap(ctx, []netip.AddrPort{via})
				var v Value
				found := false
				if err == nil {
					v, found, err = c.Get(ctx, churnKey(key))
				}
				d := time.Since(t0)
				addr := c.Addr()
				c.Close()
				mu.Lock()
				defer mu.Unlock()
				latencies[i] = d
				closedAt[addr] = time.Now()
				if err != nil || !found || v.String() != churnValue(key) {
					missed++
				}
			})
		}
		wg.Wait()
		time.Sleep(time.Minute)
		synctest.Wait()
		check()
		held, _, _ := deadContacts(nodes, closedAt)
		tenth := clients / 10
		first, last := median(latencies[:tenth]), median(latencies[clients-tenth:])
		net := cl.net.Stats()
		t.Logf("clients: %d clients (bootstrap + get + close) against %d nodes over %v (virtual): %d gets missed",
			clients, nodesN, period, missed)
		t.Logf("  bootstrap+get latency, median: first tenth %v, last tenth %v (p99 overall %v)",
			first.Round(time.Millisecond), last.Round(time.Millisecond), percentileDur(latencies, 99).Round(time.Millisecond))
		t.Logf("  dead clients in the nodes' tables: oldest at a check %v (revalidation interval %v), handed out at the checks %d, held at the end %d; %d datagrams to closed addresses (%.1f per client)",
			worst.Round(time.Second), revalidate, handedOut, held, net.Unreachable, float64(net.Unreachable)/float64(clients))
		if missed > 0 {
			t.Errorf("%d of %d gets missed", missed, clients)
		}
		if last > first+first/4 {
			t.Errorf("median latency grew from %v to %v", first, last)
		}
		if handedOut > 0 {
			t.Errorf("dead clients were handed out %d times at the checks", handedOut)
		}
		if worst > revalidate {
			t.Errorf("a dead client stayed %v in a table, longer than the revalidation interval %v", worst, revalidate)
		}
	})
}

func median(ds []time.Duration) time.Duration { return percentileDur(ds, 50) }

func percentileDur(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[min(len(s)-1, max(0, (len(s)*p+99)/100-1))]
}
