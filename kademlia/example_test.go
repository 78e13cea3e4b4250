package kademlia_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/rpcudp/go-rpcudp/kademlia"
)

// Two nodes on loopback: the second joins through the first, sets a key,
// and the first gets it.
func Example() {
	ctx := context.Background()
	first, err := kademlia.NewNode(kademlia.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer first.Close()
	if err := first.Listen(ctx, "127.0.0.1:0"); err != nil {
		log.Fatal(err)
	}

	second, err := kademlia.NewNode(kademlia.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer second.Close()
	if err := second.Listen(ctx, "127.0.0.1:0"); err != nil {
		log.Fatal(err)
	}
	if _, err := second.Bootstrap(ctx, []netip.AddrPort{first.Addr()}); err != nil {
		log.Fatal(err)
	}
	if err := second.Set(ctx, "my-key", "my awesome value"); err != nil {
		log.Fatal(err)
	}

	v, found, err := first.Get(ctx, "my-key")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(found, v)
	// Output: true my awesome value
}

// The README's ten lines, errors ignored for brevity.
func Example_tenLines() {
	ctx := context.Background()
	first, _ := kademlia.NewNode(kademlia.Config{})
	defer first.Close()
	first.Listen(ctx, "127.0.0.1:0")
	second, _ := kademlia.NewNode(kademlia.Config{})
	defer second.Close()
	second.Listen(ctx, "127.0.0.1:0")
	second.Bootstrap(ctx, []netip.AddrPort{first.Addr()})
	second.Set(ctx, "my-key", "my awesome value")
	v, found, err := first.Get(ctx, "my-key")
	fmt.Println(found, v, err)
	// Output: true my awesome value <nil>
}

// Values keep their Python types: an int set by one node is an int for
// every other node (and for Python peers).
func ExampleNode_Get() {
	ctx := context.Background()
	a, _ := kademlia.NewNode(kademlia.Config{})
	defer a.Close()
	b, _ := kademlia.NewNode(kademlia.Config{})
	defer b.Close()
	if err := a.Listen(ctx, "127.0.0.1:0"); err != nil {
		log.Fatal(err)
	}
	if err := b.Listen(ctx, "127.0.0.1:0"); err != nil {
		log.Fatal(err)
	}
	if _, err := b.Bootstrap(ctx, []netip.AddrPort{a.Addr()}); err != nil {
		log.Fatal(err)
	}
	for key, value := range map[string]any{"answer": 42} {
		if err := a.Set(ctx, key, value); err != nil {
			log.Fatal(err)
		}
	}
	v, _, _ := b.Get(ctx, "answer")
	x, _ := v.Interface()
	fmt.Printf("%v %T\n", v, x)

	_, found, _ := b.Get(ctx, "question")
	fmt.Println(found)
	// Output:
	// 42 int64
	// false
}

// Set refuses values Python cannot hold before sending anything.
func ExampleNode_Set() {
	n, _ := kademlia.NewNode(kademlia.Config{})
	defer n.Close()
	err := n.Set(context.Background(), "key", []string{"a", "list"})
	fmt.Println(err)
	// Output: kademlia: set: kademlia: unsupported value type: []string (Python kademlia accepts only str, bytes, int, float and bool)
}

// Save the state when stopping and restart with the same id, rejoining
// through the saved neighbours.
func ExampleLoadState() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "kademlia-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "node.state")

	peer, _ := kademlia.NewNode(kademlia.Config{})
	defer peer.Close()
	if err := peer.Listen(ctx, "127.0.0.1:0"); err != nil {
		log.Fatal(err)
	}

	n, _ := kademlia.NewNode(kademlia.Config{K: 10})
	if err := n.Listen(ctx, "127.0.0.1:0"); err != nil {
		log.Fatal(err)
	}
	if _, err := n.Bootstrap(ctx, []netip.AddrPort{peer.Addr()}); err != nil {
		log.Fatal(err)
	}
	n.SaveStateRegularly(path, 0) // saves at Close
	n.Close()

	st, err := kademlia.LoadState(path)
	if err != nil {
		log.Fatal(err)
	}
	restarted, _ := kademlia.NewNode(kademlia.Config{ID: st.ID, K: st.K, Alpha: st.Alpha})
	defer restarted.Close()
	if err := restarted.Listen(ctx, "127.0.0.1:0"); err != nil {
		log.Fatal(err)
	}
	contacts, err := restarted.Bootstrap(ctx, st.Neighbors)
	fmt.Println(restarted.ID() == n.ID(), st.K, len(contacts), err)
	// Output: true 10 1 <nil>
}
