package kademlia

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/rpcudp/go-rpcudp/rpcudp/simnet"
	"github.com/rpcudp/go-rpcudp/rpcudp/wire"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// Native fuzz targets for the five Kademlia handlers and for the parsing
// of peers' find_node / find_value (and stun) answers. The handler targets
// send each input, as the arguments array of a request datagram, through
// the real rpcudp dispatch of a served node; the parse target calls the
// parsers a lookup uses. Nothing may panic (rpcudp turns a handler panic
// into an error reply with CodePanic, which fails the target), and what is
// answered must make sense. Seeds: every request and reply recorded from
// Python (testdata/python-reference.json), plus testdata/fuzz/FuzzX.
//
//	go test ./kademlia/ -run '^$' -fuzz '^FuzzStore$' -fuzztime 60s

// recordedArgs returns the arguments array of every request datagram
// recorded from Python (the requests and the requests the replies answer).
func recordedArgs(t testing.TB) [][]byte {
	var out [][]byte
	for _, v := range loadVectorList(t) {
		for _, h := range []string{v.Hex, v.RequestHex} {
			b := unhexOK(h)
			if len(b) <= wire.HeaderLen || b[0] != wire.TypeRequest {
				continue
			}
			if _, args, ok := splitRequestBody(b[wire.HeaderLen:]); ok {
				out = append(out, args)
			}
		}
	}
	return append(out, []byte{0x90}) // no arguments
}

// recordedReplies returns the body of every reply recorded from Python.
func recordedReplies(t testing.TB) [][]byte {
	var out [][]byte
	for _, v := range loadVectorList(t) {
		if b := unhexOK(v.Hex); len(b) > wire.HeaderLen && b[0] == wire.TypeResponse {
			out = append(out, b[wire.HeaderLen:])
		}
	}
	return out
}

func loadVectorList(t testing.TB) []pyVector {
	vecs := loadVectors(t)
	names := make([]string, 0, len(vecs))
	for name := range vecs {
		names = append(names, name)
	}
	slices.Sort(names) // a stable seed order
	out := make([]pyVector, len(names))
	for i, name := range names {
		out[i] = vecs[name]
	}
	return out
}

func unhexOK(s string) []byte {
	b, _ := hex.DecodeString(s) // the recorded vectors are valid hex (or empty)
	return b
}

// splitRequestBody splits [method, args] (method a fixstr or str8, as
// Python packs it) into the method name and the raw args array.
func splitRequestBody(body []byte) (method string, args []byte, ok bool) {
	if len(body) < 2 || body[0] != 0x92 {
		return "", nil, false
	}
	n, h := 0, 0
	switch c := body[1]; {
	case c >= 0xa0 && c <= 0xbf:
		n, h = int(c&0x1f), 2
	case c == 0xd9 && len(body) > 2:
		n, h = int(body[2]), 3
	default:
		return "", nil, false
	}
	if len(body) < h+n {
		return "", nil, false
	}
	return string(body[h : h+n]), body[h+n:], true
}

// requestDatagram builds a request datagram: type, id, [method, args]
// with args the raw msgpack given.
func requestDatagram(id [20]byte, method string, args []byte) []byte {
	b := append([]byte{wire.TypeRequest}, id[:]...)
	b = append(b, 0x92, 0xa0|byte(len(method)))
	b = append(b, method...)
	return append(b, args...)
}

// fuzzRig is a node served on a simulated network with zero latency (a
// datagram is in the receiver's queue when WriteTo returns) and a bare
// client conn that speaks to it datagram by datagram.
type fuzzRig struct {
	node     *Node
	client   *simnet.Conn
	nodeAddr netip.AddrPort
	seq      uint64
	buf      []byte
}

// fenceSender is the sender id of the ping that follows each fuzzed
// request.
var fenceSender = ID{0xfe, 0x9c, 0xe5}

