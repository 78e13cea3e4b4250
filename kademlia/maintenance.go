package kademlia

import (
	"context"
	"time"
)

// startLoopsLocked starts the maintenance loop. The caller holds n.mu.
func (n *Node) startLoopsLocked() {
	n.goLoopLocked(n.maintain)
}

// maintain runs the periodic work until Close: every RefreshInterval it
// refreshes lonely buckets and republishes held keys (refresh); every
// OriginalRepublishInterval it sets again the keys this node published
// (republishOriginals). Tests replace the tickers through tickRefresh and
// tickRepublish.
func (n *Node) maintain(ctx context.Context) {
	refreshC, republishC := n.tickRefresh, n.tickRepublish
	if refreshC == nil {
		t := time.NewTicker(n.cfg.RefreshInterval)
		defer t.Stop()
		refreshC = t.C
	}
	if republishC == nil {
		t := time.NewTicker(n.cfg.OriginalRepublishInterval)
		defer t.Stop()
		republishC = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-refreshC:
			n.refresh(ctx)
		case <-republishC:
			n.republishOriginals(ctx)
		}
	}
}

// refresh is Python's _refresh_table with the paper's rules: a node lookup
// of a random id in every bucket not touched for RefreshInterval (at most
// Alpha lookups at once), then a republish of every held key last
// published (stored here by anyone, including us) more than
// RefreshInterval ago. A republish stores the key at the K closest nodes
// and refreshes it here without extending its expiry, so a key nobody
// re-sets still expires.
func (n *Node) refresh(ctx context.Context) {
	if _, err := n.storage.Purge(); err != nil {
		n.log.Debug("kademlia: refresh: purge failed", "err", err)
	}
	lonely := n.table.Lonely(n.cfg.RefreshInterval)
	if n.table.Len() > 0 && len(lonely) > 0 {
		n.log.Debug("kademlia: refreshing lonely buckets", "buckets", len(lonely))
		slots := make(chan struct{}, n.cfg.Alpha)
		done := make(chan struct{}, len(lonely))
		for _, r := range lonely {
			slots <- struct{}{}
			go func() {
				defer func() { <-slots; done <- struct{}{} }()
				if _, err := n.lookup(ctx, r.Random(), false); err != nil {
					n.log.Debug("kademlia: refresh lookup failed", "range", r, "err", err)
				}
			}()
		}
		for range lonely {
			<-done
		}
	}
	if ctx.Err() == nil {
		items, err := n.storage.OlderThan(n.cfg.RefreshInterval)
		if err != nil {
			n.log.Warn("kademlia: refresh: reading storage failed", "err", err)
		}
		n.republish(ctx, items, PutOptions{KeepExpiry: true})
	}
	if n.onMaintained != nil {
		n.onMaintained("refresh")
	}
}

// republishOriginals sets again every key this node originally published,
// extending its expiry everywhere, as the paper's original publisher does
// every 24 hours.
func (n *Node) republishOriginals(ctx context.Context) {
	items, err := n.storage.Originals()
	if err != nil {
		n.log.Warn("kademlia: republish: reading storage failed", "err", err)
	}
	n.republish(ctx, items, PutOptions{Original: true})
	if n.onMaintained != nil {
		n.onMaintained("originals")
	}
}

// republish sets each item at the K closest nodes, one after the other.
func (n *Node) republish(ctx context.Context, items []StoredItem, local PutOptions) {
	if len(items) == 0 || n.table.Len() == 0 {
		return
	}
	n.log.Debug("kademlia: republishing", "keys", len(items), "original", local.Original)
	for _, it := range items {
		if ctx.Err() != nil {
			return
		}
		if err := n.setDigest(ctx, it.Key, it.Value, local); err != nil {
			n.log.Debug("kademlia: republish failed", "key", it.Key, "err", err)
		}
	}
}
