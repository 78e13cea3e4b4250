package kademlia

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/rpcudp/go-rpcudp/rpcudp/wire"
	"github.com/vmihailenco/msgpack/v5"
)

// The id of the Python node that answered the recorded replies, and the
// id of the Python node that sent the recorded requests.
const (
	pyServerID = "3de4f901fffb30ac720b0e7eb654b4faa2dd03fa"
	pyClientID = "14dc69de2a1e6087529f02b62fd2888c90d741d3"
	pyKey      = "61ba747fe2f5b3d513c40550084c6284fbbc1094"
)

func mustID(t testing.TB, s string) ID {
	t.Helper()
	id, err := ParseID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// pyServerNode is a node with the recorded Python server's id and the two
// contacts its routing table held when the replies were recorded.
func pyServerNode(t *testing.T) *Node {
	t.Helper()
	n := newDHTNode(t, Config{ID: mustID(t, pyServerID)})
	n.rt.tab.addFound(Contact{ID: mustID(t, "f18134d935dba78b3dbab167aed058b85cfa3c3c"), Addr: netip.MustParseAddrPort("10.0.0.2:2002")})
	n.rt.tab.addFound(Contact{ID: mustID(t, "cf2119ebd3a98319a1d84cacd1cf386c06aa1739"), Addr: netip.MustParseAddrPort("127.0.0.1:2001")})
	return n
}

// stunReply is the datagram Python sends for stun: [ip, port] under id.
func stunReply(msgid []byte, from netip.AddrPort) []byte {
	b := append([]byte{wire.TypeResponse}, msgid...)
	ip := from.Addr().String()
	b = append(b, 0x92, 0xa0|byte(len(ip)))
	b = append(b, ip...)
	return append(b, wire.AppendUint(nil, uint64(from.Port()))...)
}

// TestPythonRequests feeds every request recorded from Python's rpcudp to
// a node over loopback UDP from a raw socket and checks the replies.
func TestPythonRequests(t *testing.T) {
	vecs := loadVectors(t)
	n := newDHTNode(t, Config{ID: mustID(t, pyServerID)})
	n.rt.tab.addFound(Contact{ID: mustID(t, "f18134d935dba78b3dbab167aed058b85cfa3c3c"), Addr: netip.MustParseAddrPort("10.0.0.2:2002")})
	key := unhex(t, pyKey)
	tests := []struct {
		name  string
		check func(t *testing.T, p *rawPeer, req, body []byte)
	}{
		{"ping", func(t *testing.T, _ *rawPeer, _, body []byte) {
			if want := append([]byte{0xc4, 20}, n.id[:]...); !bytes.Equal(body, want) {
				t.Errorf("body %x, want %x", body, want)
			}
		}},
		{"stun", func(t *testing.T, p *rawPeer, req, body []byte) {
			if want := stunReply(req[1:21], p.addr())[21:]; !bytes.Equal(body, want) {
				t.Errorf("body %x, want %x", body, want)
			}
		}},
		{"find_node", func(t *testing.T, p *rawPeer, _, body []byte) {
			cs, err := n.parseContacts(body, n.Addr().Addr())
			if err != nil {
				t.Fatal(err)
			}
			want := n.rt.tab.closest(ID(key), n.cfg.K, func(c Contact) bool { return c.ID == mustID(t, pyClientID) })
			if !slices.Equal(cs, want) || len(cs) == 0 {
				t.Errorf("contacts %v, want %v", cs, want)
			}
		}},
		{"find_value", func(t *testing.T, _ *rawPeer, _, body []byte) {
			// Nothing stored yet: the find_node answer.
			if _, found, cs, err := n.parseFindValue(body, n.Addr().Addr()); err != nil || found || len(cs) != 1 {
				t.Errorf("find_value = found %v, %v, %v", found, cs, err)
			}
		}},
	}
	for _, name := range []string{"store_str", "store_bytes", "store_int", "store_negative_int", "store_big_int", "store_float", "store_bool"} {
		tests = append(tests, struct {
			name  string
			check func(t *testing.T, p *rawPeer, req, body []byte)
		}{name, func(t *testing.T, _ *rawPeer, req, body []byte) {
			if !bytes.Equal(body, []byte{0xc3}) {
				t.Fatalf("body %x, want c3 (true)", body)
			}
			// The value is stored exactly as Python packed it.
			raw := req[bytes.Index(req, key)+len(key):]
			v, ok, err := n.storage.Get(ID(key))
			if err != nil || !ok || !bytes.Equal(v.encoded(), raw) {
				t.Errorf("stored %x (%v, %v), want %x", v.encoded(), ok, err, raw)
			}
		}})
	}
	for _, name := range []string{"sayhi", "no_args", "nested_args"} {
		tests = append(tests, struct {
			name  string
			check func(t *testing.T, p *rawPeer, req, body []byte)
		}{name, nil})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, ok := vecs[tt.name]
			if !ok || v.Kind != "request" {
				t.Fatalf("no request vector %q", tt.name)
			}
			req := unhex(t, v.Hex)
			p := newRawPeer(t) // a fresh socket: no reply cache hit across vectors
			p.send(n.Addr(), req)
			r := p.reply(nil)
			if !bytes.Equal(r[1:21], req[1:21]) {
				t.Fatalf("reply id %x, want %x", r[1:21], req[1:21])
			}
			if tt.check == nil {
				// Not a Kademlia method: Python stays silent; we answer Go
				// callers with an error reply, which Python ignores.
				if r[0] != wire.TypeError {
					t.Fatalf("reply type %#x, want error reply", r[0])
				}
				return
			}
			if r[0] != wire.TypeResponse {
				t.Fatalf("reply type %#x: %x", r[0], r)
			}
			tt.check(t, p, req, r[21:])
		})
	}
}

