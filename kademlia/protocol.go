package kademlia

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// Wire names of the Kademlia RPCs (PROTOCOL.md).
const (
	methodPing      = "ping"
	methodStun      = "stun"
	methodStore     = "store"
	methodFindNode  = "find_node"
	methodFindValue = "find_value"
)

// errMalformedReply marks an answer that does not have the shape the
// protocol prescribes; the peer is treated as failed.
var errMalformedReply = errors.New("kademlia: malformed reply")

// minCacheTTL is the shortest lifetime given to a value cached here by a
// value lookup's store (see cacheTTL).
const minCacheTTL = time.Minute

// register serves the Kademlia RPCs on ep.
func (n *Node) register(ep *rpcudp.Endpoint) error {
	for name, h := range map[string]rpcudp.HandlerFunc{
		methodPing:      n.rpcPing,
		methodStun:      n.rpcStun,
		methodStore:     n.rpcStore,
		methodFindNode:  n.rpcFindNode,
		methodFindValue: n.rpcFindValue,
	} {
		if err := ep.Handle(name, h); err != nil {
			return fmt.Errorf("kademlia: %w", err)
		}
	}
	return nil
}

// ---- server side ----

// rawArgs returns the request's arguments, which must be exactly want.
func rawArgs(req *rpcudp.Request, want int) ([]msgpack.RawMessage, error) {
	if req.NumArgs() != want {
		return nil, fmt.Errorf("%w: %s takes %d arguments, got %d", rpcudp.ErrBadArgs, req.Method, want, req.NumArgs())
	}
	return req.RawArgs()
}

// argID decodes an argument that must be a 20-byte msgpack bin (a node id
// or key; Python sends bytes).
func argID(raw []byte, what string) (ID, error) {
	id, err := binID(raw)
	if err != nil {
		return ID{}, fmt.Errorf("%w: %s: %w", rpcudp.ErrBadArgs, what, err)
	}
	return id, nil
}

// binID decodes exactly one 20-byte msgpack bin.
func binID(raw []byte) (ID, error) {
	if len(raw) < 2 || raw[0] != msgpcode.Bin8 {
		return ID{}, fmt.Errorf("%w: not a msgpack bin", ErrBadID)
	}
	if int(raw[1]) != IDLen || len(raw) != 2+IDLen {
		return ID{}, fmt.Errorf("%w: bin of %d bytes", ErrBadID, raw[1])
	}
	return ID(raw[2:]), nil
}

// caller records the sender of a request in the routing table (and
// welcomes it if it is new) and returns it.
func (n *Node) caller(req *rpcudp.Request, raw []byte) (Contact, error) {
	id, err := argID(raw, "sender id")
	if err != nil {
		return Contact{}, err
	}
	c := Contact{ID: id, Addr: req.From}
	n.seen(c)
	return c, nil
}

// rpcPing serves ping [sender_id] -> our id.
func (n *Node) rpcPing(_ context.Context, req *rpcudp.Request) (any, error) {
	args, err := rawArgs(req, 1)
	if err != nil {
		return nil, err
	}
	if _, err := n.caller(req, args[0]); err != nil {
		return nil, err
	}
	return n.id[:], nil
}

// rpcStun serves stun [] -> [ip, port] of the caller.
func (n *Node) rpcStun(_ context.Context, req *rpcudp.Request) (any, error) {
	if _, err := rawArgs(req, 0); err != nil {
		return nil, err
	}
	return []any{req.From.Addr().String(), int(req.From.Port())}, nil
}

// rpcStore serves store [sender_id, key, value] -> true.
func (n *Node) rpcStore(_ context.Context, req *rpcudp.Request) (any, error) {
	args, err := rawArgs(req, 3)
	if err != nil {
		return nil, err
	}
	if _, err := n.caller(req, args[0]); err != nil {
		return nil, err
	}
	key, err := argID(args[1], "key")
	if err != nil {
		return nil, err
	}
	v, err := ValueFromMsgpack(args[2])
	if err != nil {
		return nil, fmt.Errorf("%w: value: %w", rpcudp.ErrBadArgs, err)
	}
	opts, err := n.storeOptions(key)
	if err != nil {
		return nil, err
	}
	if err := n.storage.Put(key, v, opts); err != nil {
		return nil, fmt.Errorf("kademlia: store %s: %w", key, err)
	}
	n.log.Debug("kademlia: stored", "key", key, "from", req.From, "ttl", opts.TTL)
	return true, nil
}

