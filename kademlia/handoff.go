package kademlia

import (
	"context"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/rpcudp/go-rpcudp/rpcudp/wire"
	"golang.org/x/time/rate"
)

// welcome hands a newly seen contact the stored keys it should now hold
// (paper section 2.5, Python's welcome_if_new), in the background.
func (n *Node) welcome(c Contact) {
	if n.storage.Len() == 0 {
		return
	}
	n.spawn("welcome", func(ctx context.Context) { n.handOff(ctx, c) })
}

// handOff stores at c the held keys for which c is now among the K
// closest contacts we know and we are closer to the key than any of them
// (so that of the nodes holding a key only the closest sends it). Unlike
// Python, distances are measured to the stored key digest itself (Python
// hashes the digest again). At most Alpha stores are in flight.
//
// A flood of fresh ids must cost the node little (issue 9, finding 5;
// issue 18, finding 3), so a hand-off is bounded several ways. The
// routing layer welcomes a contact that called us only once it has
// answered our ping (routing.add): a spoofed id costs no hand-off at all.
// Then c must answer a ping from the address it claims, with the id it
// claims, before any store; at most Config.HandOffKeys keys go to one
// newcomer; and all hand-offs together send at most
// Config.HandOffBytesPerSecond (handOffBudget). The keys left out are
// stored by the hourly republish. The held keys are read only when the
// routing table leaves some of them to c (handOffDepths): in a healthy
// table, a random newcomer costs one pass over the table, not over the
// storage (and the depths of the held keys, keyDepths, tell which depths
// have keys at all).
func (n *Node) handOff(ctx context.Context, c Contact) {
	if n.handOffBudget.empty() {
		// Not even the scan of the held keys: a flood of fresh ids costs
		// no CPU either once the budget is spent.
		n.metrics.handOffThrottled.Add(1)
		return
	}
	depths, some := n.rt.tab.handOffDepths(c, n.cfg.K)
	if !some || !n.keysAtAny(depths) {
		return // no held key can be c's
	}
	items, capped := n.handOffItems(ctx, c, depths)
	if len(items) == 0 {
		return
	}
	n.metrics.handOffs.Add(1)
	n.metrics.handOffSkipped.Add(uint64(capped))
	if !n.proves(ctx, c) {
		n.metrics.handOffUnproved.Add(1)
		n.metrics.handOffSkipped.Add(uint64(len(items)))
		return
	}
	fit := n.handOffBudget.take(items)
	n.metrics.handOffSkipped.Add(uint64(len(items) - len(fit)))
	n.log.Debug("kademlia: handing keys to new contact", "contact", c, "keys", len(fit), "over budget", len(items)-len(fit), "capped", capped)
	n.sendHandOff(ctx, c, fit)
}

// handOffItems returns the held keys c should be handed (at most
// Config.HandOffKeys of them, with their values) and how many more the
// cap left out. Only the keys at a depth depths allows are examined (a
// pass over the keys alone, without their values); once the cap is
// reached, the keys left are counted without examining them further, so
// capped is an upper bound.
func (n *Node) handOffItems(ctx context.Context, c Contact, depths *depthSet) (items []StoredItem, capped int) {
	keys, err := n.heldKeys(func(key ID) bool { return depths[key.commonPrefixLen(n.id)] })
	if err != nil {
		return nil, 0
	}
	limit := n.cfg.HandOffKeys
	for i, key := range keys {
		if ctx.Err() != nil {
			return nil, 0
		}
		if limit != NoLimit && len(items) >= limit {
			return items, len(keys) - i
		}
		if !n.shouldHandOff(c, key) {
			continue
		}
		if v, ok, err := n.storage.Get(key); err == nil && ok {
			items = append(items, StoredItem{Key: key, Value: v})
		}
	}
	return items, 0
}

// keyLister is implemented by storages that can list their keys without
// copying their values (memoryStorage).
type keyLister interface {
	// keys returns the keys of the unexpired items keep accepts, in
	// Iterate's order. keep runs with the storage locked: it must be
	// quick and must not call the storage.
	keys(keep func(ID) bool) ([]ID, error)
}