func newFuzzRig(tb testing.TB) *fuzzRig {
	tb.Helper()
	net := simnet.New(simnet.Config{Seed: 1})
	tb.Cleanup(func() { net.Close() })
	storage := newMemoryStorage(StorageConfig{MaxItems: 4096, MaxBytes: 1 << 20})
	tb.Cleanup(func() { storage.Close() })
	nodeAddr := netip.MustParseAddrPort("10.0.0.1:8468")
	conn, err := net.Listen(nodeAddr)
	if err != nil {
		tb.Fatal(err)
	}
	node, err := Serve(conn, Config{
		ID:      mustID(tb, pyServerID),
		Storage: storage,
		// The node's own requests (head pings, hand-offs to the fuzzed
		// senders, which all live at the client's address) go unanswered:
		// let them give up fast.
		RPCTimeout: 50 * time.Millisecond,
		RPCOptions: []rpcudp.Option{rpcudp.WithRetry(rpcudp.RetryPolicy{})},
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { node.Close() })
	client, err := net.Listen(netip.MustParseAddrPort("10.0.0.2:9000"))
	if err != nil {
		tb.Fatal(err)
	}
	// What the recorded Python server knew: two contacts and a value.
	node.rt.tab.addFound(Contact{ID: mustID(tb, "f18134d935dba78b3dbab167aed058b85cfa3c3c"), Addr: netip.MustParseAddrPort("10.0.0.3:2002")})
	node.rt.tab.addFound(Contact{ID: mustID(tb, "cf2119ebd3a98319a1d84cacd1cf386c06aa1739"), Addr: netip.MustParseAddrPort("10.0.0.4:2001")})
	if err := storage.Put(mustID(tb, pyKey), dhtValue(tb, "my awesome value"), PutOptions{}); err != nil {
		tb.Fatal(err)
	}
	return &fuzzRig{node: node, client: client, nodeAddr: nodeAddr, buf: make([]byte, 65536)}
}

// roundTrip sends a method request with the fuzzed args, then a ping as a
// fence, and checks every answer until the fence's. A request rpcudp
// drops (a malformed envelope) has no answer; one whose handler overran
// rpcudp's inline budget may answer after the fence, so then the rig
// waits for the node's handlers to finish and takes what came.
func (r *fuzzRig) roundTrip(t *testing.T, method string, args []byte) {
	if len(args) > rpcudp.MaxBody {
		return // refused before dispatch (rpcudp's own fuzzing covers that)
	}
	r.seq++
	var reqID, fenceID [20]byte
	binary.BigEndian.PutUint64(reqID[12:], r.seq)
	fenceID = reqID
	fenceID[0] = 0xfe
	r.send(t, requestDatagram(reqID, method, args))
	r.send(t, requestDatagram(fenceID, methodPing, append([]byte{0x91, msgpcode.Bin8, IDLen}, fenceSender[:]...)))
	answered := false
	for {
		b := r.read(t, time.Now().Add(10*time.Second))
		if b == nil {
			t.Fatalf("%s: no answer to the fence ping within 10 s", method)
		}
		id, ok := r.check(t, method, args, reqID, b)
		if id == fenceID {
			break
		}
		answered = answered || (ok && id == reqID)
	}
	if answered {
		return
	}
	ep := r.node.Endpoint()
	for deadline := time.Now().Add(10 * time.Second); ep.Stats().Running > 0; {
		if time.Now().After(deadline) {
			t.Fatalf("%s: handler still running after 10 s", method)
		}
		time.Sleep(10 * time.Microsecond)
	}
	for {
		b := r.read(t, time.Now()) // what is queued already
		if b == nil {
			return
		}
		r.check(t, method, args, reqID, b)
	}
}

func (r *fuzzRig) send(t *testing.T, b []byte) {
	if _, err := r.client.WriteToUDPAddrPort(b, r.nodeAddr); err != nil {
		t.Fatal(err)
	}
}

// read returns the next datagram that is not a request (the node's own
// requests to the fuzzed senders are ignored), or nil at the deadline.
func (r *fuzzRig) read(t *testing.T, deadline time.Time) []byte {
	r.client.SetReadDeadline(deadline)
	for {
		n, _, err := r.client.ReadFromUDPAddrPort(r.buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 && r.buf[0] == wire.TypeRequest {
			continue
		}
		return r.buf[:n]
	}
}

// check examines one answer and returns its message id and whether it is a
// well-formed answer. It fails the target for a handler panic, an error
// code a handler should not produce, or a successful answer that breaks
// the protocol.
func (r *fuzzRig) check(t *testing.T, method string, args []byte, reqID [20]byte, b []byte) ([20]byte, bool) {
	var id [20]byte
	if len(b) < wire.HeaderLen+1 {
		t.Fatalf("%s: short answer %x", method, b)
	}
	copy(id[:], b[1:wire.HeaderLen])
	body := b[wire.HeaderLen:]
	switch b[0] {
	case wire.TypeError:
		// [code, method, message]: code is a positive fixint.
		if len(body) < 2 || body[0] != 0x93 {
			t.Fatalf("%s: malformed error reply %x", method, b)
		}
		switch code := rpcudp.ErrorCode(body[1]); code {
		case 3, 1: // rpcudp's codes for ErrBadArgs, ErrHandler
		case 4: // ErrHandlerPanic
			t.Fatalf("%s handler panicked on args %x: %q", method, args, body)
		default:
			t.Fatalf("%s: unexpected error code %d for args %x: %q", method, code, args, body)
		}
		return id, true
	case wire.TypeResponse:
	default:
		t.Fatalf("%s: answer of type %#x", method, b[0])
	}
	if id != reqID {
		return id, true // the fence's answer (a ping)
	}
	n := r.node
	switch method {
	case methodPing:
		if !bytes.Equal(body, append([]byte{msgpcode.Bin8, IDLen}, n.id[:]...)) {
			t.Fatalf("ping answered %x, want our id", body)
		}
	case methodStun:
		if ap, err := parseStunReply(body); err != nil || ap != r.client.AddrPort() {
			t.Fatalf("stun answered %x (%v, %v), want the client's address", body, ap, err)
		}
	case methodStore:
		if !bytes.Equal(body, []byte{msgpcode.True}) {
			t.Fatalf("store answered %x, want true", body)
		}
	case methodFindNode:
		cs, err := n.parseContacts(body, n.Addr().Addr())
		if err != nil {
			t.Fatalf("find_node answered what a peer cannot parse: %x: %v", body, err)
		}
		r.checkNeighbors(t, cs)
	case methodFindValue:
		_, found, cs, err := n.parseFindValue(body, n.Addr().Addr())
		if err != nil {
			t.Fatalf("find_value answered what a peer cannot parse: %x: %v", body, err)
		}
		if !found {
			r.checkNeighbors(t, cs)
		}
	}
	return id, true
}

// checkNeighbors: at most K contacts, none of them the caller (every
// fuzzed sender lives at the client's address) or the node itself.
func (r *fuzzRig) checkNeighbors(t *testing.T, cs []Contact) {
	client := r.client.AddrPort()
	if len(cs) > r.node.cfg.K {
		t.Fatalf("answered %d contacts, more than K", len(cs))
	}
	for _, c := range cs {
		if c.Addr == client || c.ID == r.node.id {
			t.Fatalf("answered contact %v: the caller or the node itself", c)
		}
	}
}

func fuzzHandler(f *testing.F, method string) {
	for _, args := range recordedArgs(f) {
		f.Add(args)
	}
	r := newFuzzRig(f)
	f.Fuzz(func(t *testing.T, args []byte) { r.roundTrip(t, method, args) })
}

// FuzzPing: ping [sender_id] through a node's rpcudp dispatch.
func FuzzPing(f *testing.F) { fuzzHandler(f, methodPing) }

// FuzzStun: stun [] through a node's rpcudp dispatch.
func FuzzStun(f *testing.F) { fuzzHandler(f, methodStun) }

// FuzzStore: store [sender_id, key, value] through a node's rpcudp
// dispatch.
func FuzzStore(f *testing.F) { fuzzHandler(f, methodStore) }

// FuzzFindNode: find_node [sender_id, key] through a node's rpcudp
// dispatch.
func FuzzFindNode(f *testing.F) { fuzzHandler(f, methodFindNode) }

// FuzzFindValue: find_value [sender_id, key] through a node's rpcudp
// dispatch.
func FuzzFindValue(f *testing.F) { fuzzHandler(f, methodFindValue) }

// FuzzLookupReply: a peer's answer to find_node, find_value or stun, as a
// lookup (or Stun) parses it. The contacts kept must be usable peers (a
// 20-byte id other than ours, a unicast address, a port), the find_node
// and find_value parsers must agree on a contact list, a value found must
// be a value of a Python type that survives a round trip, and the contacts
// go into a lookup's candidate heap as a lookup would put them.
func FuzzLookupReply(f *testing.F) {
	for _, b := range recordedReplies(f) {
		f.Add(b)
	}
	for _, args := range recordedArgs(f) {
		f.Add(args)
	}
	n, err := Listen(context.Background(), "127.0.0.1:0", Config{ID: mustID(f, pyClientID)})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { n.Close() })
	target := mustID(f, pyKey)
	f.Fuzz(func(t *testing.T, reply []byte) {
		cs, err := n.parseContacts(reply, n.Addr().Addr())
		if err != nil && !errors.Is(err, errMalformedReply) {
			t.Fatalf("parseContacts: %v, want errMalformedReply", err)
		}
		for _, c := range cs {
			if c.ID == n.id || !c.Addr.IsValid() || c.Addr.Port() == 0 ||
				c.Addr.Addr().IsUnspecified() || c.Addr.Addr().IsMulticast() || c.Addr.Addr().Is4In6() {
				t.Fatalf("parseContacts kept %v", c)
			}
		}
		v, found, cs2, err2 := n.parseFindValue(reply, n.Addr().Addr())
		if err2 != nil && !errors.Is(err2, errMalformedReply) {
			t.Fatalf("parseFindValue: %v, want errMalformedReply", err2)
		}
		// On a contact list both parsers agree. (On a malformed one,
		// parseFindValue returns what it decoded with the error, which
		// callFindValue drops.)
		if len(reply) > 0 && wire.KindOf(reply[0]) != wire.Map {
			if (err == nil) != (err2 == nil) || found || (err == nil && !slices.Equal(cs, cs2)) {
				t.Fatalf("parsers disagree on a contact list: %v %v / %v %v %v", cs, err, cs2, found, err2)
			}
		}
		if found {
			if _, err := v.Interface(); err != nil {
				t.Fatalf("value found does not decode: %v", err)
			}
			if back, err := valueFromMsgpack(v.encoded()); err != nil || !back.Equal(v) {
				t.Fatalf("value found does not round-trip: %v", err)
			}
		}
		parseStunReply(reply)
		h := newNodeHeap(target, n.cfg.K)
		h.push(cs...)
		for _, c := range h.uncontacted() {
			h.markQueried(c.ID)
			h.markAnswered(c.ID)
		}
		if got := len(h.answered(n.cfg.K)); got > n.cfg.K || got > len(cs) {
			t.Fatalf("%d answered candidates from %d contacts", got, len(cs))
		}
	})
}
