// Package kademlia is a Kademlia distributed hash table that joins, datagram
// for datagram, the networks of Python's kademlia 2.2.x (built on rpcudp
// 5.x): same RPCs (ping, stun, store, find_node, find_value), same msgpack
// types (ids and keys as bin, IPs as str), same key hashing (Digest), same
// value types (str, bytes, int, float, bool: Value).
//
//	n, err := kademlia.Join(ctx, "0.0.0.0:8468", kademlia.Config{}, netip.MustParseAddrPort("127.0.0.1:8469"))
//	defer n.Close()
//	err = n.Set(ctx, "my-key", "my value")
//	v, found, err := n.Get(ctx, "my-key")
//
// Package kademlia/boltstore is a persistent Storage. Signed records
// (PutRecord, GetRecord; kademlia/keyfile keeps their key) and Validators
// are Go's additions (Python nodes store them as bytes). kademlia/PROTOCOL.md has the wire protocol and
// what a Go node does beyond Python's, none of which changes the wire.
package kademlia
