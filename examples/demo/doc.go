// Command demo starts a small Kademlia network of Go nodes on loopback,
// stores a few keys from some nodes, reads every key back from the other
// nodes and prints a short summary: how many keys were found, how many RPCs
// and hops each lookup took, Get latency percentiles and the datagrams
// exchanged.
//
// Usage:
//
//	go run ./examples/demo [-nodes 20] [-keys 10] [-gets-per-key N] [-6]
//	    [-k 5] [-alpha 3] [-rpc-timeout 2s] [-timeout 60s] [-seed N] [-settle 5s] [-v]
//
// Node i bootstraps from node 0 and from a random earlier node, all nodes
// at once. The demo then waits (it says so) until every node that joined
// has repeated its self-lookup, at most -settle (-settle 0: no wait):
// Bootstrap's first self-lookup finds only the neighbours known and
// verified when it runs, and in a wave of joins many are not yet (a node
// hands out a contact that has only called it once that contact has
// answered a ping, two seconds later), so a node repeats its self-lookup a
// few seconds after joining; the neighbourhoods of a flash crowd are
// complete only then. Each key is then set from one node and got from
// every other node (or from -gets-per-key of them, chosen at random). -6
// runs the network on [::1] instead of 127.0.0.1. It exits 0 only if every
// Get found its key's value, 1 otherwise.
//
// The demo's k defaults to 5 rather than Kademlia's 20: with k=20 every
// node of a 20-node network stores every key, so every Get would be
// answered from the getter's own storage and no lookup would be shown.
// Lookups are reported per phase (bootstrap, settle, set, get) and kind
// (node or value lookup, from kademlia.Config.OnLookup); Gets answered
// locally run no lookup. A lookup stops as soon as it has its answer, and
// cancels the queries it still has in flight: the summary counts those
// calls as cancelled, apart from the calls that failed (error replies,
// send errors) or timed out.
package main
