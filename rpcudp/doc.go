// Package rpcudp is asynchronous RPC over UDP, wire-compatible with the
// Python rpcudp package (version 5.x) and the Kademlia networks built on it.
//
// One [Endpoint] owns one UDP socket (a [net.PacketConn]). It serves the
// handlers registered on it and carries the calls its user makes to other
// peers, all on that one socket. Every datagram is
//
//	byte 0      type: 0x00 request, 0x01 response (Python's); 0x02 error, 0x03 notification (extensions)
//	bytes 1..20 message id: 20 random bytes per call
//	bytes 21..  one msgpack value, at most 8 KiB
//
// A request's body is the msgpack array [method, [args...]]; a response's
// body is the handler's return value alone. Python peers ignore the
// extension type bytes, so a mixed network keeps working: Go callers get an
// error reply at once where a Python server would stay silent.
//
// Where things happen, one place each:
//   - a datagram enters in the read loop (endpoint.go, readLoop);
//   - it is decoded in wire.go (parseHeader, parseRequest);
//   - a reply is matched to its pending call in call.go (pendingTable.resolve),
//     strictly by message id and by the address the call was sent to;
//   - a request is dispatched to a bounded handler slot in server.go (dispatch),
//     and answered from there (serve);
//   - every datagram leaves through Endpoint.send (endpoint.go).
//
// Calls time out after 5 seconds by default, like Python's. Retries (off by
// default) resend the same message id; the serving side answers a repeated
// id from a short-lived reply cache instead of running the handler twice.
package rpcudp
