package main

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/rpcudp/go-rpcudp/kademlia"
)

// testCtx returns a context that ends with the test or after 10 seconds.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// startNetwork starts n DHT nodes on 127.0.0.1, each bootstrapped from the
// first, and closes them with the test.
func startNetwork(t testing.TB, n int) []*kademlia.Node {
	t.Helper()
	ctx := testCtx(t)
	nodes := make([]*kademlia.Node, n)
	for i := range nodes {
		node, err := kademlia.Listen(ctx, "127.0.0.1:0", kademlia.Config{RPCTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { node.Close() })
		nodes[i] = node
		if i > 0 {
			if _, err := node.Bootstrap(ctx, []netip.AddrPort{nodes[0].Addr()}); err != nil {
				t.Fatalf("node %d bootstrap: %v", i, err)
			}
		}
	}
	return nodes
}
