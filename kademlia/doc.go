// Package kademlia is a Kademlia distributed hash table that joins, datagram
// for datagram, the networks of Python's kademlia 2.2.x (built on rpcudp
// 5.x): same RPCs (ping, stun, store, find_node, find_value), same msgpack
// types (ids and keys as bin, IPs as str), same key hashing (Digest), same
// value types (str, bytes, int, float, bool: Value).
//
// # Use
//
//	n, err := kademlia.Listen(ctx, "0.0.0.0:8468", kademlia.Config{})
//	defer n.Close()
//	_, err = n.Bootstrap(ctx, []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:8469")})
//	err = n.Set(ctx, "my-key", "my value")
//	v, found, err := n.Get(ctx, "my-key")
//
// Serve runs a node on any net.PacketConn (rpcudp/simnet in tests). The
// wire protocol, RPC by RPC, is in kademlia/PROTOCOL.md (the datagram layer
// in rpcudp/PROTOCOL.md). Package kademlia/boltstore is a persistent
// Storage on bbolt.
//
// # Where things happen
//
//   - config.go: Config and its defaults, LookupStats, the package's errors.
//   - node.go: the Node and its lifecycle (Listen, Serve, Close), its owned
//     goroutines (goLoop, spawn), Bootstrap, Stun.
//   - dht.go: Get/GetWith/GetDigest and Set/SetDigest (setDigest: lookup,
//     local copy, stores).
//   - routing.go: the routing type, which owns the table and the liveness
//     of its contacts: seen (add, ping a full bucket's head, welcome a
//     newcomer), record (count failures), probe (ping suspect contacts).
//   - table.go, table_closest.go, bucket.go, snapshot.go: the routing
//     table (its add and evict rules, documented on the table type; its
//     mutators unexported), its closest-contact queries, its k-buckets and
//     id ranges, and the read-only TableSnapshot that Node.Table hands out.
//   - revalidate.go: keeping the table free of dead contacts (pinging new
//     and stale contacts; settling a contact claimed from a new address).
//   - iplimit.go: IPLimits, contacts per IP network per bucket and table.
//   - join.go: what follows a Bootstrap (far-bucket refresh, repeated
//     self-lookups); pace.go: freeing the slot of a much slower query.
//   - lookup.go, nodeheap.go: the iterative node and value lookups (the
//     lookup type: Alpha requests in flight at all times, the caching store
//     after a value is found) and a lookup's candidate set.
//   - server.go: the RPC handlers (rpcPing, rpcStun, rpcStore,
//     rpcFindNode, rpcFindValue) and how a store is kept (storeOptions).
//   - client.go, reply.go: the calls (ping, pingAddr, callFindNode,
//     callFindValue, callStore) and the strict parsing of the answers.
//   - handoff.go, handoff_scan.go: handing stored keys to a newly seen
//     contact, after it answers a ping, within Config.HandOffKeys and the
//     hand-off budget; the table-only tests that spare the storage a scan.
//   - storeproof.go, quota.go: a store's caller must answer a ping from
//     its address; the per-source-network share of the storage.
//   - budget.go: the per-source budget of reply bytes (an rpcudp
//     interceptor), so that a node cannot be aimed at a victim.
//   - limits.go: the ranges of Config's numbers (ErrBadConfig) and the
//     budgets' defaults.
//   - metrics.go: Node.Metrics, the snapshot operators read (examples/node
//     serves it to Prometheus).
//   - maintenance.go: the periodic loop (maintain): bucket refresh and the
//     hourly republish (refresh), the 24-hour republish of our own keys
//     (republishOriginals).
//   - state.go: SaveState, LoadState (numbers range-checked),
//     SaveStateRegularly (a lone node saves too).
//   - storage.go, storage_memory.go: the Storage interface (values with
//     their Meta: stored at, expiry, original) and memoryStorage.
//   - value.go, id.go, contact.go: values (and namespaced values, the
//     envelope), ids and key digests, contacts.
//   - record.go, keys.go: signed records (Record, NewRecord, DecodeRecord,
//     their validator) and ed25519 key files.
//   - validator.go, seqfloor.go: the Validator hook, the node's registry
//     (Config.Validators), the check of every store (putChecked) and the
//     highest seq remembered per record key past its expiry.
//   - quorum.go: quorum reads and read repair (choose, repair), GetRecord
//     and PutRecord.
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
//   - A contact that has only called us (a short-lived client, perhaps) is
//     pinged at once and handed out (find_node answers, lookup seeds) only
//     once it has answered a ping a few seconds later; contacts are
//     revalidated (Config.RevalidateInterval), so the table holds no dead
//     client and the state file only contacts that answered recently.
//   - A datagram claiming a known id from another address moves nothing:
//     the contact moves only when its old address fails a ping and the new
//     one answers one with the id (Python moves it at once).
//   - At most 2 contacts per IPv4 /24 (IPv6 /32) per bucket and 10 per
//     table (Config.IPLimits; loopback exempt), and 2 per network among a
//     lookup's candidates.
//   - A lookup takes at most K contacts from one answer, and none at an
//     address the answering peer may not relay (go-ethereum's rules:
//     loopback only from loopback, LAN only from a LAN, never multicast,
//     reserved or documentation addresses).
//   - Bootstrap repeats its self-lookup a few times within a minute, and a
//     lookup frees the slot of a query much slower than the others.
//   - RPCs are retried (same message id; 400 ms, then doubling, up to 2 s)
//     until their deadline: every Kademlia RPC is idempotent, so this is
//     harmless to Python peers and saves lookups from lost datagrams.
//   - Lookups keep Alpha requests in flight instead of running lockstep
//     rounds that wait for the slowest peer, and survive malformed answers
//     (the peer is dropped from the lookup and counted as failed).
//   - When a new node is seen, the keys handed to it are chosen by their
//     distance to the stored key digest itself (Python hashes the digest
//     again), asynchronously and with bounded concurrency; and only to a
//     newcomer that has answered a ping from its address (Python stores
//     at once), at most Config.HandOffKeys keys each and
//     Config.HandOffBytesPerSecond for all together (the hourly republish
//     stores the rest). The held keys are read only when the routing table
//     leaves some of them to the newcomer.
//   - A store from a caller not known to answer at its address is kept
//     only once it answers a ping from there (spoofed stores store
//     nothing), and the stores of one source network hold at most a 64th
//     of the storage (quota.go).
//   - Every source address has a budget of reply bytes
//     (Config.ReplyBytesPerSecond): over it, a request gets no answer, so
//     spoofed requests draw little toward the address they claim. The
//     endpoint's reply cache is off unless Config.RPCOptions turns it on
//     (a repeated request runs its handler again, as with Python).
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
//   - Signed, versioned records (PutRecord, GetRecord) and values checked
//     by a Validator: Go nodes refuse forged, misplaced and rolled-back
//     records and compare-and-swap conflicts, ignore invalid copies in
//     lookups and repair stale holders (PROTOCOL.md, "Namespaced values and
//     signed records"); Python nodes store them as plain bytes. A writer
//     believes a refusal only when the refuser shows a valid value that
//     justifies it (confirmRefusal).
package kademlia
