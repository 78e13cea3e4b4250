package kademlia

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/rpcudp/go-rpcudp/rpcudp/wire"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// Strict parsing of peers' answers (kademlia/PROTOCOL.md gives their shapes). A
// reply of the wrong shape is an error wrapping errMalformedReply, and the
// peer counts as failed.

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errMalformedReply, fmt.Sprintf(format, args...))
}

// binID decodes exactly one 20-byte msgpack bin 8 (Python sends ids and
// keys as bytes).
func binID(raw []byte) (ID, error) {
	if len(raw) < 2 || raw[0] != msgpcode.Bin8 {
		return ID{}, errors.New("not a msgpack bin 8")
	}
	if int(raw[1]) != IDLen || len(raw) != 2+IDLen {
		return ID{}, fmt.Errorf("bin of %d bytes, want %d", raw[1], IDLen)
	}
	return ID(raw[2:]), nil
}

// isKind reports whether b starts with a value of kind k.
func isKind(b []byte, k wire.Kind) bool { return len(b) > 0 && wire.KindOf(b[0]) == k }

// readInt reads an integer of any msgpack width; one above MaxInt64 reads
// as -1 (no port or count is that large).
func readInt(b []byte) (int64, []byte, error) {
	if !isKind(b, wire.Int) {
		return 0, b, errors.New("not an int")
	}
	v, rest, err := wire.ReadScalar(b)
	if err != nil {
		return 0, b, err
	}
	if x, ok := v.(int64); ok {
		return x, rest, nil
	}
	return -1, rest, nil
}

// parseContacts decodes a find_node answer from the peer at from,
// [[id, ip, port], ...]. A reply of the wrong shape is an error;
// well-shaped entries that cannot be a peer (an id that is not 20 bytes, a
// bad ip or port, our own id or address, an address from may not relay:
// see relayAllowed) are skipped. At most K contacts are kept (see
// readContacts).
func (n *Node) parseContacts(r []byte, from netip.Addr) ([]Contact, error) {
	cs, rest, err := n.readContacts(r, from)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, malformed("%d bytes after the contact list", len(rest))
	}
	return cs, nil
}

// readContacts reads a contact list and keeps its first K acceptable
// contacts. An honest peer names at most its own K (Python's ksize, 20 by
// default), closest first; a reply may fill a datagram, some 1,700
// entries, and every one kept would cost a lookup a query (issue 18).
// The entries after the K-th kept are still checked for shape, so a
// malformed reply stays an error, but not decoded into contacts.
func (n *Node) readContacts(b []byte, from netip.Addr) ([]Contact, []byte, error) {
	if !isKind(b, wire.Array) {
		return nil, nil, malformed("contact list is not an array")
	}
	count, b, err := wire.ReadArrayLen(b)
	if err != nil {
		return nil, nil, malformed("contact list: %v", err)
	}
	self := n.Addr()
	keep := n.cfg.K
	out := make([]Contact, 0, min(count, keep))
	for i := range count {
		var e rawContact
		if e, b, err = readRawContact(b); err != nil {
			return nil, nil, malformed("contact %d: %v", i, err)
		}
		if len(out) == keep {
			continue
		}
		c, ok := e.contact()
		if !ok || c.ID == n.id || (self.IsValid() && !self.Addr().IsUnspecified() && c.Addr == self) ||
			!relayAllowed(from, c.Addr.Addr()) {
			continue
		}
		out = append(out, c)
	}
	return out, b, nil
}

// rawContact is one [id, ip, port] of the right shape, not yet decoded.
type rawContact struct {
	id, ip, port []byte // port: the msgpack int
}

// readRawContact reads the shape of one [id, ip, port]: an array of a bin,
// a str and an int.
func readRawContact(b []byte) (e rawContact, rest []byte, err error) {
	if !isKind(b, wire.Array) {
		return e, nil, errors.New("not an array")
	}
	l, b, err := wire.ReadArrayLen(b)
	if err != nil || l != 3 {
		return e, nil, fmt.Errorf("array of %d, want [id, ip, port]", l)
	}
	if !isKind(b, wire.Bin) {
		return e, nil, errors.New("id is not bin")
	}
	if e.id, b, err = wire.ReadBin(b); err != nil {
		return e, nil, err
	}
	if !isKind(b, wire.Str) {
		return e, nil, errors.New("ip is not str")
	}
	if e.ip, b, err = wire.ReadStr(b); err != nil {
		return e, nil, err
	}
	if !isKind(b, wire.Int) {
		return e, nil, errors.New("port: not an int")
	}
	if rest, err = wire.Skip(b); err != nil {
		return e, nil, fmt.Errorf("port: %w", err)
	}
	e.port = b[:len(b)-len(rest)]
	return e, rest, nil
}

