package kademlia_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/rpcudp/go-rpcudp/kademlia"
	"github.com/rpcudp/go-rpcudp/kademlia/boltstore"
)

// Two nodes on loopback: the second joins through the first, sets a key,
// and the first gets it.
func Example() {
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

// The README's lines, errors ignored for brevity.
func Example_tenLines() {
	ctx := context.Background()
	first, _ := kademlia.Listen(ctx, "127.0.0.1:0", kademlia.Config{})
	defer first.Close()
	second, _ := kademlia.Listen(ctx, "127.0.0.1:0", kademlia.Config{})
	defer second.Close()
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
	a, err := kademlia.Listen(ctx, "127.0.0.1:0", kademlia.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	b, err := kademlia.Listen(ctx, "127.0.0.1:0", kademlia.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
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

// GetOptions{SkipLocal: true} asks the network even though this node
// holds the key: here the only other node has dropped its copy.
func ExampleNode_Get_skipLocal() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "kademlia-example")
	defer os.RemoveAll(dir)
	storeA, err := boltstore.Open(filepath.Join(dir, "a.db"), kademlia.StorageConfig{})
	if err != nil {
		log.Fatal(err)
	}
	defer storeA.Close()
	a, err := kademlia.Listen(ctx, "127.0.0.1:0", kademlia.Config{Storage: storeA})
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	b, err := kademlia.Listen(ctx, "127.0.0.1:0", kademlia.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	if _, err := b.Bootstrap(ctx, []netip.AddrPort{a.Addr()}); err != nil {
		log.Fatal(err)
	}
	if err := b.Set(ctx, "k", "v"); err != nil {
		log.Fatal(err)
	}
	key, _ := kademlia.Digest("k")
	storeA.Delete(key)

	_, local, _ := b.Get(ctx, "k")
	_, remote, _ := b.Get(ctx, "k", kademlia.GetOptions{SkipLocal: true})
	fmt.Println(local, remote)
	// Output: true false
}

// Set refuses values Python cannot hold before sending anything.
func ExampleNode_Set() {
	n, _ := kademlia.Listen(context.Background(), "127.0.0.1:0", kademlia.Config{})
	defer n.Close()
	err := n.Set(context.Background(), "key", []string{"a", "list"})
	fmt.Println(err)
	// Output: kademlia: unsupported value type: []string (Python kademlia accepts only str, bytes, int, float and bool)
}

// Save the state when stopping and restart with the same id, rejoining
// through the saved neighbours.
func ExampleLoadState() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "kademlia-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "node.state")

	peer, err := kademlia.Listen(ctx, "127.0.0.1:0", kademlia.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer peer.Close()

	n, err := kademlia.Listen(ctx, "127.0.0.1:0", kademlia.Config{K: 10})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := n.Bootstrap(ctx, []netip.AddrPort{peer.Addr()}); err != nil {
		log.Fatal(err)
	}
	if err := n.SaveState(path, 0); err != nil { // SaveState(path, time.Minute) saves every minute and at Close too
		log.Fatal(err)
	}
	n.Close()

	st, err := kademlia.LoadState(path)
	if err != nil {
		log.Fatal(err)
	}
	restarted, err := kademlia.Listen(ctx, "127.0.0.1:0", kademlia.Config{ID: st.ID, K: st.K, Alpha: st.Alpha})
	if err != nil {
		log.Fatal(err)
	}
	defer restarted.Close()
	contacts, err := restarted.Bootstrap(ctx, st.Neighbors)
	fmt.Println(restarted.ID() == n.ID(), st.K, len(contacts), err)
	// Output: true 10 1 <nil>
}

// A node joins a running network in one call: Join listens on an
// ephemeral port suited to the bootstrap address (here 127.0.0.1:0) and
// bootstraps from it.
func ExampleJoin() {
	ctx := context.Background()
	first, err := kademlia.Listen(ctx, "127.0.0.1:0", kademlia.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer first.Close()

	second, err := kademlia.Join(ctx, "", kademlia.Config{}, first.Addr())
	if err != nil {
		log.Fatal(err)
	}
	defer second.Close()
	fmt.Println(second.Addr().Addr())
	// Output: 127.0.0.1
}