// storeOptions decides how a value received with store is kept. A node
// among the K closest to the key we know of stores it normally. Otherwise
// the store is a cache store (a value lookup's, paper section 2.3) and
// gets a lifetime that halves for every known contact closer to the key
// beyond the first K (see cacheTTL). A key already held keeps its expiry.
func (n *Node) storeOptions(key ID) (PutOptions, error) {
	closer := n.closerThanUs(key, n.cfg.K+cacheTTLSteps)
	if closer < n.cfg.K {
		return PutOptions{}, nil
	}
	if _, ok, err := n.storage.Get(key); err != nil {
		return PutOptions{}, fmt.Errorf("kademlia: store %s: %w", key, err)
	} else if ok {
		return PutOptions{KeepExpiry: true}, nil
	}
	return PutOptions{TTL: cacheTTL(storageTTL(n.storage), closer-n.cfg.K+1)}, nil
}

// cacheTTLSteps caps the number of halvings of a cached value's lifetime.
const cacheTTLSteps = 16

// cacheTTL returns base halved steps times, at least minCacheTTL (and at
// most base).
func cacheTTL(base time.Duration, steps int) time.Duration {
	steps = min(max(steps, 0), cacheTTLSteps)
	return min(base, max(base>>steps, minCacheTTL))
}

// storageTTL returns the default lifetime of items in s.
func storageTTL(s Storage) time.Duration {
	switch s := s.(type) {
	case *MemoryStorage:
		return s.cfg.TTL
	case *BoltStorage:
		return s.cfg.TTL
	}
	return DefaultStorageTTL
}

// closerThanUs counts the contacts of our table closer to key than our own
// id, looking at most at limit contacts.
func (n *Node) closerThanUs(key ID, limit int) int {
	count := 0
	for _, c := range n.table.Closest(key, limit, nil) {
		if !CloserTo(key, c.ID, n.id) {
			break
		}
		count++
	}
	return count
}

// neighbors returns the K contacts closest to key, excluding the caller
// (by id and by address, as Python's find_neighbors(exclude=...)), as the
// wire list [[id, ip, port], ...].
func (n *Node) neighbors(key ID, caller Contact) []any {
	cs := n.table.ClosestAnswering(key, n.cfg.K, func(c Contact) bool {
		return c.ID == caller.ID || c.SameHome(caller)
	})
	out := make([]any, len(cs)) // never nil: Python answers [] not None
	for i, c := range cs {
		out[i] = contactTriple(c)
	}
	return out
}

// contactTriple is a contact as Python's tuple(Node): (id, ip, port).
func contactTriple(c Contact) []any {
	return []any{c.ID.Bytes(), c.Addr.Addr().String(), int(c.Addr.Port())}
}

// findArgs decodes the arguments of find_node and find_value,
// [sender_id, key], and records the caller.
func (n *Node) findArgs(req *rpcudp.Request) (Contact, ID, error) {
	args, err := rawArgs(req, 2)
	if err != nil {
		return Contact{}, ID{}, err
	}
	from, err := n.caller(req, args[0])
	if err != nil {
		return Contact{}, ID{}, err
	}
	key, err := argID(args[1], "key")
	return from, key, err
}

// rpcFindNode serves find_node [sender_id, key] -> [[id, ip, port], ...].
func (n *Node) rpcFindNode(_ context.Context, req *rpcudp.Request) (any, error) {
	from, key, err := n.findArgs(req)
	if err != nil {
		return nil, err
	}
	return n.neighbors(key, from), nil
}

// rpcFindValue serves find_value [sender_id, key] -> {"value": v} when the
// value is held here, else the find_node answer.
func (n *Node) rpcFindValue(_ context.Context, req *rpcudp.Request) (any, error) {
	from, key, err := n.findArgs(req)
	if err != nil {
		return nil, err
	}
	v, ok, err := n.storage.Get(key)
	if err != nil {
		return nil, fmt.Errorf("kademlia: find_value %s: %w", key, err)
	}
	if ok {
		return map[string]any{"value": v}, nil
	}
	return n.neighbors(key, from), nil
}

