package kademlia

import (
	"net/netip"
)

// Contact is what the routing layer knows about a remote node: its id and
// the UDP address it answers on. It is the Go form of Python's
// kademlia.node.Node (id, ip, port). Contacts are plain values; copying one
// is safe.
type Contact struct {
	// ID is the node's 160-bit id.
	ID ID
	// Addr is the node's UDP address.
	Addr netip.AddrPort
}

// String returns "<hex id>@<ip:port>", e.g.
// "14dc69de2a1e6087529f02b62fd2888c90d741d3@127.0.0.1:8468".
func (c Contact) String() string {
	return c.ID.String() + "@" + c.Addr.String()
}

// sameHome reports whether c and o are reachable at the same UDP address
// (same IP and port), whatever their ids, like Python's Node.same_home_as.
// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) compare equal to the plain
// IPv4 address.
func (c Contact) sameHome(o Contact) bool {
	return normalizeAddrPort(c.Addr) == normalizeAddrPort(o.Addr)
}

// normalizeAddrPort unmaps IPv4-mapped IPv6 addresses so that equal UDP
// endpoints compare equal with ==.
func normalizeAddrPort(ap netip.AddrPort) netip.AddrPort {
	a := ap.Addr().Unmap()
	return netip.AddrPortFrom(a, ap.Port())
}
