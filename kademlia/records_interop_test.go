package kademlia

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"

	"github.com/rpcudp/go-rpcudp/rpcudp/wire"
)

// pyRecordNode plays a plain Python kademlia node datagram by datagram (see
// testdata/python-reference.json): it answers ping with its id, find_node
// with the contacts that have called it, store by keeping the value (a
// bin: its bytes, re-packed as u-msgpack packs bytes) whatever it is, and
// find_value with {"value": v} when it holds the key. It validates
// nothing, as Python does not.
type pyRecordNode struct {
	t    testing.TB
	id   ID
	conn *net.UDPConn
	done chan struct{}
	puts chan ID // a key after each store

	mu       sync.Mutex
	values   map[ID][]byte // the msgpack of each value, as it serves it
	stores   map[ID][][]byte
	contacts map[ID]netip.AddrPort
}

func newPyRecordNode(t testing.TB, id ID) *pyRecordNode {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &pyRecordNode{t: t, id: id, conn: c, done: make(chan struct{}), puts: make(chan ID, 64),
		values: map[ID][]byte{}, stores: map[ID][][]byte{}, contacts: map[ID]netip.AddrPort{}}
	go p.serve()
	t.Cleanup(func() {
		c.Close()
		<-p.done
	})
	return p
}

func (p *pyRecordNode) addr() netip.AddrPort { return p.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (p *pyRecordNode) serve() {
	defer close(p.done)
	buf := make([]byte, 65536)
	for {
		n, from, err := p.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		b := buf[:n]
		if len(b) <= wire.HeaderLen || b[0] != wire.TypeRequest {
			continue // replies to nothing, error replies: ignored, as Python does
		}
		if result, ok := p.handle(netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), b[wire.HeaderLen:]); ok {
			reply := append([]byte{wire.TypeResponse}, b[1:wire.HeaderLen]...)
			p.conn.WriteToUDPAddrPort(append(reply, result...), from)
		}
	}
}

// handle returns the msgpack of the answer to one request, or false to
// stay silent (what Python does with a request it cannot handle).
func (p *pyRecordNode) handle(from netip.AddrPort, body []byte) ([]byte, bool) {
	var req []msgpack.RawMessage
	var method string
	var args []msgpack.RawMessage
	if msgpack.Unmarshal(body, &req) != nil || len(req) != 2 ||
		msgpack.Unmarshal(req[0], &method) != nil || msgpack.Unmarshal(req[1], &args) != nil || len(args) == 0 {
		return nil, false
	}
	sender, err := binID(args[0])
	if err != nil {
		return nil, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.contacts[sender] = from
	var key ID
	if len(args) > 1 {
		if key, err = binID(args[1]); err != nil {
			return nil, false
		}
	}
	switch {
	case method == methodPing && len(args) == 1:
		return wire.AppendBin(nil, p.id[:]), true
	case method == methodStore && len(args) == 3:
		v := []byte(args[2])
		var bin []byte
		if len(v) > 0 && (v[0] == msgpcode.Bin8 || v[0] == msgpcode.Bin16 || v[0] == msgpcode.Bin32) && msgpack.Unmarshal(v, &bin) == nil {
			v = wire.AppendBin(nil, bin) // Python keeps bytes and packs them again
		}
		p.values[key] = v
		p.stores[key] = append(p.stores[key], []byte(args[2]))
		select {
		case p.puts <- key:
		default:
		}
		return []byte{msgpcode.True}, true
	case method == methodFindValue && len(args) == 2:
		if v, ok := p.values[key]; ok {
			return append(wire.AppendStr(wire.AppendMapLen(nil, 1), "value"), v...), true
		}
		return p.neighbours(sender), true
	case method == methodFindNode && len(args) == 2:
		return p.neighbours(sender), true
	}
	return nil, false
}

// neighbours packs the contacts that called it, but the asker, as
// find_node's list of (id, ip, port).
func (p *pyRecordNode) neighbours(asker ID) []byte {
	var list [][]byte
	for id, a := range p.contacts {
		if id == asker {
			continue
		}
		t := wire.AppendArrayLen(nil, 3)
		t = wire.AppendBin(t, id[:])
		t = wire.AppendStr(t, a.Addr().String())
		list = append(list, wire.AppendUint(t, uint64(a.Port())))
	}
	b := wire.AppendArrayLen(nil, len(list))
	for _, t := range list {
		b = append(b, t...)
	}
	return b
}

// stored returns the value it holds under key and the values it was sent.
func (p *pyRecordNode) stored(key ID) ([]byte, [][]byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.values[key], p.stores[key]
}

// put replaces what it holds under key (a Python writer's store, say).
func (p *pyRecordNode) put(key ID, v Value) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.values[key] = v.encoded()
}