// ---- routing table bookkeeping ----

// seen records that c called us or answered us: it goes into the routing
// table; if its bucket is full the head is pinged in the background; and
// if c is new to the table it is welcomed with the keys it should hold.
func (n *Node) seen(c Contact) {
	if c.ID == n.id || !c.Addr.IsValid() {
		return
	}
	c.Addr = normalizeAddrPort(c.Addr)
	n.seenMu.Lock()
	wasNew := n.table.IsNew(c.ID)
	head := n.table.Seen(c)
	added := wasNew && !n.table.IsNew(c.ID)
	n.seenMu.Unlock()
	if head != nil {
		// If no slot is free the ping is dropped; the table asks for it
		// again after its PendingTimeout.
		h := *head
		n.spawn("ping head", func(ctx context.Context) { n.pingHead(ctx, h) })
	}
	if added {
		n.welcome(c)
	}
}

// record updates the routing table after an RPC to c: an answer (even an
// error reply) marks it seen; a peer failure (see isPeerFailure) counts
// against it.
func (n *Node) record(ctx context.Context, c Contact, err error) {
	var rerr *rpcudp.RemoteError
	switch {
	case err == nil, errors.As(err, &rerr):
		n.seen(c)
	case isPeerFailure(ctx, err):
		if n.table.Failed(c.ID) {
			n.log.Debug("kademlia: contact removed after repeated failures", "contact", c)
		} else if !n.noProbe && !errors.Is(err, errMalformedReply) && n.table.Suspect(c.ID) {
			n.probe(c) // silent, not lying: is it still there?
		}
	}
}

// probe checks, in the background, a contact whose RPC just failed. While
// it is suspect, lookups skip it and find_node answers leave it out, so a
// dead peer (a client that has exited, say) costs one lookup one
// QueryTimeout instead of costing every lookup one until it is dropped.
// The probe pings it until it answers (it is then as good as ever) or has
// failed MaxFailures times in a row (it is then removed): a contact is
// still only dropped after several consecutive failures, not after one
// timeout. One probe per contact at a time.
func (n *Node) probe(c Contact) {
	n.probeMu.Lock()
	if n.probing == nil {
		n.probing = make(map[ID]bool)
	}
	if n.probing[c.ID] {
		n.probeMu.Unlock()
		return
	}
	n.probing[c.ID] = true
	n.probeMu.Unlock()
	done := func() {
		n.probeMu.Lock()
		delete(n.probing, c.ID)
		n.probeMu.Unlock()
	}
	if !n.spawn("probe", func(ctx context.Context) {
		defer done()
		for ctx.Err() == nil && n.table.Suspect(c.ID) {
			ep, err := n.endpoint()
			if err != nil {
				return
			}
			r, err := ep.Call(ctx, c.Addr, methodPing, n.id[:])
			if err == nil {
				if id, perr := binID(r); perr == nil && id == c.ID {
					n.seen(c)
					return
				}
				err = errMalformedReply
			}
			if !isPeerFailure(ctx, err) || n.table.Failed(c.ID) {
				return
			}
		}
	}) {
		done()
	}
}

// isPeerFailure reports whether a failed RPC is the peer's fault: a
// timeout, a malformed answer, or a send error (an unreachable address).
// The end of our own context, the endpoint closing or our own limits say
// nothing about the peer.
func isPeerFailure(ctx context.Context, err error) bool {
	switch {
	case err == nil, ctx.Err() != nil,
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, rpcudp.ErrClosed), errors.Is(err, rpcudp.ErrTooManyPending),
		errors.Is(err, rpcudp.ErrMessageTooLarge), errors.Is(err, ErrNodeClosed), errors.Is(err, ErrNotServing):
		return false
	}
	var rerr *rpcudp.RemoteError
	return !errors.As(err, &rerr)
}

