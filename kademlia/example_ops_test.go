package kademlia_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/netip"

	"github.com/rpcudp/go-rpcudp/kademlia"
)

// An operator's view of a node: Metrics is a snapshot of its counters
// (examples/node serves it to Prometheus with -metrics).
func ExampleNode_Metrics() {
	ctx := context.Background()
	first, err := kademlia.Listen(ctx, "127.0.0.1:0", kademlia.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer first.Close()
	second, err := kademlia.Listen(ctx, "127.0.0.1:0", kademlia.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer second.Close()
	if _, err := second.Bootstrap(ctx, []netip.AddrPort{first.Addr()}); err != nil {
		log.Fatal(err)
	}
	if err := second.Set(ctx, "my-key", "my value"); err != nil {
		log.Fatal(err)
	}

	m := second.Metrics()
	fmt.Println("stored keys:", m.StoredKeys)
	fmt.Println("node lookups timed:", m.NodeLookups.Count > 0 && m.NodeLookups.Seconds.Count == m.NodeLookups.Count)
	fmt.Println("answered calls:", m.RPC.CallsOK > 0)
	// Output:
	// stored keys: 1
	// node lookups timed: true
	// answered calls: true
}

// Numbers out of range are refused before anything is allocated.
func ExampleConfig_ranges() {
	_, err := kademlia.Listen(context.Background(), "127.0.0.1:0", kademlia.Config{K: 1_000_000_000_000})
	fmt.Println(errors.Is(err, kademlia.ErrBadConfig))
	fmt.Println(err)
	// Output:
	// true
	// kademlia: bad config: Config.K is 1000000000000, more than its maximum 1024
}
