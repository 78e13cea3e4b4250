// Package rpcudp is asynchronous RPC over UDP, wire-compatible with the
// Python rpcudp package (version 5.x) and the Kademlia networks built on it.
//
// One [Endpoint] owns one UDP socket (a [net.PacketConn]). It serves the
// handlers registered on it and carries the calls its user makes to other
// peers, all on that one socket. Every datagram is
//
//	byte 0      type: 0x00 request, 0x01 response (Python's); 0x02 error, 0x03 notification (extensions)
//	bytes 1..20 message id: 20 random bytes per call
//	bytes 21..  one msgpack value, at most 8 KiB (a reply received: up to a whole UDP datagram)
//
// A request's body is the msgpack array [method, [args...]]; a response's
// body is the handler's return value alone. Python peers ignore the
// extension type bytes, so a mixed network keeps working: Go callers get an
// error reply at once where a Python server would stay silent.
//
// The format in full is in PROTOCOL.md in this package's directory; the
// msgpack helpers it is built on are in the subpackage wire.
//
// # Values
//
// Arguments and results are packed as Python's u-msgpack packs them: Go
// string as str, []byte as bin, integers in their smallest form, float64 as
// float64, slices as arrays, maps as maps, nil as nil. A string that is not
// valid UTF-8 never leaves as a str (a Python peer would drop the whole
// datagram): a call fails with ErrInvalidUTF8 before sending, a handler's
// result becomes an error reply, and error messages are made valid.
//
// Decoded into an interface (Reply.Decode(&v), Request.DecodeArgs(&v), a
// typed handler's any parameter), every value a Python peer can send
// decodes into Go values that pack back to the same msgpack:
//
//	nil -> nil, bool -> bool, str -> string, bin -> []byte
//	int -> int8..int64, uint8..uint64 (by the width on the wire)
//	float -> float32 or float64, array -> []any
//	map with str keys only -> map[string]any
//	map with any other key -> map[any]any, keys: string (str), Bin (bin),
//	    the integer and float types, bool, nil
//
// A bin key becomes a Bin (a []byte cannot be a Go map key), which packs
// as bin again. A map key that Go cannot hash (an array: a Python tuple)
// fails the decoding.
//
// # Sizes and bursts
//
// Requests and notifications carry at most MaxBody (8 KiB) bytes of body,
// both ways, as in Python; a reply received may fill a UDP datagram
// (65507 bytes of body over IPv4), since Python caps only its requests,
// while a Go handler's reply stays within MaxBody. An endpoint asks for
// 4 MiB socket buffers (WithSocketBuffers), so that bursts wait in the
// kernel, and reports what it was granted and the datagrams the kernel
// dropped (Linux) in Stats. An idle endpoint holds no read buffer: a UDP
// socket is read with recvmmsg into buffers taken from a shared pool only
// while datagrams are there; a simnet conn hands its datagrams over.
//
// Where things happen, one place each:
//   - a datagram enters in the read loop (endpoint.go, readLoop), read by a
//     receiver (rx.go; rx_linux.go for UDP sockets);
//   - it is decoded in datagram.go (parseHeader, parseRequest), after
//     wire.Validate has checked that its msgpack is well formed and fits;
//   - a reply is matched to its pending call in pending.go
//     (pendingTable.deliver), strictly by message id and by the address the
//     call was sent to;
//   - a request is dispatched to a bounded handler slot in server.go
//     (dispatch), runs on a goroutine of its own (a runner, kept for the
//     next request while the endpoint is busy) and is answered from there
//     (serve); values are packed and unpacked in codec.go and generic.go;
//   - every datagram leaves through Endpoint.send (endpoint.go); the
//     server side's replies first pass the 3x rule in sendReply (proof.go),
//     which a matched reply (a proof) and each request (its credit) feed.
//
// # Strangers
//
// A request's source address can be forged, and nothing a stranger sends
// should cost an endpoint more than it brings:
//   - the 3x rule: no reply toward an address that has not proved it
//     receives exceeds 3x the bytes that address sent (proof.go). An
//     address is proven for 10 minutes by answering one of the endpoint's
//     calls; loopback always is. A reply over the credit is held while the
//     endpoint pings the address (the built-in rpcudp.ping, or the prover
//     given to WithAntiAmplification: Python peers do not serve
//     rpcudp.ping), sent on proof, dropped otherwise (Stats.Drops.Unproven);
//   - every request, an unknown method's too, passes the interceptors in a
//     handler slot, and one source gets no more than its share of the
//     slots while half of them are busy (WithHandlerSlots).
//
// Calls time out after 5 seconds by default, like Python's. Retries (off by
// default) resend the same message id; the serving side answers a repeated
// id from a short-lived reply cache instead of running the handler twice
// (after the interceptors, like any request).
//
// # Contexts
//
// A nil context is context.Background() wherever this package takes one.
// Listen's context covers opening the socket only (an already cancelled
// one fails Listen): once Listen returns, the endpoint serves until Close,
// whatever becomes of that context. A call's context bounds that call
// (its deadline, when earlier than the timeout, is the call's) and may
// carry per-call options (WithCallOptions). Handlers get a context that
// Shutdown cancels when it gives up waiting for them.
package rpcudp