// pingHead pings the head of a full bucket and reports the outcome to the
// table, which evicts it for a newcomer if it does not answer.
func (n *Node) pingHead(ctx context.Context, head Contact) {
	ep, err := n.endpoint()
	if err != nil {
		return
	}
	r, err := ep.Call(ctx, head.Addr, methodPing, n.id[:])
	if err == nil {
		id, perr := binID(r)
		n.table.PingResult(head.ID, perr == nil && id == head.ID)
		return
	}
	var rerr *rpcudp.RemoteError
	switch {
	case errors.As(err, &rerr):
		n.table.PingResult(head.ID, true) // it answered, if only with an error
	case isPeerFailure(ctx, err):
		n.table.PingResult(head.ID, false)
	}
	// Otherwise (closing, cancelled) nothing is known about the head; the
	// table asks for another ping after its PendingTimeout.
}

// welcome hands a newly seen contact the stored keys it should now hold
// (paper section 2.5, Python's welcome_if_new), in the background.
func (n *Node) welcome(c Contact) {
	if n.storage.Len() == 0 {
		return
	}
	n.spawn("welcome", func(ctx context.Context) { n.handOff(ctx, c) })
}

// handOff stores at c every held key for which c is now among the K
// closest contacts we know and we are closer to the key than any of them
// (so that of the nodes holding a key only the closest sends it). Unlike
// Python, distances are measured to the stored key digest itself (Python
// hashes the digest again). At most Alpha stores are in flight.
func (n *Node) handOff(ctx context.Context, c Contact) {
	var items []StoredItem
	err := n.storage.Iterate(func(key ID, v Value, _ Meta) bool {
		if n.shouldHandOff(c, key) {
			items = append(items, StoredItem{Key: key, Value: v})
		}
		return ctx.Err() == nil
	})
	if err != nil || len(items) == 0 {
		return
	}
	n.log.Debug("kademlia: handing keys to new contact", "contact", c, "keys", len(items))
	slots := make(chan struct{}, n.cfg.Alpha)
	done := make(chan struct{}, len(items))
	for _, it := range items {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			done <- struct{}{}
			continue
		}
		go func() {
			defer func() { <-slots; done <- struct{}{} }()
			if err := n.callStore(ctx, c, it.Key, it.Value); err != nil {
				n.log.Debug("kademlia: hand-off store failed", "contact", c, "key", it.Key, "err", err)
			}
		}()
	}
	for range items {
		<-done
	}
}

// shouldHandOff is the welcome rule for one key: the newcomer is among the
// K contacts closest to key, and we are closer to it than any other
// contact we know.
//
// handOff asks this for every held key each time a contact joins the
// table, so the rarely true half (we are the closest for about one key in
// K) is tested first, by a scan that neither sorts nor allocates; only
// the keys that pass it pay for the sorted K closest.
func (n *Node) shouldHandOff(newcomer Contact, key ID) bool {
	notNewcomer := func(x Contact) bool { return x.ID == newcomer.ID }
	if n.table.hasCloser(key, notNewcomer) {
		return false // we are not the closest
	}
	nb := n.table.Closest(key, n.cfg.K, notNewcomer)
	return len(nb) < n.cfg.K || CloserTo(key, newcomer.ID, nb[len(nb)-1].ID)
}

// ---- client side ----

// pingAddr pings addr and returns the id it answers with; the answering
// node is added to the routing table.
func (n *Node) pingAddr(ctx context.Context, addr netip.AddrPort) (ID, error) {
	ep, err := n.endpoint()
	if err != nil {
		return ID{}, err
	}
	r, err := ep.Call(ctx, addr, methodPing, n.id[:])
	if err != nil {
		return ID{}, fmt.Errorf("kademlia: ping %s: %w", addr, err)
	}
	id, err := binID(r)
	if err != nil {
		return ID{}, fmt.Errorf("%w: ping %s: %w", errMalformedReply, addr, err)
	}
	if id == n.id {
		return ID{}, fmt.Errorf("kademlia: ping %s: it answered with our own id", addr)
	}
	n.seen(Contact{ID: id, Addr: addr})
	return id, nil
}

