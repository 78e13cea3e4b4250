package kademlia

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Join is Listen on listen and Bootstrap from addrs, closing the node if
// that fails. An empty listen is an ephemeral port that reaches addrs[0]:
// 127.0.0.1:0 for loopback IPv4, 0.0.0.0:0 for other IPv4, [::]:0 for IPv6.
func Join(ctx context.Context, listen string, cfg Config, addrs ...netip.AddrPort) (*Node, error) {
	if len(addrs) == 0 {
		return nil, fmt.Errorf("%w: no bootstrap addresses to join through", ErrNoPeers)
	}
	if listen == "" {
		listen = listenFor(addrs[0])
	}
	n, err := Listen(ctx, listen, cfg)
	if err != nil {
		return nil, err
	}
	found, err := n.Bootstrap(ctx, addrs)
	if err == nil && len(found) == 0 {
		err = fmt.Errorf("%w: the bootstrap nodes found no contacts", ErrNoPeers)
	}
	if err != nil {
		n.Close()
		return nil, fmt.Errorf("kademlia: bootstrap from %s failed: %w", joinAddrs(addrs), err)
	}
	return n, nil
}

// joinAddrs lists addrs for an error message.
func joinAddrs(addrs []netip.AddrPort) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// listenFor is the ephemeral local address to reach boot from: loopback
// for a loopback IPv4 boot (a network on one machine stays off the
// others), every interface of boot's family otherwise.
func listenFor(boot netip.AddrPort) string {
	switch a := boot.Addr().Unmap(); {
	case a.Is4() && a.IsLoopback():
		return "127.0.0.1:0"
	case a.Is4():
		return "0.0.0.0:0"
	}
	return "[::]:0"
}

// Joining. Bootstrap's self-lookup finds the neighbours that are known
// when it runs; in a wave of joins many are not yet (or not yet verified:
// a node hands out a contact that has only called it once it has answered
// a ping, verifyGrace later). So, as the paper's join, Bootstrap then
// refreshes every bucket farther than the closest neighbour (a lookup of a
// random id in each: here only in the empty ones), and, as libp2p, the node repeats its self-lookup a
// few times shortly after joining (rejoinAfter), when the joiners of the
// same wave have become known and verified. Both run in the background,
// so Bootstrap returns as soon as the first self-lookup is done.

// minSelfLookupWidth is the least number of candidates a self-lookup
// keeps in view: with a small K a lookup K wide settles on whatever few
// neighbours it meets first; a wider one finds them all.
const minSelfLookupWidth = 16

// selfLookup runs a node lookup of our own id, at least
// minSelfLookupWidth wide, which fills the table with our neighbours.
func (n *Node) selfLookup(ctx context.Context) (lookupResult, error) {
	return n.lookupWidth(ctx, n.id, max(n.cfg.K, minSelfLookupWidth))
}

// rejoinAfter are the delays, after a Bootstrap, of the repeated
// self-lookups.
var rejoinAfter = [...]time.Duration{2 * verifyGrace, 20 * time.Second, 45 * time.Second}

// refreshFarBuckets runs a node lookup of a random id in every bucket that
// does not cover our own id and is still empty after the self-lookup, at
// most Alpha at once. (Refreshing every bucket that is not full, as the
// paper's join does, doubled the RPCs of the churn suites and did not
// change the join-wave figures; the hourly refresh fills the others.)
func (n *Node) refreshFarBuckets(ctx context.Context) {
	n.lookupEach(ctx, n.rt.tab.sparse(1, func(r idRange) bool { return !r.contains(n.id) }))
}

// lookupEach runs a node lookup of a random id in each range, at most
// Alpha at once, and waits for them.
func (n *Node) lookupEach(ctx context.Context, ranges []idRange) {
	slots := make(chan struct{}, n.cfg.Alpha)
	done := make(chan struct{}, len(ranges))
	for _, r := range ranges {
		slots <- struct{}{}
		go func() {
			defer func() { <-slots; done <- struct{}{} }()
			if _, err := n.lookup(ctx, r.random()); err != nil {
				n.log.Debug("kademlia: refresh lookup failed", "range", r, "err", err)
			}
		}()
	}
	for range ranges {
		<-done
	}
}

// rejoin refreshes the far buckets, then repeats the self-lookup at the
// rejoinAfter delays, in the background; a later Bootstrap replaces an
// earlier one's schedule.
func (n *Node) rejoin() {
	n.mu.Lock()
	n.joins++
	gen := n.joins
	n.mu.Unlock()
	n.goLoop(func(ctx context.Context) {
		start := time.Now()
		n.refreshFarBuckets(ctx)
		for _, d := range rejoinAfter {
			t := time.NewTimer(time.Until(start.Add(d)))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			n.mu.Lock()
			stale := n.joins != gen
			n.mu.Unlock()
			if stale {
				return
			}
			if _, err := n.selfLookup(ctx); err != nil {
				n.log.Debug("kademlia: repeated self-lookup failed", "err", err)
			}
		}
	})
}
