// Package simnet is a deterministic, in-memory simulation of a lossy UDP
// network. Its endpoints ([*Conn]) implement [net.PacketConn], so code
// written against UDP sockets — an rpcudp endpoint, a Kademlia node, or
// anything else that accepts a net.PacketConn — runs on it unchanged, while a
// test controls latency, jitter, loss, duplication, reordering, partitions
// and receive-queue overflow.
//
// # Use
//
// Create a [Network], listen on addresses, and hand the conns to the code
// under test where it would otherwise get a socket from net.ListenPacket:
//
//	n := simnet.New(simnet.Config{Seed: 1, Latency: 20 * time.Millisecond, Loss: 0.01})
//	defer n.Close()
//	pc, err := n.ListenPacket("udp", "127.0.0.1:0") // instead of net.ListenPacket
//	if err != nil { ... }
//	ep := rpcudp.New(pc)
//
// Addresses are ordinary [netip.AddrPort] values; nothing is sent on a real
// network, so any address works, but by convention tests use loopback-range
// addresses such as 127.0.0.1, 127.0.0.2, ... and ::1. Besides the
// net.PacketConn methods, a Conn has the allocation-light
// ReadFromUDPAddrPort and WriteToUDPAddrPort methods of [*net.UDPConn].
//
// Semantics follow UDP: writing to an address nobody listens on silently
// drops the datagram, datagrams larger than Config.MaxDatagram are refused
// with an error, a full receive queue drops new arrivals, and data is copied
// on write so the caller may reuse its buffer.
//
// # Determinism
//
// Every random decision (loss, duplication, jitter, reordering) is drawn from
// one math/rand/v2 generator seeded with Config.Seed and guarded by a mutex,
// so the same seed and the same sequence of writes produce the same
// decisions. Delayed datagrams are delivered by a single scheduler goroutine
// per Network, which keeps a min-heap of pending deliveries ordered by due
// time and then by send order; with zero latency and jitter a datagram is
// placed in the receiver's queue synchronously, before WriteTo returns.
//
// # Virtual time
//
// A Network only blocks on channels and timers, so it works inside a
// testing/synctest bubble: time is then virtual, and a test of a thousand
// nodes with 50 ms latency runs in milliseconds of real time and in a fully
// reproducible order. Create (and Close) the Network inside the bubble.
//
// Call [Network.Close] when done: it stops the scheduler goroutine and closes
// every conn, so no goroutine is left behind.
package simnet