// callFindNode asks c for the contacts closest to target.
func (n *Node) callFindNode(ctx context.Context, c Contact, target ID) ([]Contact, error) {
	ep, err := n.endpoint()
	if err != nil {
		return nil, err
	}
	r, err := ep.CallWith(ctx, n.queryOpts, c.Addr, methodFindNode, n.id[:], target[:])
	var cs []Contact
	if err == nil {
		cs, err = n.parseContacts(r)
	}
	n.record(ctx, c, err)
	if err != nil {
		return nil, fmt.Errorf("kademlia: find_node %s: %w", c, err)
	}
	return cs, nil
}

// callFindValue asks c for the value under key, or the contacts closest to
// it.
func (n *Node) callFindValue(ctx context.Context, c Contact, key ID) (Value, bool, []Contact, error) {
	ep, err := n.endpoint()
	if err != nil {
		return Value{}, false, nil, err
	}
	r, err := ep.CallWith(ctx, n.queryOpts, c.Addr, methodFindValue, n.id[:], key[:])
	var (
		v     Value
		found bool
		cs    []Contact
	)
	if err == nil {
		v, found, cs, err = n.parseFindValue(r)
	}
	n.record(ctx, c, err)
	if err != nil {
		return Value{}, false, nil, fmt.Errorf("kademlia: find_value %s: %w", c, err)
	}
	return v, found, cs, nil
}

// callStore asks c to store v under key.
func (n *Node) callStore(ctx context.Context, c Contact, key ID, v Value) error {
	ep, err := n.endpoint()
	if err != nil {
		return err
	}
	r, err := ep.Call(ctx, c.Addr, methodStore, n.id[:], key[:], v)
	if err == nil && !bytes.Equal(r, []byte{msgpcode.True}) {
		err = fmt.Errorf("%w: store answered %x, want true", errMalformedReply, []byte(r))
	}
	n.record(ctx, c, err)
	if err != nil {
		return fmt.Errorf("kademlia: store at %s: %w", c, err)
	}
	return nil
}

// ---- reply parsing ----

func newReplyDecoder(r []byte) (*msgpack.Decoder, *bytes.Reader) {
	rd := bytes.NewReader(r)
	return msgpack.NewDecoder(rd), rd
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errMalformedReply, fmt.Sprintf(format, args...))
}

func isArrayCode(c byte) bool {
	return msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32
}

func isMapCode(c byte) bool {
	return msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32
}

func isIntCode(c byte) bool {
	return msgpcode.IsFixedNum(c) || (c >= msgpcode.Uint8 && c <= msgpcode.Int64)
}

// parseContacts decodes a find_node answer, [[id, ip, port], ...]. A reply
// of the wrong shape is an error; well-shaped entries that cannot be a
// peer (an id that is not 20 bytes, a bad ip or port, our own id or
// address) are skipped.
func (n *Node) parseContacts(r []byte) ([]Contact, error) {
	dec, rd := newReplyDecoder(r)
	cs, err := n.decodeContacts(dec)
	if err != nil {
		return nil, err
	}
	if rd.Len() != 0 {
		return nil, malformed("%d bytes after the contact list", rd.Len())
	}
	return cs, nil
}

