// Package dhttest starts small DHT networks on loopback for the example
// commands' tests.
package dhttest

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/rpcudp/go-rpcudp/kademlia"
)

// Ctx returns a context that ends with the test or after 10 seconds.
func Ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// StartNetwork starts n DHT nodes on 127.0.0.1, each bootstrapped from the
// first, and closes them with the test.
func StartNetwork(t testing.TB, n int) []*kademlia.Node {
	t.Helper()
	ctx := Ctx(t)
	nodes := make([]*kademlia.Node, n)
	for i := range nodes {
		node, err := kademlia.NewNode(kademlia.Config{RPCTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { node.Close() })
		if err := node.Listen(ctx, "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		nodes[i] = node
		if i > 0 {
			if _, err := node.Bootstrap(ctx, []netip.AddrPort{nodes[0].Addr()}); err != nil {
				t.Fatalf("node %d bootstrap: %v", i, err)
			}
		}
	}
	return nodes
}
