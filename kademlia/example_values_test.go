package kademlia_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"time"

	"github.com/rpcudp/go-rpcudp/kademlia"
	"github.com/vmihailenco/msgpack/v5"
)

// A struct travels as bytes: its msgpack encoding. msgpack reads the
// `msgpack` tags and ignores `json` ones (Port goes out as "port").
func Example_structValue() {
	type Device struct {
		Name string `msgpack:"name"`
		Port int    `msgpack:"port" json:"p"`
	}
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

	data, err := msgpack.Marshal(Device{Name: "lamp", Port: 8080})
	if err != nil {
		log.Fatal(err)
	}
	if err := b.Set(ctx, "device", data); err != nil {
		log.Fatal(err)
	}
	v, _, err := a.Get(ctx, "device")
	if err != nil {
		log.Fatal(err)
	}
	raw, _ := v.Interface() // []byte
	var d Device
	if err := msgpack.Unmarshal(raw.([]byte), &d); err != nil {
		log.Fatal(err)
	}
	var fields map[string]any
	_ = msgpack.Unmarshal(raw.([]byte), &fields)
	fmt.Println(d.Name, d.Port, fields)
	// Output: lamp 8080 map[name:lamp port:8080]
}

// A per-call timeout is the context's: Get gives up when ctx ends.
func ExampleNode_Get_timeout() {
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

	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, found, err := b.Get(ctx, "nobody set this")
	fmt.Println(found, err)
	// Output: false <nil>
}
