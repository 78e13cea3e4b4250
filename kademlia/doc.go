// Package kademlia is a Kademlia distributed hash table that joins, datagram
// for datagram, the networks of Python's kademlia 2.2.x (built on rpcudp
// 5.x): same RPCs (ping, stun, store, find_node, find_value), same msgpack
// types (ids and keys as bin, IPs as str), same key hashing (Digest), same
// value types (str, bytes, int, float, bool: Value).
//
// # Use
//
//	n, err := kademlia.NewNode(kademlia.Config{})
//	err = n.Listen(ctx, "0.0.0.0:8468")
//	defer n.Close()
//	_, err = n.Bootstrap(ctx, []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:8469")})
//	err = n.Set(ctx, "my-key", "my value")
//	v, found, err := n.Get(ctx, "my-key")
//
// # Where things happen
//
//   - node.go: Config and its defaults, the Node and its lifecycle
//     (NewNode, Listen/Serve, Close), Bootstrap, Get/GetDigest,
//     Set/SetDigest (setDigest: lookup, local copy, stores), Stun.
//   - protocol.go: the RPC handlers (rpcPing, rpcStun, rpcStore,
//     rpcFindNode, rpcFindValue), the routing table bookkeeping every RPC
//     does (seen: add the peer, ping a full bucket's head, welcome a new
//     peer with the keys it should hold; record: count failures), the
//     client calls (pingAddr, callFindNode, callFindValue, callStore) and
//     the strict parsing of peers' answers.
//   - lookup.go: the iterative node and value lookups (lookup), with Alpha
//     requests in flight at all times, and the caching store after a value
//     is found.
//   - maintenance.go: the periodic loop (maintain): bucket refresh and the
//     hourly republish (refresh), the 24-hour republish of our own keys
//     (republishOriginals).
//   - state.go: SaveState, LoadState, SaveStateRegularly.
//   - table.go, nodeheap.go, storage*.go, value.go, id.go, contact.go: the
//     routing table, a lookup's candidate set, value storage (memory and
//     bbolt), values, ids and contacts.
//
// # Differences from Python's kademlia
//
// They fix Python's bugs or fill its gaps; none changes the wire format.
//
//   - A contact leaves the routing table after Config.MaxFailures
//     consecutive failed RPCs (default 5), not after one timeout. Meanwhile
//     it is suspect: lookups skip it, find_node answers leave it out, and a
//     background probe pings it until it answers (and is as good as ever)
//     or reaches MaxFailures, so a dead peer costs one lookup one
//     Config.QueryTimeout (1 s), not every lookup a full RPC timeout.
//   - RPCs are retried (same message id; 400 ms, then doubling, up to 2 s)
//     until their deadline: every Kademlia RPC is idempotent, so this is
//     harmless to Python peers and saves lookups from lost datagrams.
//   - Lookups keep Alpha requests in flight instead of running lockstep
//     rounds that wait for the slowest peer, and survive malformed answers
//     (the peer is dropped from the lookup and counted as failed).
//   - When a new node is seen, the keys handed to it are chosen by their
//     distance to the stored key digest itself (Python hashes the digest
//     again), asynchronously and with bounded concurrency.
//   - Set with no known peers, or whose stores all fail, returns an error
//     (Python crashes with max([]) or returns False). The publisher always
//     keeps its own copy (marked Original) and sets it again every
//     Config.OriginalRepublishInterval (Python never does).
//   - Caching: a value found by a lookup is stored at the closest node that
//     answered without it. Since the wire store carries no lifetime, the
//     receiving node decides: a store for a key of which the node knows at
//     least K contacts closer than itself is a cache store, kept for the
//     storage TTL halved once for each such contact beyond K-1 (at most 16
//     halvings, at least a minute); a key already held keeps its expiry.
//   - Request handlers answer Go callers with an error reply (rpcudp's
//     extension type, which Python ignores) instead of staying silent.
//   - Every goroutine is owned: Close stops and waits for all of them.
package kademlia
