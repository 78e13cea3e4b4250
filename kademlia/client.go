package kademlia

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// The client side of the protocol: the calls a node makes and the strict
// checks of the answers (kademlia/PROTOCOL.md describes their shapes; reply.go
// parses them).

// Wire names of the Kademlia RPCs (kademlia/PROTOCOL.md).
const (
	methodPing      = "ping"
	methodStun      = "stun"
	methodStore     = "store"
	methodFindNode  = "find_node"
	methodFindValue = "find_value"
)

// errMalformedReply marks an answer that does not have the shape the
// protocol prescribes; the peer is treated as failed.
var errMalformedReply = errors.New("malformed reply")

// ping sends one ping to addr and returns the id it answers with. It
// records nothing in the routing table.
func (n *Node) ping(ctx context.Context, addr netip.AddrPort) (ID, error) {
	r, err := n.ep.Call(ctx, addr, methodPing, n.id[:])
	if err != nil {
		return ID{}, fmt.Errorf("kademlia: ping %s: %w", addr, err)
	}
	id, err := binID(r)
	if err != nil {
		return ID{}, fmt.Errorf("kademlia: ping %s: %w: %v", addr, errMalformedReply, err)
	}
	return id, nil
}

// pingAddr pings addr and returns the id it answers with; the answering
// node is added to the routing table.
func (n *Node) pingAddr(ctx context.Context, addr netip.AddrPort) (ID, error) {
	id, err := n.ping(ctx, addr)
	if err != nil {
		return ID{}, err
	}
	if id == n.id {
		return ID{}, fmt.Errorf("kademlia: ping %s: it answered with our own id", addr)
	}
	n.rt.addFound(Contact{ID: id, Addr: addr})
	n.rt.tab.chosen(Contact{ID: id, Addr: normalizeAddrPort(addr)})
	return id, nil
}

// callFindNode asks c for the contacts closest to target.
func (n *Node) callFindNode(ctx context.Context, c Contact, target ID) ([]Contact, error) {
	r, err := n.ep.Call(rpcudp.WithCallOptions(ctx, n.queryOpts), c.Addr, methodFindNode, n.id[:], target[:])
	var cs []Contact
	if err == nil {
		cs, err = n.parseContacts(r, c.Addr.Addr())
	}
	n.rt.record(ctx, c, err)
	if err != nil {
		return nil, fmt.Errorf("kademlia: find_node %s: %w", c, err)
	}
	return cs, nil
}

// callFindValue asks c for the value under key, or the contacts closest to
// it.
func (n *Node) callFindValue(ctx context.Context, c Contact, key ID) (Value, bool, []Contact, error) {
	r, err := n.ep.Call(rpcudp.WithCallOptions(ctx, n.queryOpts), c.Addr, methodFindValue, n.id[:], key[:])
	var (
		v     Value
		found bool
		cs    []Contact
	)
	if err == nil {
		v, found, cs, err = n.parseFindValue(r, c.Addr.Addr())
	}
	n.rt.record(ctx, c, err)
	if err != nil {
		return Value{}, false, nil, fmt.Errorf("kademlia: find_value %s: %w", c, err)
	}
	return v, found, cs, nil
}

// callStore asks c to store v under key. A Go holder's refusal (an error
// reply naming ErrSeqConflict, ErrStaleRecord, ErrBadSignature or
// ErrBadRecord) comes back wrapping that sentinel.
func (n *Node) callStore(ctx context.Context, c Contact, key ID, v Value) error {
	r, err := n.ep.Call(ctx, c.Addr, methodStore, n.id[:], key[:], v)
	if err == nil && !bytes.Equal(r, []byte{msgpcode.True}) {
		err = fmt.Errorf("%w: store answered %x, want true", errMalformedReply, []byte(r))
	}
	n.rt.record(ctx, c, err)
	if refused := refusalOf(err); refused != nil {
		return &storeRefusal{peer: c, refused: refused, err: err}
	}
	if err != nil {
		return fmt.Errorf("kademlia: store at %s: %w", c, err)
	}
	return nil
}

// contactTriple is a contact as Python's tuple(Node): (id, ip, port).
func contactTriple(c Contact) []any {
	return []any{c.ID.Bytes(), c.Addr.Addr().String(), int(c.Addr.Port())}
}

// storeRefusal is a store refused by a Go holder (or by a peer claiming to
// be one): the peer and the refusal its error reply names.
type storeRefusal struct {
	peer    Contact
	refused error // ErrSeqConflict, ErrStaleRecord, ErrBadSignature or ErrBadRecord
	err     error // the error reply
}

func (e *storeRefusal) Error() string {
	return fmt.Sprintf("kademlia: store at %s: %v: %v", e.peer, e.refused, e.err)
}

// Unwrap returns the refusal and the error reply.
func (e *storeRefusal) Unwrap() []error { return []error{e.refused, e.err} }
