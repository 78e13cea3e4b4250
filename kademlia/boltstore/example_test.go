package boltstore_test

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

// A node on a bbolt file keeps what it stores across restarts.
func ExampleOpen() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "boltstore-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "dht.db")

	st, err := boltstore.Open(path, kademlia.StorageConfig{})
	if err != nil {
		log.Fatal(err)
	}
	a, err := kademlia.Listen(ctx, "127.0.0.1:0", kademlia.Config{Storage: st})
	if err != nil {
		log.Fatal(err)
	}
	b, err := kademlia.Listen(ctx, "127.0.0.1:0", kademlia.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	if _, err := b.Bootstrap(ctx, []netip.AddrPort{a.Addr()}); err != nil {
		log.Fatal(err)
	}
	if err := b.Set(ctx, "k", "kept on disk"); err != nil {
		log.Fatal(err)
	}
	a.Close()
	st.Close() // the node does not close a Storage it was given

	st, err = boltstore.Open(path, kademlia.StorageConfig{})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	key, _ := kademlia.Digest("k")
	v, found, err := st.Get(key)
	fmt.Println(v, found, err)
	// Output: kept on disk true <nil>
}
