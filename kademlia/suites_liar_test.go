package kademlia

import (
	"context"
	"net/netip"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp/simnet"
	"github.com/rpcudp/go-rpcudp/rpcudp/wire"
	"github.com/vmihailenco/msgpack/v5"
)

// rawLiar is a peer on the simulated network that answers from a raw conn,
// so that its find_node and find_value answers can fill a whole datagram
// (an rpcudp handler's reply stays within MaxBody): ping with its id,
// store with true, and the finds with fakes(key), packed by hand.
type rawLiar struct {
	c     Contact
	conn  *simnet.Conn
	fakes func(key ID) []Contact
	done  chan struct{}
	sizes atomic.Int64 // the largest answer sent, in bytes of body
}

func newRawLiar(t testing.TB, cl *simCluster, c Contact, fakes func(ID) []Contact) *rawLiar {
	conn, err := cl.net.Listen(c.Addr)
	if err != nil {
		t.Fatal(err)
	}
	l := &rawLiar{c: c, conn: conn, fakes: fakes, done: make(chan struct{})}
	go l.serve()
	return l
}

func (l *rawLiar) close() {
	l.conn.Close()
	<-l.done
}

// ping sends a ping to addr; the answer is read (and ignored) by serve.
func (l *rawLiar) ping(addr netip.AddrPort) {
	b := append([]byte{wire.TypeRequest}, l.c.ID[:]...) // any message id
	b = wire.AppendArrayLen(b, 2)
	b = wire.AppendStr(b, methodPing)
	b = wire.AppendArrayLen(b, 1)
	b = wire.AppendBin(b, l.c.ID[:])
	l.conn.WriteToUDPAddrPort(b, addr)
}

func (l *rawLiar) serve() {
	defer close(l.done)
	for {
		b, from, err := l.conn.ReadPacket()
		if err != nil {
			return
		}
		if len(b) <= wire.HeaderLen || b[0] != wire.TypeRequest {
			continue
		}
		body, ok := l.answer(b[wire.HeaderLen:])
		if !ok {
			continue
		}
		l.sizes.Store(max(l.sizes.Load(), int64(len(body))))
		reply := append([]byte{wire.TypeResponse}, b[1:wire.HeaderLen]...)
		l.conn.WriteToUDPAddrPort(append(reply, body...), from)
	}
}

// answer returns the msgpack body answering one request.
func (l *rawLiar) answer(body []byte) ([]byte, bool) {
	var req []msgpack.RawMessage
	var method string
	var args []msgpack.RawMessage
	if msgpack.Unmarshal(body, &req) != nil || len(req) != 2 ||
		msgpack.Unmarshal(req[0], &method) != nil || msgpack.Unmarshal(req[1], &args) != nil {
		return nil, false
	}
	switch {
	case method == methodPing:
		return wire.AppendBin(nil, l.c.ID[:]), true
	case method == methodStore:
		return wire.AppendBool(nil, true), true
	case (method == methodFindNode || method == methodFindValue) && len(args) == 2:
		key, err := binID(args[1])
		if err != nil {
			return nil, false
		}
		cs := l.fakes(key)
		out := wire.AppendArrayLen(nil, len(cs))
		for _, c := range cs {
			out = wire.AppendArrayLen(out, 3)
			out = wire.AppendBin(out, c.ID[:])
			out = wire.AppendStr(out, c.Addr.Addr().String())
			out = wire.AppendInt(out, int64(c.Addr.Port()))
		}
		return out, true
	}
	return nil, false
}

// fakeAddr is the address of the i-th fake contact a liar names: a quarter
// each on loopback (the victim's own 127.1.x.y), in 192.168/16, in 10.200/16
// and on public addresses (each in a /24 of its own), none of which answers.
func fakeAddr(i int) netip.AddrPort {
	x, y := byte(i>>8), byte(i)
	ips := [4]netip.Addr{
		netip.AddrFrom4([4]byte{127, 1, x, y}),
		netip.AddrFrom4([4]byte{192, 168, x, y}),
		netip.AddrFrom4([4]byte{10, 200, x, y}),
		netip.AddrFrom4([4]byte{45, x, y, 9}),
	}
	return netip.AddrPortFrom(ips[i%4], uint16(1+i%127)) // a one-byte port: 1,700 fit a datagram
}

// isRelayTrap reports whether a is one of the loopback or private
// addresses fakeAddr hands out.
func isRelayTrap(a netip.Addr) bool {
	return a.IsLoopback() || netip.MustParsePrefix("192.168.0.0/16").Contains(a) ||
		netip.MustParsePrefix("10.200.0.0/16").Contains(a)
}