// TestPythonRepliesByteIdentical checks that a node with the recorded
// server's id and table answers exactly the bytes Python answered.
func TestPythonRepliesByteIdentical(t *testing.T) {
	vecs := loadVectors(t)
	n := pyServerNode(t)
	if err := n.storage.Put(mustID(t, pyKey), dhtValue(t, "my awesome value"), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ping_reply", "stun_reply", "store_reply", "find_node_reply", "find_value_hit_reply", "find_value_miss_reply"} {
		t.Run(name, func(t *testing.T) {
			v := vecs[name]
			req, want := unhex(t, v.RequestHex), unhex(t, v.Hex)
			p := newRawPeer(t)
			if name == "stun_reply" {
				want = stunReply(req[1:21], p.addr())
			}
			p.send(n.Addr(), req)
			if got := p.reply(nil); !bytes.Equal(got, want) {
				t.Errorf("reply\n got %x\nwant %x", got, want)
			}
		})
	}
	v, ok, err := n.storage.Get(mustID(t, "d0941e68da8f38151ff86a61fc59f7c5cf9fcaa2"))
	if err != nil || !ok || v.String() != "99" {
		t.Errorf("store_reply stored %v %v %v, want 99", v, ok, err)
	}
}

// TestPythonWelcomeStore: a node seen for the first time is sent the keys
// it should hold, in exactly the datagram Python sends.
func TestPythonWelcomeStore(t *testing.T) {
	vecs := loadVectors(t)
	n := pyServerNode(t)
	if err := n.storage.Put(mustID(t, pyKey), dhtValue(t, "my awesome value"), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	p := newRawPeer(t)
	ping := vecs["ping_reply"]
	p.send(n.Addr(), unhex(t, ping.RequestHex))
	var reqs [][]byte
	if got, want := p.reply(&reqs), unhex(t, ping.Hex); !bytes.Equal(got, want) {
		t.Errorf("ping reply %x, want %x", got, want)
	}
	for len(reqs) == 0 {
		reqs = append(reqs, p.read())
	}
	// A hand-off starts with one ping to the newcomer (issue 9, finding 5:
	// a spoofed newcomer draws that ping, not the stores); answered with
	// the id the peer claimed, as Python answers, it is followed by the
	// very store Python sends.
	// (The routing table may ping the newcomer too: every ping is
	// answered.)
	isPing := func(m []byte) bool {
		return len(m) > 21 && m[0] == wire.TypeRequest && bytes.HasPrefix(m[21:], []byte{0x92, 0xa4, 'p', 'i', 'n', 'g'})
	}
	for isPing(reqs[0]) {
		req := unhex(t, ping.RequestHex)
		claimed := req[len(req)-IDLen:]
		p.send(n.Addr(), append(append([]byte{wire.TypeResponse}, reqs[0][1:21]...), append([]byte{0xc4, IDLen}, claimed...)...))
		reqs[0] = p.read()
	}
	side := unhex(t, vecs["ping_reply_side_request"].Hex)
	if got := reqs[0]; got[0] != wire.TypeRequest || !bytes.Equal(got[21:], side[21:]) {
		t.Fatalf("welcome store\n got %x\nwant %x (any message id)", got, side)
	}
	// Answer it as Python would; the node now knows the peer answers.
	p.send(n.Addr(), append(append([]byte{wire.TypeResponse}, reqs[0][1:21]...), 0xc3))
}

// TestPythonIgnoredDatagrams: what Python ignores gets no answer
// (an unknown method gets only the Go error reply, which Python ignores).
func TestPythonIgnoredDatagrams(t *testing.T) {
	vecs := loadVectors(t)
	n := newDHTNode(t, Config{ID: mustID(t, pyServerID)})
	ping := unhex(t, vecs["ping"].Hex)
	for _, name := range []string{"unknown_method_is_ignored", "unknown_type_byte_is_ignored", "short_datagram_is_ignored"} {
		t.Run(name, func(t *testing.T) {
			p := newRawPeer(t)
			p.send(n.Addr(), unhex(t, vecs[name].RequestHex))
			p.send(n.Addr(), ping)
			r := p.read()
			if name == "unknown_method_is_ignored" {
				// Go callers get an error reply (a type Python ignores),
				// before or after the ping's: both run in handler slots.
				e := r
				if r[0] != wire.TypeError {
					e = p.read()
				} else {
					r = p.read()
				}
				if e[0] != wire.TypeError {
					t.Fatalf("got %x, want an error reply", e)
				}
			}
			if r[0] != wire.TypeResponse || !bytes.Equal(r[1:21], ping[1:21]) {
				t.Fatalf("got %x, want the ping's reply", r)
			}
		})
	}
}

// TestHandlersRejectBadArgs: ids and keys must be 20-byte bin, values of a
// Python type; Go callers get an error reply naming bad arguments.
func TestHandlersRejectBadArgs(t *testing.T) {
	n := newDHTNode(t, Config{})
	client, err := rpcudp.Listen(context.Background(), "127.0.0.1:0", rpcudp.WithTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	id := RandomID()
	key := RandomID()
	tests := []struct {
		name   string
		method string
		args   []any
	}{
		{"ping short id", methodPing, []any{id[:19]}},
		{"ping long id", methodPing, []any{append(id.Bytes(), 0)}},
		{"ping str id", methodPing, []any{strings.Repeat("x", 20)}},
		{"ping int id", methodPing, []any{7}},
		{"ping no args", methodPing, nil},
		{"ping two args", methodPing, []any{id[:], id[:]}},
		{"stun with args", methodStun, []any{1}},
		{"find_node str id", methodFindNode, []any{strings.Repeat("x", 20), key[:]}},
		{"find_node short key", methodFindNode, []any{id[:], key[:10]}},
		{"find_value no key", methodFindValue, []any{id[:]}},
		{"store nil value", methodStore, []any{id[:], key[:], nil}},
		{"store list value", methodStore, []any{id[:], key[:], []int{1, 2}}},
		{"store map value", methodStore, []any{id[:], key[:], map[string]int{"a": 1}}},
		{"store str key", methodStore, []any{id[:], strings.Repeat("k", 20), "v"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.Call(dhtCtx(t), n.Addr(), tt.method, tt.args...)
			if !errors.Is(err, rpcudp.ErrBadArgs) {
				t.Fatalf("err = %v, want ErrBadArgs", err)
			}
		})
	}
	if n.storage.Len() != 0 {
		t.Errorf("storage holds %d items after rejected stores", n.storage.Len())
	}
	// Only the valid sender id was ever added (by the requests whose other
	// arguments were bad).
	for _, c := range n.Table().Contacts() {
		if c.ID != id {
			t.Errorf("table holds %v", c)
		}
	}
}

// TestStoreRespectsStorageBounds: a store beyond the storage's bounds is
// refused with an error.
func TestStoreRespectsStorageBounds(t *testing.T) {
	n := newDHTNode(t, Config{Storage: newMemoryStorage(StorageConfig{MaxItems: 1})})
	client, err := rpcudp.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	defer n.storage.Close()
	id := RandomID()
	ctx := dhtCtx(t)
	if _, err := client.Call(ctx, n.Addr(), methodStore, id[:], RandomID().Bytes(), "one"); err != nil {
		t.Fatal(err)
	}
	_, err = client.Call(ctx, n.Addr(), methodStore, id[:], RandomID().Bytes(), "two")
	if !errors.Is(err, rpcudp.ErrHandler) || !strings.Contains(err.Error(), "storage full") {
		t.Fatalf("second store: %v, want a storage full error reply", err)
	}
}

// TestFindNodeMatchesBruteForce: find_node and find_value (miss) answer the
// K contacts closest to the key, caller excluded, exactly as sorting every
// contact would.
func TestFindNodeMatchesBruteForce(t *testing.T) {
	const k = 8
	n := newDHTNode(t, Config{K: k})
	rng := rand.New(rand.NewPCG(1, 2))
	randID := func() ID {
		var id ID
		for i := range id {
			id[i] = byte(rng.Uint32())
		}
		return id
	}
	for i := range 400 {
		addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1}), uint16(1000+i))
		n.rt.tab.addFound(Contact{ID: randID(), Addr: addr})
	}
	client, err := rpcudp.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	caller := Contact{ID: randID(), Addr: client.LocalAddr()}
	all := n.Table().Contacts()
	targets := []ID{caller.ID, all[0].ID, all[len(all)-1].ID, n.ID(), {}}
	for range 30 {
		targets = append(targets, randID())
	}
	ctx := dhtCtx(t)
	for i, target := range targets {
		for _, method := range []string{methodFindNode, methodFindValue} {
			r, err := client.Call(ctx, n.Addr(), method, caller.ID[:], target[:])
			if err != nil {
				t.Fatal(err)
			}
			got, err := n.parseContacts(r, n.Addr().Addr())
			if err != nil {
				t.Fatal(err)
			}
			var want []Contact
			for _, c := range n.Table().Contacts() {
				if c.ID != caller.ID && c.Addr != caller.Addr {
					want = append(want, c)
				}
			}
			slices.SortFunc(want, func(a, b Contact) int { return cmpDistance(target, a.ID, b.ID) })
			want = want[:k]
			if !slices.Equal(got, want) {
				t.Errorf("target %d (%s) %s:\n got %v\nwant %v", i, target, method, got, want)
			}
		}
	}
}