// contact decodes e; ok is false for values that cannot be a peer.
func (e rawContact) contact() (c Contact, ok bool) {
	port, _, err := readInt(e.port)
	if err != nil || len(e.id) != IDLen || port <= 0 || port > 65535 {
		return c, false
	}
	ip, err := netip.ParseAddr(string(e.ip))
	if err != nil || ip.IsUnspecified() || ip.IsMulticast() {
		return c, false
	}
	return Contact{ID: ID(e.id), Addr: netip.AddrPortFrom(ip.Unmap(), uint16(port))}, true
}

// parseFindValue decodes a find_value answer from the peer at from:
// {"value": v} or a contact list (see parseContacts).
func (n *Node) parseFindValue(r []byte, from netip.Addr) (Value, bool, []Contact, error) {
	if len(r) == 0 {
		return Value{}, false, nil, malformed("empty find_value answer")
	}
	if !isKind(r, wire.Map) {
		cs, err := n.parseContacts(r, from)
		return Value{}, false, cs, err
	}
	v, rest, err := readValueMap(r)
	if err != nil {
		return Value{}, false, nil, err
	}
	if len(rest) != 0 {
		return Value{}, false, nil, malformed("%d bytes after the find_value map", len(rest))
	}
	return v, true, nil, nil
}

// readValueMap reads the map {"value": v} of a find_value answer (other
// str keys are skipped).
func readValueMap(b []byte) (Value, []byte, error) {
	l, b, err := wire.ReadMapLen(b)
	if err != nil {
		return Value{}, nil, malformed("find_value map: %v", err)
	}
	var v Value
	found := false
	for range l {
		if !isKind(b, wire.Str) {
			return Value{}, nil, malformed("find_value map key is not str")
		}
		k, rest, err := wire.ReadStr(b)
		if err != nil {
			return Value{}, nil, malformed("find_value map key: %v", err)
		}
		after, err := wire.Skip(rest)
		if err != nil {
			return Value{}, nil, malformed("find_value map: %v", err)
		}
		raw := rest[:len(rest)-len(after)]
		b = after
		if string(k) != "value" {
			continue
		}
		if v, err = valueFromMsgpack(raw); err != nil {
			return Value{}, nil, malformed("find_value: %v", err)
		}
		found = true
	}
	if !found {
		return Value{}, nil, malformed("find_value map has no \"value\"")
	}
	return v, b, nil
}

// parseStunReply decodes a stun answer, [ip, port] (Python peers on IPv6
// answer a longer tuple whose first two items are these).
func parseStunReply(r []byte) (netip.AddrPort, error) {
	if !isKind(r, wire.Array) {
		return netip.AddrPort{}, malformed("stun answer is not an array")
	}
	l, b, err := wire.ReadArrayLen(r)
	if err != nil || l < 2 {
		return netip.AddrPort{}, malformed("stun answer is an array of %d, want [ip, port]", l)
	}
	if !isKind(b, wire.Str) {
		return netip.AddrPort{}, malformed("stun ip is not str")
	}
	ips, b, err := wire.ReadStr(b)
	if err != nil {
		return netip.AddrPort{}, malformed("stun ip: %v", err)
	}
	if !isKind(b, wire.Int) {
		return netip.AddrPort{}, malformed("stun port is not an int")
	}
	port, _, err := readInt(b)
	if err != nil || port <= 0 || port > 65535 {
		return netip.AddrPort{}, malformed("stun port %d", port)
	}
	ip, err := netip.ParseAddr(string(ips))
	if err != nil {
		return netip.AddrPort{}, malformed("stun ip %q: %v", ips, err)
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(port)), nil
}