// TestSuiteLiarContacts (issue 18, finding 4): a liar on a public address
// answers every find_node and find_value with 1,700 fake contacts (a full
// datagram) whose ids are closer to the key than anyone's and whose
// addresses never answer, half of them loopback or private addresses it
// has no business relaying. A third of the honest nodes know it, and so
// does the getter, a node that knows one honest node besides and hears
// from the liar first. A get through it finds the value within 2 s of
// (virtual) time, a get of a key nobody holds (two lookups that must
// converge) ends as soon, and no node sends a datagram to the relayed
// loopback or private addresses.
func TestSuiteLiarContacts(t *testing.T) {
	t.Parallel()
	const fakes = 1700
	honestN := bySize(60, 100)
	synctest.Test(t, func(t *testing.T) {
		cl := newSimCluster(t, 18)
		defer cl.close()
		honest := cl.grow(honestN, Config{})
		cl.joinAtOnce(honest)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		key, err := Digest("liar-key")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		if err := honest[1].Set(ctx, key, "v"); err != nil {
			t.Fatal(err)
		}

		// A node that has just joined through an honest one; the liar's link
		// to it is fast, so that its answers arrive first.
		getter := cl.serve(cl.addr(), Config{})
		cl.nodes = append(cl.nodes, getter)
		if _, err := getter.pingAddr(ctx, honest[0].Addr()); err != nil {
			t.Fatal(err)
		}
		var trapped, toFakes atomic.Int64
		fakeSet := map[netip.AddrPort]bool{}
		for i := range fakes {
			fakeSet[fakeAddr(i)] = true
		}
		cl.net.SetFilter(func(from, to netip.AddrPort, _ []byte) bool {
			if fakeSet[to] {
				if from == getter.Addr() {
					toFakes.Add(1)
				}
				if isRelayTrap(to.Addr()) {
					trapped.Add(1) // from any node
				}
			}
			return true
		})
		liar := newRawLiar(t, cl, Contact{ID: xorID(key, 0, 0, 0, 0x80), Addr: netip.MustParseAddrPort("66.6.6.6:6666")},
			func(k ID) []Contact {
				out := make([]Contact, fakes)
				for i := range out {
					out[i] = Contact{ID: xorID(k, 0, 0, 0, 0, 0, 0, byte(i>>8)+1, byte(i)), Addr: fakeAddr(i)}
				}
				return out
			})
		defer liar.close()
		// The liar makes itself known to the getter and to a third of the
		// honest nodes (they ping it back and keep it).
		cl.net.SetLink(getter.Addr().Addr(), liar.c.Addr.Addr(), simnet.LinkConfig{Latency: time.Millisecond})
		liar.ping(getter.Addr())
		for i, n := range honest {
			if i%3 == 0 {
				liar.ping(n.Addr())
			}
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if _, ok := getter.rt.tab.contains(liar.c.ID); !ok {
			t.Fatal("the getter does not know the liar")
		}
		toFakes.Store(0)
		start := time.Now()
		v, found, err := getter.Get(ctx, "liar-key", GetOptions{SkipLocal: true})
		took := time.Since(start)
		t.Logf("liar contacts: a liar answers every find with %d fake contacts (%d bytes): a get through it took %v (virtual), found %v, %d datagrams from the getter to fakes",
			fakes, liar.sizes.Load(), took, found, toFakes.Load())
		if err != nil || !found || v.String() != "v" {
			t.Fatalf("get = %v, %v, %v", v, found, err)
		}
		if took > 2*time.Second {
			t.Errorf("get took %v, want under 2 s", took)
		}
		// A miss must see the lookup converge: every fake in view has to
		// fail or turn slow.
		toFakes.Store(0)
		start = time.Now()
		_, found, err = getter.Get(ctx, "liar-missing-key", GetOptions{SkipLocal: true})
		took = time.Since(start)
		t.Logf("liar contacts: a get of a key nobody holds took %v (virtual), %d datagrams from the getter to fakes; %d datagrams from any node to relayed loopback/private addresses",
			took, toFakes.Load(), trapped.Load())
		if err != nil || found {
			t.Fatalf("get of a missing key = found %v, %v", found, err)
		}
		if took > 2*time.Second {
			t.Errorf("get of a missing key took %v, want under 2 s", took)
		}
		if n := trapped.Load(); n > 0 {
			t.Errorf("%d datagrams sent to loopback or private addresses a public peer relayed", n)
		}
	})
}