// TestCacheStoreTTL: a store for a key of which the node knows at least K
// closer contacts is a cache store, whose lifetime halves with every
// contact closer than the node beyond K-1.
func TestCacheStoreTTL(t *testing.T) {
	const k = 4
	week := defaultStorageTTL
	key := RandomID()
	tests := []struct {
		closer int
		want   time.Duration
	}{
		{0, week}, {3, week}, {4, week / 2}, {5, week / 4}, {7, week / 16}, {12, week / 512}, {20, minCacheTTL},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.closer), func(t *testing.T) {
			clock := newFakeClock()
			self := key
			self[0] ^= 0x40
			n := newDHTNode(t, Config{K: k, Now: clock.Now, ID: self, IPLimits: noIPLimits})
			// Contacts closer to the key than the node, spread over the
			// eight buckets of depth 5 below it so that the table keeps
			// them all.
			for i := range tt.closer {
				id := xorID(key, byte(i/8+1))
				id[0] ^= byte(i%8) << 3
				n.rt.tab.addFound(Contact{ID: id, Addr: netip.AddrPortFrom(netip.MustParseAddr("10.1.1.1"), uint16(1000+i))})
			}
			if got := n.closerThanUs(key, 100); got != tt.closer {
				t.Fatalf("table keeps %d closer contacts, want %d", got, tt.closer)
			}
			client, err := rpcudp.Listen(context.Background(), "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			far := key
			for i := range far {
				far[i] ^= 0xff
			}
			if _, err := client.Call(dhtCtx(t), n.Addr(), methodStore, far[:], key[:], "v"); err != nil {
				t.Fatal(err)
			}
			m, ok := metaOf(t, n.storage, key)
			if !ok {
				t.Fatal("not stored")
			}
			if got := m.Expires.Sub(clock.Now()); got != tt.want {
				t.Errorf("ttl %v, want %v", got, tt.want)
			}
			// Storing it again keeps the expiry.
			clock.Advance(time.Second)
			if _, err := client.Call(dhtCtx(t), n.Addr(), methodStore, far[:], key[:], "v2"); err != nil {
				t.Fatal(err)
			}
			m2, _ := metaOf(t, n.storage, key)
			if tt.closer >= k && !m2.Expires.Equal(m.Expires) {
				t.Errorf("cache store again moved expiry from %v to %v", m.Expires, m2.Expires)
			}
		})
	}
}

