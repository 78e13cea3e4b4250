package wire

// The rpcudp datagram framing (rpcudp/PROTOCOL.md), for code that reads or
// writes datagrams itself: tests, fuzzers, a proxy. An rpcudp user never
// needs them.
const (
	// HeaderLen is the length of a datagram's header: the type byte and
	// the 20-byte message id.
	HeaderLen = 1 + 20

	// Datagram type bytes. 0x00 and 0x01 are Python rpcudp's; the others
	// are extensions that Python peers ignore.
	TypeRequest  byte = 0x00 // [method, [args...]]
	TypeResponse byte = 0x01 // the handler's result
	TypeError    byte = 0x02 // [code, method, message], to Go callers only
	TypeNotify   byte = 0x03 // [method, [args...]], answered by nothing
)
