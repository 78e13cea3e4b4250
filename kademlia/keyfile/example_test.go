package keyfile_test

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/rpcudp/go-rpcudp/kademlia/keyfile"
)

// The writer of signed records keeps its key in a file: the first Load
// creates it, later ones read the same key. Readers of the records are
// given the public key in hex.
func ExampleLoad() {
	dir, err := os.MkdirTemp("", "keyfile")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "records.key")

	priv, created, err := keyfile.Load(path)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("created:", created)
	again, created, err := keyfile.Load(path)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("created:", created, "same key:", again.Equal(priv))

	pubHex := hex.EncodeToString(priv.Public().(ed25519.PublicKey))
	pub, err := keyfile.ParsePublic(pubHex)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("public key round trip:", pub.Equal(priv.Public()))
	// Output:
	// created: true
	// created: false same key: true
	// public key round trip: true
}
