package kademlia

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"time"
)

// maintain runs the periodic work until Close: every RefreshInterval it
// refreshes lonely buckets and republishes held keys (refresh); every
// OriginalRepublishInterval it sets again the keys this node published
// (republishOriginals). Each schedule has a phase of its own (see
// maintenancePhase): its first run comes after a delay in (0, interval],
// the next ones every interval after that. Tests replace the schedules
// (testHooks.ticks).
func (n *Node) maintain(ctx context.Context) {
	var refreshC, republishC <-chan time.Time
	if n.hooks != nil {
		refreshC, republishC = n.hooks.ticks()
	}
	var refreshT, republishT *time.Timer
	if refreshC == nil {
		refreshT = time.NewTimer(maintenancePhase(n.id, "refresh", n.cfg.RefreshInterval))
		defer refreshT.Stop()
		refreshC = refreshT.C
	}
	if republishC == nil {
		republishT = time.NewTimer(maintenancePhase(n.id, "originals", n.cfg.OriginalRepublishInterval))
		defer republishT.Stop()
		republishC = republishT.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-refreshC:
			if refreshT != nil {
				refreshT.Reset(n.cfg.RefreshInterval) // before the work: no drift
			}
			n.refresh(ctx)
		case <-republishC:
			if republishT != nil {
				republishT.Reset(n.cfg.OriginalRepublishInterval)
			}
			n.republishOriginals(ctx)
		}
	}
}

// maintenancePhase returns the delay before a node's first periodic run of
// kind: in (0, period], spread uniformly over the period by a hash of the
// node's id (so nodes with close ids, such as the holders of one key, get
// unrelated phases; and a given node keeps its phase, which tests can
// reproduce).
//
// Nodes started together would otherwise all run their maintenance at the
// same instants. That defeats the paper's republish rule (section 2.5): a
// node skips the republish of a key it received a store for within the
// last interval, so when the holders of a key run at different times the
// first one republishes and the others, having just received its store,
// do not; run at the same instant, all K holders republish every key, K
// times the lookups and stores. Python's nodes each run on a timer of
// their own, started with the node.
func maintenancePhase(id ID, kind string, period time.Duration) time.Duration {
	h := sha256.Sum256(append([]byte(kind), id[:]...))
	return 1 + time.Duration(binary.BigEndian.Uint64(h[:8])%uint64(period))
}

// refresh is Python's _refresh_table with the paper's rules: a node lookup
// of a random id in every bucket not touched for RefreshInterval (at most
// Alpha lookups at once), then a republish of every held key last
// published (stored here by anyone, including us) more than
// RefreshInterval ago. A republish stores the key at the K closest nodes
// and refreshes it here without extending its expiry, so a key nobody
// re-sets still expires. A key stored here again while the pass runs
// (another holder republished it) is skipped: see republish.
func (n *Node) refresh(ctx context.Context) {
	if _, err := n.storage.Purge(); err != nil {
		n.log.Debug("kademlia: refresh: purge failed", "err", err)
	}
	n.refreshBuckets(ctx)
	if ctx.Err() == nil {
		items, err := n.storage.OlderThan(n.cfg.RefreshInterval)
		if err != nil {
			n.log.Warn("kademlia: refresh: reading storage failed", "err", err)
		}
		n.republish(ctx, items, PutOptions{KeepExpiry: true}, true)
	}
	if n.hooks != nil {
		n.hooks.maintained("refresh")
	}
}

// refreshBuckets runs a node lookup of a random id in every bucket not
// touched for RefreshInterval, at most Alpha at once.
func (n *Node) refreshBuckets(ctx context.Context) {
	lonely := n.rt.tab.lonely(n.cfg.RefreshInterval)
	if n.rt.tab.len() == 0 || len(lonely) == 0 {
		return
	}
	n.log.Debug("kademlia: refreshing lonely buckets", "buckets", len(lonely))
	n.lookupEach(ctx, lonely)
}

// republishOriginals sets again every key this node originally published,
// extending its expiry everywhere, as the paper's original publisher does
// every 24 hours.
func (n *Node) republishOriginals(ctx context.Context) {
	items, err := n.storage.Originals()
	if err != nil {
		n.log.Warn("kademlia: republish: reading storage failed", "err", err)
	}
	n.republish(ctx, items, PutOptions{Original: true}, false)
	if n.hooks != nil {
		n.hooks.maintained("originals")
	}
}

// republish sets each item at the K closest nodes, one after the other.
//
// With skipRestored (the hourly pass), an item whose Stored time has moved
// since items was read is skipped: a store for it arrived meanwhile, that
// is, another holder has just republished it to the K closest nodes (paper
// section 2.5: a node that received a store for a key within the interval
// does not republish it). A pass takes a lookup and K stores per item, one
// item after the other, so with many keys and dead contacts (each costing
// an RPC timeout) it lasts minutes; without this check every holder whose
// own pass overlaps it republishes the same keys again, from its stale
// list. Keys no longer held (expired meanwhile) are skipped too.
func (n *Node) republish(ctx context.Context, items []StoredItem, local PutOptions, skipRestored bool) {
	if len(items) == 0 || n.rt.tab.len() == 0 {
		return
	}
	n.log.Debug("kademlia: republishing", "keys", len(items), "original", local.Original)
	skipped, set, failed := 0, 0, 0
	defer func() { n.metrics.republished(local.Original, set, failed) }()
	for _, it := range items {
		if ctx.Err() != nil {
			return
		}
		if skipRestored {
			if m, held, err := n.storage.Meta(it.Key); err == nil && (!held || m.Stored.After(it.Meta.Stored)) {
				skipped++
				continue
			}
		}
		if err := n.setDigest(ctx, it.Key, it.Value, local); err != nil {
			failed++
			n.log.Debug("kademlia: republish failed", "key", it.Key, "err", err)
		} else {
			set++
		}
	}
	if skipped > 0 {
		n.log.Debug("kademlia: republish: keys stored again meanwhile were skipped", "skipped", skipped)
	}
}
