package simnet_test

import (
	"bytes"
	"fmt"
	"net"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp/simnet"
)

// upperEcho is ordinary code written for UDP sockets: it answers every
// datagram with its upper-cased payload until the conn is closed.
func upperEcho(pc net.PacketConn) {
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		pc.WriteTo(bytes.ToUpper(buf[:n]), from)
	}
}

// Example runs code written for net.PacketConn on a simulated network with
// 20 ms of latency.
func Example() {
	n := simnet.New(simnet.Config{Seed: 1, Latency: 20 * time.Millisecond})
	defer n.Close()

	server, err := n.ListenPacket("udp", "127.0.0.1:9000")
	if err != nil {
		panic(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		upperEcho(server)
	}()

	client, err := n.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	if _, err := client.WriteTo([]byte("hello"), server.LocalAddr()); err != nil {
		panic(err)
	}
	buf := make([]byte, 1500)
	m, from, err := client.ReadFrom(buf)
	if err != nil {
		panic(err)
	}
	fmt.Printf("reply from %v: %q\n", from, buf[:m])

	server.Close()
	<-done
	st := n.Stats()
	fmt.Println("sent:", st.Sent, "delivered:", st.Delivered)
	// Output:
	// reply from 127.0.0.1:9000: "HELLO"
	// sent: 2 delivered: 2
}
