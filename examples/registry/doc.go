// Command registry is service discovery on the Kademlia DHT, in the manner
// of RPyC's registry with keepalives: services announce a name and address
// and keep renewing them; lookups list the addresses still alive. A service
// that stops renewing (because it crashed, say) vanishes after its TTL
// without anyone deleting it.
//
// Usage:
//
//	registry announce -join HOST:PORT -name NAME -addr SERVICE_ADDR [-ttl 30s] [-key FILE]
//	registry lookup   -join HOST:PORT -name NAME [-key FILE | -owner HEX]
//	registry call     -join HOST:PORT -name NAME [-key FILE | -owner HEX] [-server ADDR | -fanout] METHOD [ARG...]
//
// All join the DHT through the node at HOST:PORT (e.g. one run with
// ./examples/node) from an ephemeral UDP port. announce publishes NAME ->
// SERVICE_ADDR and renews it every TTL/3 until interrupted (SIGINT or
// SIGTERM); it then withdraws the record so it vanishes at once. lookup
// prints the live addresses of NAME, one per line, and exits 1 when there
// are none. Both exit 2 on bad arguments or when HOST:PORT does not answer.
//
// call calls METHOD on one live server of NAME, with each ARG written in
// JSON as for examples/call, and prints the reply as examples/call does. It
// tries the live servers in a random order, moving to the next when one does
// not answer within -timeout. -server ADDR calls that server only (it must
// be one of NAME's live announcements); -fanout calls all of them at once
// and prints one JSON line per server, in address order:
//
//	{"server":"127.0.0.1:7001","reply":"Hello"}
//	{"server":"127.0.0.1:7002","error":{"code":1,"message":"no luck"}}
//	{"server":"127.0.0.1:7003","error":{"message":"No response received."}}
//
// call's exit status is examples/call's: 0 for a reply, 1 for an error
// reply, 2 when no server answered (or none is live), 3 for bad usage or a
// local failure (HOST:PORT not answering included); under -fanout, the
// worst of the servers'.
//
// Common flags: -timeout (how long each RPC waits, default 5s), -listen
// (the local UDP address; default chosen from HOST) and -v (debug logs).
//
// Announcements are signed records (kademlia.Record): nobody without the
// signing key can add, overwrite or withdraw one. With -key FILE, announce
// signs with the ed25519 key in FILE (created, mode 0600, when missing) and
// prints its public key in hex; lookup and call then read the
// announcements of that key, given as -owner HEX (or as -key FILE, read
// only). Without either, a name is open: its key is derived from the name
// (openKey), so anybody may announce under it. Each record lives under the
// salt "registry:NAME:SLOT" (SLOT 0 to 15) and holds the string
// "ADDR|EXPIRY_UNIX_MILLIS"; Python kademlia nodes store and serve the
// records as bytes. See registry.
package main
