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

// parseContacts decodes a find_node answer, [[id, ip, port], ...]. A reply
// of the wrong shape is an error; well-shaped entries that cannot be a
// peer (an id that is not 20 bytes, a bad ip or port, our own id or
// address) are skipped.
func (n *Node) parseContacts(r []byte) ([]Contact, error) {
	cs, rest, err := n.readContacts(r)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, malformed("%d bytes after the contact list", len(rest))
	}
	return cs, nil
}

func (n *Node) readContacts(b []byte) ([]Contact, []byte, error) {
	if !isKind(b, wire.Array) {
		return nil, nil, malformed("contact list is not an array")
	}
	count, b, err := wire.ReadArrayLen(b)
	if err != nil {
		return nil, nil, malformed("contact list: %v", err)
	}
	self := n.Addr()
	var out []Contact
	for i := range count {
		var c Contact
		var ok bool
		if c, ok, b, err = readContact(b); err != nil {
			return nil, nil, malformed("contact %d: %v", i, err)
		}
		if !ok || c.ID == n.id || (self.IsValid() && !self.Addr().IsUnspecified() && c.Addr == self) {
			continue
		}
		out = append(out, c)
	}
	return out, b, nil
}

// readContact reads one [id, ip, port]. ok is false for an entry of the
// right shape whose values cannot be a peer.
func readContact(b []byte) (c Contact, ok bool, rest []byte, err error) {
	if !isKind(b, wire.Array) {
		return c, false, nil, errors.New("not an array")
	}
	l, b, err := wire.ReadArrayLen(b)
	if err != nil || l != 3 {
		return c, false, nil, fmt.Errorf("array of %d, want [id, ip, port]", l)
	}
	if !isKind(b, wire.Bin) {
		return c, false, nil, errors.New("id is not bin")
	}
	idb, b, err := wire.ReadBin(b)
	if err != nil {
		return c, false, nil, err
	}
	if !isKind(b, wire.Str) {
		return c, false, nil, errors.New("ip is not str")
	}
	ips, b, err := wire.ReadStr(b)
	if err != nil {
		return c, false, nil, err
	}
	port, b, err := readInt(b)
	if err != nil {
		return c, false, nil, fmt.Errorf("port: %w", err)
	}
	if len(idb) != IDLen || port <= 0 || port > 65535 {
		return c, false, b, nil
	}
	ip, err := netip.ParseAddr(string(ips))
	if err != nil || ip.IsUnspecified() || ip.IsMulticast() {
		return c, false, b, nil
	}
	return Contact{ID: ID(idb), Addr: netip.AddrPortFrom(ip.Unmap(), uint16(port))}, true, b, nil
}

// parseFindValue decodes a find_value answer: {"value": v} or a contact
// list.
func (n *Node) parseFindValue(r []byte) (Value, bool, []Contact, error) {
	if len(r) == 0 {
		return Value{}, false, nil, malformed("empty find_value answer")
	}
	if !isKind(r, wire.Map) {
		cs, err := n.parseContacts(r)
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
		if v, err = ValueFromMsgpack(raw); err != nil {
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
