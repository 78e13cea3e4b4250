package kademlia

import (
	"net/netip"
)

// Contact is a remote node's id and the UDP address it answers on (Python's
// kademlia.node.Node).
type Contact struct {
	// ID is the node's 160-bit id.
	ID ID
	// Addr is the node's UDP address.
	Addr netip.AddrPort
}

// String returns "<hex id>@<ip:port>".
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

// relayAllowed reports whether a contact at addr, named by the peer at
// sender in a find_node or find_value answer, may be queried: the rules of
// go-ethereum's netutil.CheckRelayIP. An address that is no peer's
// (unspecified, multicast, broadcast, reserved, documentation) never is; a
// loopback address only when the sender is on loopback too, a LAN address
// (private, link-local, shared) only when the sender is on a LAN or
// loopback. Otherwise a peer on the internet could have us send datagrams
// to our own host or network, and fill our lookups with addresses that
// cannot answer (issue 18).
func relayAllowed(sender, addr netip.Addr) bool {
	sender, addr = sender.Unmap(), addr.Unmap()
	switch {
	case !addr.IsValid() || isSpecialAddr(addr):
		return false
	case addr.IsLoopback():
		return sender.IsLoopback()
	case isLANAddr(addr):
		return sender.IsLoopback() || isLANAddr(sender)
	}
	return true
}

// isLANAddr reports whether a is an address of a local network: private
// (RFC 1918, IPv6 unique local), link-local, or in IPv4's shared address
// space (RFC 6598, carrier-grade NAT).
func isLANAddr(a netip.Addr) bool {
	if a.IsPrivate() || a.IsLinkLocalUnicast() {
		return true
	}
	b := a.As16()
	return a.Is4() && b[12] == 100 && b[13]&0xc0 == 64 // 100.64.0.0/10
}

// isSpecialAddr reports whether a (unmapped) can be no peer's address: the
// unspecified address, multicast, IPv4's "this network" 0/8, reserved
// 240/4 and broadcast, the documentation and benchmarking ranges
// (192.0.2/24, 198.18/15, 198.51.100/24, 203.0.113/24, 2001:db8::/32) and
// IPv6's discard prefix 100::/64.
func isSpecialAddr(a netip.Addr) bool {
	if a.IsUnspecified() || a.IsMulticast() {
		return true
	}
	b := a.As16()
	if a.Is4() {
		b0, b1, b2 := b[12], b[13], b[14]
		return b0 == 0 || b0 >= 240 ||
			(b0 == 192 && b1 == 0 && b2 == 2) || (b0 == 198 && b1&0xfe == 18) ||
			(b0 == 198 && b1 == 51 && b2 == 100) || (b0 == 203 && b1 == 0 && b2 == 113)
	}
	doc := b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8
	discard := b[0] == 0x01 && b[1] == 0 && [6]byte(b[2:8]) == [6]byte{}
	return doc || discard
}