// TestRecordsInteropPythonHolder: a Go writer's signed record, stored at
// a plain Python node, is kept and served byte for byte; a Go reader that
// knows only the Python node verifies it, and ignores a forged or
// truncated copy the Python node was given instead.
func TestRecordsInteropPythonHolder(t *testing.T) {
	ctx := dhtCtx(t)
	py := newPyRecordNode(t, RandomID())
	pub, priv, _ := ed25519.GenerateKey(nil)
	salt := []byte("interop")
	key := RecordKey(pub, salt)

	writer := newDHTNode(t, Config{})
	if _, err := writer.Bootstrap(ctx, []netip.AddrPort{py.addr()}); err != nil {
		t.Fatal(err)
	}
	if _, err := writer.PutRecord(ctx, priv, salt, []byte("v1"), PutRecordOptions{}); err != nil {
		t.Fatal(err)
	}
	r, err := writer.PutRecord(ctx, priv, salt, []byte("v2"), PutRecordOptions{})
	if err != nil || r.Seq != 2 {
		t.Fatalf("PutRecord v2: seq %d, %v", r.Seq, err)
	}
	want, _ := r.Encode()
	held, sent := py.stored(key)
	if len(sent) != 2 || !bytes.Equal(sent[1], want.encoded()) || !bytes.Equal(held, want.encoded()) {
		t.Fatalf("the Python node was sent %x and holds %x; want %x", sent, held, want.encoded())
	}
	writer.Close()

	reader := newDHTNode(t, Config{})
	if _, err := reader.Bootstrap(ctx, []netip.AddrPort{py.addr()}); err != nil {
		t.Fatal(err)
	}
	got, found, err := reader.GetRecord(ctx, pub, salt, GetOptions{Quorum: 1})
	if err != nil || !found || got.Seq != 2 || string(got.Value) != "v2" || got.Verify() != nil {
		t.Fatalf("GetRecord through the Python node: seq %d %q, found %v, %v", got.Seq, got.Value, found, err)
	}

	// The Python node is given bad copies instead: the reader finds none.
	_, other, _ := ed25519.GenerateKey(nil)
	foreign, _ := NewRecord(other, salt, 3, []byte("not yours"))
	forged := r
	forged.Seq, forged.Value = 3, []byte("forged")
	body := r.appendBody(nil, nil)
	for name, v := range map[string]Value{
		"another key's record": poisonEnvelope(t, foreign.appendBody(nil, nil)),
		"a forged signature":   poisonEnvelope(t, forged.appendBody(nil, nil)),
		"a truncated record":   poisonEnvelope(t, body[:len(body)-1-len(r.Value)]),
		"a plain value":        dhtValue(t, "v9"),
	} {
		py.put(key, v)
		got, found, err := reader.GetRecord(ctx, pub, salt, GetOptions{Quorum: 1})
		if err != nil || found {
			t.Errorf("%s at the Python node: GetRecord = seq %d %q, found %v, %v; want nothing", name, got.Seq, got.Value, found, err)
		}
	}
}

// TestRecordsInteropRepairsPython: in a network of a Go holder and a
// Python node holding a stale copy, a Go reader returns the newest record
// and its read repair stores the newest at the Python node, which then
// serves it byte for byte.
func TestRecordsInteropRepairsPython(t *testing.T) {
	ctx := dhtCtx(t)
	py := newPyRecordNode(t, RandomID())
	pub, priv, _ := ed25519.GenerateKey(nil)
	salt := []byte("repair")
	key := RecordKey(pub, salt)
	holder := newDHTNode(t, Config{})
	if _, err := holder.Bootstrap(ctx, []netip.AddrPort{py.addr()}); err != nil {
		t.Fatal(err)
	}
	old, err := holder.PutRecord(ctx, priv, salt, []byte("old"), PutRecordOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stale, _ := old.Encode()
	r, err := holder.PutRecord(ctx, priv, salt, []byte("new"), PutRecordOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := r.Encode()
	py.put(key, stale) // the Python node holds the old copy again

	reader := newDHTNode(t, Config{})
	if _, err := reader.Bootstrap(ctx, []netip.AddrPort{py.addr()}); err != nil {
		t.Fatal(err)
	}
	got, found, err := reader.GetRecord(ctx, pub, salt, GetOptions{SkipLocal: true})
	if err != nil || !found || got.Seq != r.Seq {
		t.Fatalf("GetRecord: seq %d, found %v, %v; want seq %d", got.Seq, found, err, r.Seq)
	}
	// The repair runs in the background: wait for the Python node's copy.
	for {
		if held, _ := py.stored(key); bytes.Equal(held, want.encoded()) {
			break
		}
		select {
		case <-ctx.Done():
			held, _ := py.stored(key)
			t.Fatalf("the Python node still holds %x, want the newest %x", held, want.encoded())
		case <-py.puts:
		}
	}
	// A rollback (the store datagram a Python writer sends) is refused by
	// the Go holder.
	if err := reader.callStore(ctx, Contact{ID: holder.ID(), Addr: holder.Addr()}, key, stale); !errors.Is(err, ErrStaleRecord) {
		t.Errorf("store of the old record at the Go holder: %v, want ErrStaleRecord", err)
	}
}

// TestRecordsInteropPythonVectors checks the Python stand-in against the
// recorded Python datagrams: it takes every recorded store, keeps the
// value exactly as Python packed it, and serves it in find_value as
// {"value": v}.
func TestRecordsInteropPythonVectors(t *testing.T) {
	vecs := loadVectors(t)
	py := newPyRecordNode(t, RandomID())
	key := ID(unhex(t, pyKey))
	for _, name := range []string{"store_str", "store_bytes", "store_int", "store_float", "store_bool"} {
		req := unhex(t, vecs[name].Hex)
		if _, ok := py.handle(netip.MustParseAddrPort("10.0.0.2:2002"), req[wire.HeaderLen:]); !ok {
			t.Fatalf("%s: no answer", name)
		}
		raw := req[bytes.Index(req, key[:])+IDLen:]
		held, _ := py.stored(key)
		if !bytes.Equal(held, raw) {
			t.Errorf("%s: holds %x, want %x as Python packed it", name, held, raw)
		}
		find := unhex(t, vecs["find_value"].Hex)
		body, ok := py.handle(netip.MustParseAddrPort("10.0.0.2:2002"), find[wire.HeaderLen:])
		if want := append(wire.AppendStr(wire.AppendMapLen(nil, 1), "value"), raw...); !ok || !bytes.Equal(body, want) {
			t.Errorf("%s: find_value answered %x, want %x", name, body, want)
		}
	}
}
