package kademlia_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log"
	"net/netip"

	"github.com/rpcudp/go-rpcudp/kademlia"
)

// A record signed with a key made from a fixed seed: anyone can check it,
// and it lives at the key SHA-1(public key || salt).
func ExampleNewRecord() {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	r, err := kademlia.NewRecord(priv, []byte("name"), 1, []byte("hello"))
	if err != nil {
		log.Fatal(err)
	}
	v, err := r.Encode() // the value stored in the DHT: one msgpack bin
	if err != nil {
		log.Fatal(err)
	}
	got, err := kademlia.DecodeRecord(v)
	fmt.Println(got.Seq, string(got.Value), err, got.Key() == r.Key())

	forged := got
	forged.Value = []byte("goodbye")
	fmt.Println(errors.Is(forged.Verify(), kademlia.ErrBadSignature))
	// Output:
	// 1 hello <nil> true
	// true
}

// The README's signed-record lines, errors ignored for brevity: the
// second node publishes a record signed with its key, the first reads it
// by public key and salt.
func Example_signedRecord() {
	ctx := context.Background()
	first, _ := kademlia.Listen(ctx, "127.0.0.1:0", kademlia.Config{})
	defer first.Close()
	second, _ := kademlia.Listen(ctx, "127.0.0.1:0", kademlia.Config{})
	defer second.Close()
	second.Bootstrap(ctx, []netip.AddrPort{first.Addr()})
	pub, priv, _ := ed25519.GenerateKey(nil)
	second.PutRecord(ctx, priv, []byte("name"), []byte("v1"), kademlia.PutRecordOptions{})
	second.PutRecord(ctx, priv, []byte("name"), []byte("v2"), kademlia.PutRecordOptions{})
	r, found, err := first.GetRecord(ctx, pub, []byte("name"), kademlia.GetOptions{})
	fmt.Println(found, r.Seq, string(r.Value), err)
	// Output: true 2 v2 <nil>
}

// A compare-and-swap: a put that expects a seq which is no longer the
// newest fails with ErrSeqConflict instead of silently losing the other
// writer's update.
func ExampleNode_PutRecord() {
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
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		log.Fatal(err)
	}
	salt := []byte("counter")
	first, err := a.PutRecord(ctx, priv, salt, []byte("1"), kademlia.PutRecordOptions{})
	if err != nil {
		log.Fatal(err)
	}
	// Two writers both read seq 1 and both try to replace it.
	expect := first.Seq
	_, errB := b.PutRecord(ctx, priv, salt, []byte("2 by b"), kademlia.PutRecordOptions{ExpectSeq: &expect})
	_, errA := a.PutRecord(ctx, priv, salt, []byte("2 by a"), kademlia.PutRecordOptions{ExpectSeq: &expect})
	fmt.Println(errB, errors.Is(errA, kademlia.ErrSeqConflict))
	// Output: <nil> true
}
