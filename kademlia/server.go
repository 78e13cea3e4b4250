package kademlia

import (
	"context"
	"fmt"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/vmihailenco/msgpack/v5"
)

// The server side of the protocol: the handlers of the five RPCs
// (kademlia/PROTOCOL.md describes their arguments and answers).

// minCacheTTL is the shortest lifetime given to a value cached here by a
// value lookup's store (see cacheTTL).
const minCacheTTL = time.Minute

// cacheTTLSteps caps the number of halvings of a cached value's lifetime.
const cacheTTLSteps = 16

// register serves the Kademlia RPCs on the node's endpoint.
func (n *Node) register() error {
	for name, h := range map[string]rpcudp.HandlerFunc{
		methodPing:      n.rpcPing,
		methodStun:      n.rpcStun,
		methodStore:     n.rpcStore,
		methodFindNode:  n.rpcFindNode,
		methodFindValue: n.rpcFindValue,
	} {
		if err := n.ep.Handle(name, h); err != nil {
			return err
		}
	}
	return nil
}

// rawArgs returns the request's arguments, which must be exactly want.
func rawArgs(req *rpcudp.Request, want int) ([]msgpack.RawMessage, error) {
	if req.NumArgs() != want {
		return nil, fmt.Errorf("%w: %s takes %d arguments, got %d", rpcudp.ErrBadArgs, req.Method, want, req.NumArgs())
	}
	return req.RawArgs()
}

// argID decodes an argument that must be a 20-byte msgpack bin (a node id
// or key; Python sends bytes).
func argID(raw []byte, what string) (ID, error) {
	id, err := binID(raw)
	if err != nil {
		return ID{}, fmt.Errorf("%w: %s: %w: %v", rpcudp.ErrBadArgs, what, ErrBadID, err)
	}
	return id, nil
}

// caller records the sender of a request in the routing table (and
// welcomes it if it is new) and returns it.
func (n *Node) caller(req *rpcudp.Request, raw []byte) (Contact, error) {
	id, err := argID(raw, "sender id")
	if err != nil {
		return Contact{}, err
	}
	c := Contact{ID: id, Addr: req.From}
	n.rt.addInbound(c)
	return c, nil
}

// rpcPing serves ping [sender_id] -> our id.
func (n *Node) rpcPing(_ context.Context, req *rpcudp.Request) (any, error) {
	args, err := rawArgs(req, 1)
	if err != nil {
		return nil, err
	}
	if _, err := n.caller(req, args[0]); err != nil {
		return nil, err
	}
	return n.id[:], nil
}

// rpcStun serves stun [] -> [ip, port] of the caller.
func (n *Node) rpcStun(_ context.Context, req *rpcudp.Request) (any, error) {
	if _, err := rawArgs(req, 0); err != nil {
		return nil, err
	}
	return []any{req.From.Addr().String(), int(req.From.Port())}, nil
}

// rpcStore serves store [sender_id, key, value] -> true. A value its
// namespace's Validator refuses, or that would replace a better one held,
// or beyond the share of the storage its sender's network may hold
// (storeQuota), is not stored: the answer is an error reply (a Go writer
// learns why; a Python writer ignores it and times out). A store from a
// caller that has not shown it receives at its address gets a ping first
// (proveCaller); a store whose caller does not answer it (a spoofed one)
// stores nothing and gets no answer at all, so that it draws no more than
// the ping toward the address it claims.
func (n *Node) rpcStore(ctx context.Context, req *rpcudp.Request) (any, error) {
	args, err := rawArgs(req, 3)
	if err != nil {
		return nil, err
	}
	from, err := n.caller(req, args[0])
	if err != nil {
		return nil, err
	}
	key, err := argID(args[1], "key")
	if err != nil {
		return nil, err
	}
	v, err := valueFromMsgpack(args[2])
	if err != nil {
		return nil, fmt.Errorf("%w: value: %w", rpcudp.ErrBadArgs, err)
	}
	if err := n.proveCaller(ctx, from); err != nil {
		n.metrics.refusedUnproved.Add(1)
		n.log.Debug("kademlia: store dropped", "key", key, "from", from, "err", err)
		return nil, fmt.Errorf("%w: store %s from %s: %w", rpcudp.ErrRateLimited, key, from, err)
	}
	opts, err := n.storeOptions(key)
	if err != nil {
		return nil, err
	}
	if err := n.putFrom(req.From, key, v, opts); err != nil {
		n.metrics.refused(err)
		n.log.Debug("kademlia: store refused", "key", key, "from", req.From, "err", err)
		return nil, fmt.Errorf("store %s: %w", key, err)
	}
	n.log.Debug("kademlia: stored", "key", key, "from", req.From, "ttl", opts.TTL)
	return true, nil
}

