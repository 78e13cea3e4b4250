// Command node runs a long-lived Kademlia DHT node, the Go version of
// Python kademlia's examples/node.py. It is wire-compatible with Python
// nodes, so the two can share a network.
//
// Usage:
//
//	go run ./examples/node [-listen 0.0.0.0:8468] [-i IP -p PORT]
//	    [-state FILE [-save-every 5m]] [-db FILE] [-metrics ADDR] [-v]
//
// Start a first node:
//
//	go run ./examples/node
//
// and join it from a second one (on another port when on the same host):
//
//	go run ./examples/node -listen 0.0.0.0:8469 -i 127.0.0.1 -p 8468
//
// Then store and read values with ./examples/set and ./examples/get.
//
// Flags:
//
//	-listen ADDR     UDP address to serve on (default 0.0.0.0:8468)
//	-i IP -p PORT    bootstrap from the node at IP:PORT (IP may be a name)
//	-state FILE      if FILE exists, reuse the id, k and alpha saved in it
//	                 and bootstrap from its neighbors too; save the state
//	                 every -save-every (default 5m) and at shutdown (a new
//	                 file is written at start, so an unwritable path fails
//	                 at once and a lone node's id survives a restart)
//	-db FILE         keep stored values in a bbolt file (default: memory); a
//	                 corrupt file is an error naming it (exit 1)
//	-metrics ADDR    serve Prometheus metrics on http://ADDR/metrics
//	                 (e.g. 127.0.0.1:9468): datagrams, calls, drops, table,
//	                 storage, lookup latency and hops, hand-off, reply budget
//	-v               debug logging
//
// The node prints its id and address when it starts, and shuts down
// cleanly (saving its state) on SIGINT or SIGTERM. It exits 0 after a clean
// shutdown, 1 when it cannot start and 2 on bad arguments.
package main