// TestParseRepliesNeverPanic runs the reply parsers over arbitrary bytes.
func TestParseRepliesNeverPanic(t *testing.T) {
	n := newDHTNode(t, Config{})
	rng := rand.New(rand.NewPCG(3, 4))
	seeds := [][]byte{
		{}, {0x90}, {0x91, 0x93, 0xc4, 0x14}, {0x81, 0xa5, 'v', 'a', 'l', 'u', 'e'}, {0xdd, 0xff, 0xff, 0xff, 0xff},
		{0x91, 0x93, 0xc4, 0x01, 0x00, 0xa1, '1', 0x01},
	}
	for range 2000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		seeds = append(seeds, b)
	}
	for _, b := range seeds {
		n.parseContacts(b, n.Addr().Addr())
		n.parseFindValue(b, n.Addr().Addr())
		parseStunReply(b)
		binID(b)
	}
}

// TestParseContacts covers the accepted and rejected contact lists.
func TestParseContacts(t *testing.T) {
	n := newDHTNode(t, Config{})
	good := RandomID()
	enc := func(v any) []byte {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name    string
		reply   []byte
		want    int // contacts accepted; -1: the whole answer is malformed
		wantErr bool
	}{
		{"empty list", enc([]any{}), 0, false},
		{"one", enc([]any{[]any{good[:], "127.0.0.1", 5}}), 1, false},
		{"ipv6", enc([]any{[]any{good[:], "::1", 5}}), 1, false},
		{"mapped ipv4", enc([]any{[]any{good[:], "::ffff:1.2.3.4", 5}}), 1, false},
		{"our own id", enc([]any{[]any{n.id[:], "127.0.0.1", 5}}), 0, false},
		{"short id", enc([]any{[]any{good[:19], "127.0.0.1", 5}}), 0, false},
		{"bad ip", enc([]any{[]any{good[:], "999.1.1.1", 5}}), 0, false},
		{"hostname", enc([]any{[]any{good[:], "localhost", 5}}), 0, false},
		{"unspecified ip", enc([]any{[]any{good[:], "0.0.0.0", 5}}), 0, false},
		{"port 0", enc([]any{[]any{good[:], "127.0.0.1", 0}}), 0, false},
		{"port 70000", enc([]any{[]any{good[:], "127.0.0.1", 70000}}), 0, false},
		{"negative port", enc([]any{[]any{good[:], "127.0.0.1", -1}}), 0, false},
		{"nil", enc(nil), -1, true},
		{"str", enc("garbage"), -1, true},
		{"map", enc(map[string]any{"value": 1}), -1, true},
		{"pair", enc([]any{[]any{good[:], "127.0.0.1"}}), -1, true},
		{"id as str", enc([]any{[]any{string(good[:]), "127.0.0.1", 5}}), -1, true},
		{"ip as bin", enc([]any{[]any{good[:], []byte("127.0.0.1"), 5}}), -1, true},
		{"port as str", enc([]any{[]any{good[:], "127.0.0.1", "5"}}), -1, true},
		{"port as float", enc([]any{[]any{good[:], "127.0.0.1", 5.0}}), -1, true},
		{"flat", enc([]any{good[:], "127.0.0.1", 5}), -1, true},
		{"trailing bytes", append(enc([]any{}), 0x01), -1, true},
		{"truncated", enc([]any{[]any{good[:], "127.0.0.1", 5}})[:10], -1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs, err := n.parseContacts(tt.reply, n.Addr().Addr())
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, errMalformedReply) {
				t.Errorf("err = %v, want errMalformedReply", err)
			}
			if !tt.wantErr && len(cs) != tt.want {
				t.Errorf("got %v, want %d contacts", cs, tt.want)
			}
		})
	}
	// find_value: the value map.
	for _, tt := range []struct {
		name  string
		reply []byte
		ok    bool
	}{
		{"value", enc(map[string]any{"value": "x"}), true},
		{"extra keys", enc(map[string]any{"value": 1, "other": []int{1}}), true},
		{"no value key", enc(map[string]any{"x": 1}), false},
		{"list value", enc(map[string]any{"value": []int{1}}), false},
		{"nil value", enc(map[string]any{"value": nil}), false},
		{"int key", enc(map[int]any{1: "x"}), false},
	} {
		t.Run("find_value "+tt.name, func(t *testing.T) {
			_, found, _, err := n.parseFindValue(tt.reply, n.Addr().Addr())
			if (err == nil && found) != tt.ok {
				t.Errorf("found %v err %v, want ok %v", found, err, tt.ok)
			}
		})
	}
}

func TestStun(t *testing.T) {
	a := newDHTNode(t, Config{})
	b := newDHTNode(t, Config{})
	got, err := a.Stun(dhtCtx(t), b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if got != a.Addr() {
		t.Errorf("Stun = %v, want %v", got, a.Addr())
	}
	if _, err := parseStunReply([]byte{0x92, 0xa3, '1', '.', '2', 0x01}); err == nil {
		t.Error("bad ip accepted")
	}
	// Python on IPv6 answers (ip, port, flowinfo, scope_id).
	ap, err := parseStunReply(append([]byte{0x94, 0xa3, ':', ':', '1', 0xcd, 0x11, 0xd7}, 0, 0))
	if err != nil || ap != netip.MustParseAddrPort("[::1]:4567") {
		t.Errorf("4-tuple stun = %v, %v", ap, err)
	}
}