// storeOptions decides how a value received with store is kept. A node
// among the K closest to the key we know of stores it normally. Otherwise
// the store is a cache store (a value lookup's, paper section 2.3) and
// gets a lifetime that halves for every known contact closer to the key
// beyond the first K (see cacheTTL). A key already held keeps its expiry.
//
// So a stranger's store for a key near our id gets the full storage TTL
// (a week by default), as any honest writer's: nothing tells them apart.
// What bounds such stores is the quota of the sender's network
// (storeQuota: a 64th of the storage) and the proof that the sender
// receives at its address (proveCaller).
func (n *Node) storeOptions(key ID) (PutOptions, error) {
	closer := n.closerThanUs(key, n.cfg.K+cacheTTLSteps)
	if closer < n.cfg.K {
		return PutOptions{}, nil
	}
	if _, ok, err := n.storage.Meta(key); err != nil {
		return PutOptions{}, fmt.Errorf("store %s: %w", key, err)
	} else if ok {
		return PutOptions{KeepExpiry: true}, nil
	}
	return PutOptions{TTL: cacheTTL(n.storage.TTL(), closer-n.cfg.K+1)}, nil
}

// cacheTTL returns base halved steps times, at least minCacheTTL (and at
// most base).
func cacheTTL(base time.Duration, steps int) time.Duration {
	steps = min(max(steps, 0), cacheTTLSteps)
	return min(base, max(base>>steps, minCacheTTL))
}

// closerThanUs counts the contacts of our table closer to key than our own
// id, looking at most at limit contacts.
func (n *Node) closerThanUs(key ID, limit int) int {
	count := 0
	for _, c := range n.rt.tab.closest(key, limit, nil) {
		if !closerTo(key, c.ID, n.id) {
			break
		}
		count++
	}
	return count
}

// neighbors returns the K contacts closest to key, excluding the caller
// (by id and by address, as Python's find_neighbors(exclude=...)), as the
// wire list [[id, ip, port], ...].
func (n *Node) neighbors(key ID, caller Contact) []any {
	cs := n.rt.tab.closestAnswering(key, n.cfg.K, func(c Contact) bool {
		return c.ID == caller.ID || c.sameHome(caller)
	})
	out := make([]any, len(cs)) // never nil: Python answers [] not None
	for i, c := range cs {
		out[i] = contactTriple(c)
	}
	return out
}

// findArgs decodes the arguments of find_node and find_value,
// [sender_id, key], and records the caller.
func (n *Node) findArgs(req *rpcudp.Request) (Contact, ID, error) {
	args, err := rawArgs(req, 2)
	if err != nil {
		return Contact{}, ID{}, err
	}
	from, err := n.caller(req, args[0])
	if err != nil {
		return Contact{}, ID{}, err
	}
	key, err := argID(args[1], "key")
	return from, key, err
}

// rpcFindNode serves find_node [sender_id, key] -> [[id, ip, port], ...].
func (n *Node) rpcFindNode(_ context.Context, req *rpcudp.Request) (any, error) {
	from, key, err := n.findArgs(req)
	if err != nil {
		return nil, err
	}
	return n.neighbors(key, from), nil
}

// rpcFindValue serves find_value [sender_id, key] -> {"value": v} when the
// value is held here, else the find_node answer.
func (n *Node) rpcFindValue(_ context.Context, req *rpcudp.Request) (any, error) {
	from, key, err := n.findArgs(req)
	if err != nil {
		return nil, err
	}
	v, ok, err := n.storage.Get(key)
	if err != nil {
		return nil, fmt.Errorf("find_value %s: %w", key, err)
	}
	if ok {
		return map[string]any{"value": v}, nil
	}
	return n.neighbors(key, from), nil
}