func (n *Node) decodeContacts(dec *msgpack.Decoder) ([]Contact, error) {
	code, err := dec.PeekCode()
	if err != nil || !isArrayCode(code) {
		return nil, malformed("contact list is not an array")
	}
	count, err := dec.DecodeArrayLen()
	if err != nil {
		return nil, malformed("contact list: %v", err)
	}
	self := n.Addr()
	var out []Contact
	for i := range count {
		c, ok, err := decodeContact(dec)
		if err != nil {
			return nil, malformed("contact %d: %v", i, err)
		}
		if !ok || c.ID == n.id || (self.IsValid() && !self.Addr().IsUnspecified() && c.Addr == self) {
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// decodeContact reads one [id, ip, port]. ok is false for an entry of the
// right shape whose values cannot be a peer.
func decodeContact(dec *msgpack.Decoder) (c Contact, ok bool, err error) {
	code, err := dec.PeekCode()
	if err != nil || !isArrayCode(code) {
		return c, false, errors.New("not an array")
	}
	l, err := dec.DecodeArrayLen()
	if err != nil || l != 3 {
		return c, false, fmt.Errorf("array of %d, want [id, ip, port]", l)
	}
	if code, err = dec.PeekCode(); err != nil || !msgpcode.IsBin(code) {
		return c, false, errors.New("id is not bin")
	}
	idb, err := dec.DecodeBytes()
	if err != nil {
		return c, false, err
	}
	if code, err = dec.PeekCode(); err != nil || !msgpcode.IsString(code) {
		return c, false, errors.New("ip is not str")
	}
	ips, err := dec.DecodeString()
	if err != nil {
		return c, false, err
	}
	if code, err = dec.PeekCode(); err != nil || !isIntCode(code) {
		return c, false, errors.New("port is not an int")
	}
	port, err := dec.DecodeInt64()
	if err != nil {
		return c, false, err
	}
	if len(idb) != IDLen || port <= 0 || port > 65535 {
		return c, false, nil
	}
	ip, err := netip.ParseAddr(ips)
	if err != nil || ip.IsUnspecified() || ip.IsMulticast() {
		return c, false, nil
	}
	return Contact{ID: ID(idb), Addr: netip.AddrPortFrom(ip.Unmap(), uint16(port))}, true, nil
}

// parseFindValue decodes a find_value answer: {"value": v} or a contact
// list.
func (n *Node) parseFindValue(r []byte) (Value, bool, []Contact, error) {
	dec, rd := newReplyDecoder(r)
	code, err := dec.PeekCode()
	if err != nil {
		return Value{}, false, nil, malformed("empty find_value answer")
	}
	if !isMapCode(code) {
		cs, err := n.decodeContacts(dec)
		if err == nil && rd.Len() != 0 {
			err = malformed("%d bytes after the contact list", rd.Len())
		}
		return Value{}, false, cs, err
	}
	l, err := dec.DecodeMapLen()
	if err != nil {
		return Value{}, false, nil, malformed("find_value map: %v", err)
	}
	var v Value
	found := false
	for range l {
		if code, err := dec.PeekCode(); err != nil || !msgpcode.IsString(code) {
			return Value{}, false, nil, malformed("find_value map key is not str")
		}
		k, err := dec.DecodeString()
		if err != nil {
			return Value{}, false, nil, malformed("find_value map key: %v", err)
		}
		raw, err := dec.DecodeRaw()
		if err != nil {
			return Value{}, false, nil, malformed("find_value map: %v", err)
		}
		if k != "value" {
			continue
		}
		if v, err = ValueFromMsgpack(raw); err != nil {
			return Value{}, false, nil, malformed("find_value: %v", err)
		}
		found = true
	}
	if !found {
		return Value{}, false, nil, malformed("find_value map has no \"value\"")
	}
	if rd.Len() != 0 {
		return Value{}, false, nil, malformed("%d bytes after the find_value map", rd.Len())
	}
	return v, true, nil, nil
}

// parseStunReply decodes a stun answer, [ip, port] (Python peers on IPv6
// answer a longer tuple whose first two items are these).
func parseStunReply(r []byte) (netip.AddrPort, error) {
	dec, _ := newReplyDecoder(r)
	code, err := dec.PeekCode()
	if err != nil || !isArrayCode(code) {
		return netip.AddrPort{}, malformed("stun answer is not an array")
	}
	l, err := dec.DecodeArrayLen()
	if err != nil || l < 2 {
		return netip.AddrPort{}, malformed("stun answer is an array of %d, want [ip, port]", l)
	}
	if code, err = dec.PeekCode(); err != nil || !msgpcode.IsString(code) {
		return netip.AddrPort{}, malformed("stun ip is not str")
	}
	ips, err := dec.DecodeString()
	if err != nil {
		return netip.AddrPort{}, malformed("stun ip: %v", err)
	}
	if code, err = dec.PeekCode(); err != nil || !isIntCode(code) {
		return netip.AddrPort{}, malformed("stun port is not an int")
	}
	port, err := dec.DecodeInt64()
	if err != nil || port <= 0 || port > 65535 {
		return netip.AddrPort{}, malformed("stun port %d", port)
	}
	ip, err := netip.ParseAddr(ips)
	if err != nil {
		return netip.AddrPort{}, malformed("stun ip %q: %v", ips, err)
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(port)), nil
}