// heldKeys returns the held keys keep accepts, in the storage's Iterate
// order.
func (n *Node) heldKeys(keep func(ID) bool) ([]ID, error) {
	if kl, ok := n.storage.(keyLister); ok {
		return kl.keys(keep)
	}
	var keys []ID
	err := n.storage.Iterate(func(key ID, _ Value, _ Meta) bool {
		if keep(key) {
			keys = append(keys, key)
		}
		return true
	})
	return keys, err
}

// proves reports whether c answers a ping from its address with its id
// within QueryTimeout (so the node's retry policy sends the ping at most
// twice, 400 ms apart, by default).
func (n *Node) proves(ctx context.Context, c Contact) bool {
	r, err := n.ep.Call(rpcudp.WithCallOptions(ctx, n.queryOpts), c.Addr, methodPing, n.id[:])
	if err != nil {
		return false
	}
	id, err := binID(r)
	return err == nil && id == c.ID
}

// sendHandOff stores items at c, at most Alpha at a time.
func (n *Node) sendHandOff(ctx context.Context, c Contact, items []StoredItem) {
	fanOut(ctx, items, n.cfg.Alpha, func(_ int, it StoredItem) {
		if err := n.callStore(ctx, c, it.Key, it.Value); err != nil {
			n.metrics.handOffFailed.Add(1)
			n.log.Debug("kademlia: hand-off store failed", "contact", c, "key", it.Key, "err", err)
			return
		}
		n.metrics.handOffKeys.Add(1)
		n.metrics.handOffBytes.Add(uint64(storeRequestSize(it.Value)))
	})
}

// storeRequestSize is the size of the datagram of a store request for v:
// header, ["store", [sender, key, value]].
func storeRequestSize(v Value) int {
	return wire.HeaderLen + 1 + strSize(len(methodStore)) + 1 + 2*binSize(IDLen) + v.Len()
}

// handOffBudget is the token bucket of Config.HandOffBytesPerSecond (nil:
// no limit).
type handOffBudget struct {
	lim *rate.Limiter
	now func() time.Time
}

func newHandOffBudget(cfg Config) *handOffBudget {
	if cfg.HandOffBytesPerSecond == NoLimit {
		return nil
	}
	return &handOffBudget{
		lim: rate.NewLimiter(rate.Limit(cfg.HandOffBytesPerSecond), max(cfg.HandOffBytesPerSecond, maxDatagram)),
		now: cfg.Now,
	}
}

// empty reports whether the budget cannot pay for the smallest store.
func (b *handOffBudget) empty() bool {
	return b != nil && b.lim.TokensAt(b.now()) < float64(storeRequestSize(Value{}))
}

// take returns the longest prefix of items whose stores fit the budget,
// and takes their bytes from it.
func (b *handOffBudget) take(items []StoredItem) []StoredItem {
	if b == nil {
		return items
	}
	now := b.now()
	for i, it := range items {
		if !b.lim.AllowN(now, storeRequestSize(it.Value)) {
			return items[:i]
		}
	}
	return items
}

// shouldHandOff is the welcome rule for one key: the newcomer is among the
// K contacts closest to key, and we are closer to it than any other
// contact we know.
//
// handOff asks this for many held keys each time a contact joins the
// table, so both halves are tested by scans of the table that neither
// sort nor allocate: first the rarely true one (we are the closest for
// about one key in K), then whether fewer than K other contacts are
// closer to key than the newcomer.
func (n *Node) shouldHandOff(newcomer Contact, key ID) bool {
	notNewcomer := func(x Contact) bool { return x.ID == newcomer.ID }
	if n.rt.tab.hasCloser(key, notNewcomer) {
		return false // we are not the closest
	}
	return n.rt.tab.countCloser(key, newcomer.ID, n.cfg.K) < n.cfg.K
}
