// Package wire is the project's one msgpack toolkit: the few byte-level
// helpers that github.com/vmihailenco/msgpack/v5 does not offer and that
// both rpcudp and kademlia need.
//
//   - Append* functions write values in the smallest form, exactly as
//     Python's u-msgpack-python and msgpack-python pack them (so a Go peer
//     sends the bytes a Python peer would), without allocating.
//   - Skip and Validate check untrusted input (a datagram from the network)
//     before any decoder sees it: they allocate nothing, bound nesting at
//     MaxDepth, and refuse any length that overruns the data, so no decoder
//     is ever asked to allocate for a size the datagram cannot hold.
//     msgpack.Decoder.Skip does not do this: it copies what it skips into a
//     buffer and has no depth bound.
//   - Read* functions decode one header or value from the front of a byte
//     slice and return what follows, without copying where they can.
//   - KindOf classifies a type code, for example one returned by
//     msgpack.Decoder.PeekCode.
//
// Everything else (encoding and decoding arbitrary Go values, type codes)
// is left to vmihailenco/msgpack and its msgpcode package. The rpcudp
// datagram format built on these helpers is described in
// rpcudp/PROTOCOL.md.
package wire
