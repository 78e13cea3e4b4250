package kademlia

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/rpcudp/go-rpcudp/rpcudp/wire"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// dhtCtx is a context bounded well inside the test binary's deadline.
func dhtCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newDHTNode creates a node listening on 127.0.0.1 (short RPC timeout
// unless cfg says otherwise), closed with the test.
func newDHTNode(t testing.TB, cfg Config, h ...testHooks) *Node {
	t.Helper()
	return newDHTNodeOn(t, cfg, "127.0.0.1:0", h...)
}

func newDHTNodeOn(t testing.TB, cfg Config, addr string, h ...testHooks) *Node {
	t.Helper()
	if cfg.RPCTimeout == 0 {
		cfg.RPCTimeout = 2 * time.Second
	}
	var hk testHooks
	if len(h) > 0 {
		hk = h[0]
	}
	n, err := listen(context.Background(), addr, cfg, hk)
	if err != nil {
		t.Fatalf("Listen(%s): %v", addr, err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// dhtNetwork creates count nodes, the first one alone and every other one
// bootstrapped from it concurrently.
func dhtNetwork(t testing.TB, count int, cfg Config) []*Node {
	t.Helper()
	nodes := make([]*Node, count)
	for i := range nodes {
		c := cfg
		if i > 0 {
			c.ID = ID{}
		}
		nodes[i] = newDHTNode(t, c)
	}
	ctx := dhtCtx(t)
	errs := make(chan error, count)
	for _, n := range nodes[1:] {
		go func() {
			_, err := n.Bootstrap(ctx, []netip.AddrPort{nodes[0].Addr()})
			errs <- err
		}()
	}
	for range nodes[1:] {
		if err := <-errs; err != nil {
			t.Fatalf("Bootstrap: %v", err)
		}
	}
	return nodes
}

// deadAddr returns a loopback UDP address on which nothing answers (a
// socket bound and kept open, never read, closed with the test).
func deadAddr(t testing.TB) netip.AddrPort {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// fakePeer is an rpcudp endpoint with scripted handlers, standing in for a
// misbehaving (or instrumented) peer.
type fakePeer struct {
	ep *rpcudp.Endpoint
	id ID
}

func (p *fakePeer) contact() Contact { return Contact{ID: p.id, Addr: p.ep.LocalAddr()} }

func newFakePeer(t testing.TB, id ID, handlers map[string]rpcudp.HandlerFunc) *fakePeer {
	t.Helper()
	ep, err := rpcudp.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		ep.Shutdown(ctx)
	})
	if err := registerErrors(ep); err != nil { // a Go holder's error codes
		t.Fatal(err)
	}
	p := &fakePeer{ep: ep, id: id}
	if _, ok := handlers[methodPing]; !ok {
		ep.Handle(methodPing, rpcudp.HandlerFunc(func(context.Context, *rpcudp.Request) (any, error) {
			return p.id[:], nil
		}))
	}
	for name, h := range handlers {
		if err := ep.Handle(name, h); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// answer returns a handler that always answers v.
func answer(v any) rpcudp.HandlerFunc {
	return func(context.Context, *rpcudp.Request) (any, error) { return v, nil }
}

// tableFailures returns the consecutive failure count of id in tab, or -1
// if it is not in a bucket.
func tableFailures(tab *table, id ID) int {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	b := tab.bucketFor(id)
	if j := b.indexOf(id); j >= 0 {
		return b.entries[j].failures
	}
	return -1
}

// metaOf returns the metadata of key in s.
func metaOf(t testing.TB, s Storage, key ID) (Meta, bool) {
	t.Helper()
	var m Meta
	found := false
	if err := s.Iterate(func(k ID, _ Value, meta Meta) bool {
		if k == key {
			m, found = meta, true
			return false
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return m, found
}

// xorID returns a with the given bytes xored into its tail: an id close to
// a.
func xorID(a ID, tail ...byte) ID {
	for i, b := range tail {
		a[IDLen-len(tail)+i] ^= b
	}
	return a
}

// fakeClock is a manually advanced clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// notifyStorage wraps a Storage and reports every successful Put.
type notifyStorage struct {
	Storage
	puts chan ID
}

func (s *notifyStorage) Put(key ID, v Value, opts PutOptions) error {
	err := s.Storage.Put(key, v, opts)
	if err == nil {
		select {
		case s.puts <- key:
		default:
		}
	}
	return err
}

// waitFor receives from ch or fails the test when ctx ends.
func waitFor[T any](t testing.TB, ctx context.Context, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-ctx.Done():
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

// ---- the recorded Python datagrams ----

type pyVector struct {
	Name       string          `json:"name"`
	Kind       string          `json:"kind"`
	Hex        string          `json:"hex"`
	RequestHex string          `json:"request_hex"`
	MsgID      string          `json:"msgid"`
	Decoded    json.RawMessage `json:"decoded"`
}

func loadVectors(t testing.TB) map[string]pyVector {
	t.Helper()
	data, err := os.ReadFile("testdata/python-reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Vectors []pyVector `json:"vectors"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	out := make(map[string]pyVector, len(f.Vectors))
	for _, v := range f.Vectors {
		out[v.Name] = v
	}
	return out
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// rawPeer is a bare UDP socket speaking to a node datagram by datagram.
type rawPeer struct {
	t    testing.TB
	conn *net.UDPConn
}

func newRawPeer(t testing.TB) *rawPeer {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawPeer{t: t, conn: c}
}

func (p *rawPeer) addr() netip.AddrPort { return p.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (p *rawPeer) send(to netip.AddrPort, b []byte) {
	p.t.Helper()
	if _, err := p.conn.WriteToUDPAddrPort(b, to); err != nil {
		p.t.Fatal(err)
	}
}

// read returns the next datagram, failing the test after 5 s.
func (p *rawPeer) read() []byte {
	p.t.Helper()
	buf := make([]byte, 65536)
	p.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := p.conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		p.t.Fatalf("read: %v", err)
	}
	return buf[:n]
}

// reply returns the next datagram that is not a request (type 0x00), the
// requests being collected in reqs if it is non-nil.
func (p *rawPeer) reply(reqs *[][]byte) []byte {
	p.t.Helper()
	for {
		b := p.read()
		if len(b) > 0 && b[0] == wire.TypeRequest {
			if reqs != nil {
				*reqs = append(*reqs, b)
			}
			continue
		}
		return b
	}
}

func dhtValue(t testing.TB, v any) Value {
	t.Helper()
	val, err := EncodeValue(v)
	if err != nil {
		t.Fatal(err)
	}
	return val
}
