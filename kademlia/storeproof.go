package kademlia

import (
	"context"
	"errors"
)

// A store is kept only from a caller that receives at the address it
// claims (issue 18, finding 5): otherwise anybody could fill a node's
// storage from spoofed addresses, and charge the quota (quota.go) of a
// network that sent nothing.

// maxStoreProofs bounds the stores waiting, each in an rpcudp handler
// slot, for their caller to answer our ping: a flood of spoofed stores
// holds at most that many of the endpoint's handler slots (256 by
// default) for a QueryTimeout each.
const maxStoreProofs = 32

var (
	// errUnproved: the caller of a store did not answer our ping from the
	// address it called from, with the id it claimed.
	errUnproved = errors.New("kademlia: the caller did not answer a ping from its address")
	// errProofsBusy: maxStoreProofs stores are waiting for their callers
	// already.
	errProofsBusy = errors.New("kademlia: too many stores waiting for their callers' proof")
)

// proveCaller returns nil when c, the caller of a store, has shown it
// receives at c.Addr: it is in the routing table at that address and has
// answered one of our RPCs there, or it answers our ping now from there
// with its id (it is then recorded as having answered), within
// QueryTimeout. Loopback callers, which cannot be spoofed from another
// host, need no proof. The caller of the store waits for the ping's round
// trip once (Python peers answer pings); the read loop does not.
func (n *Node) proveCaller(ctx context.Context, c Contact) error {
	if c.Addr.Addr().Unmap().IsLoopback() || n.rt.tab.verifiedAt(c) {
		return nil
	}
	select {
	case n.proofs <- struct{}{}:
		defer func() { <-n.proofs }()
	default:
		return errProofsBusy
	}
	if !n.proves(ctx, c) {
		return errUnproved
	}
	n.rt.addFound(c)
	return nil
}

// verifiedAt reports whether c's id is in the table (a bucket or its
// replacement cache) at c.Addr and has answered one of our RPCs there.
func (t *table) verifiedAt(c Contact) bool {
	addr := normalizeAddrPort(c.Addr)
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.bucketFor(c.ID)
	if j := b.indexOf(c.ID); j >= 0 {
		return b.entries[j].verified && b.entries[j].c.Addr == addr
	}
	if j := b.replacementIndex(c.ID); j >= 0 {
		return b.replacements[j].verified && b.replacements[j].c.Addr == addr
	}
	return false
}
