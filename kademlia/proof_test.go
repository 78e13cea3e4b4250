package kademlia

import (
	"bytes"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp/simnet"
	"github.com/rpcudp/go-rpcudp/rpcudp/wire"
	"github.com/vmihailenco/msgpack/v5"
)

// Issue 18, finding 1: an answer more than 3x its request (a find_value
// of a large value, a find_node's contact list) goes to an address that
// has not answered one of the node's RPCs only after it answers a ping,
// the node's prover for rpcudp's 3x rule. A Python node answers that
// ping, so it gets its answer one round trip later; a forged request's
// victim gets the ping alone.

// pyPeer plays a Python node on simnet with a raw socket: it sends
// requests and answers the node's pings (or stays silent).
type pyPeer struct {
	conn   *simnet.Conn
	id     ID
	answer bool // answer pings
}

// request sends [method, [our id, args...]] to to under a fresh id and
// returns the id and the datagram's size.
func (p *pyPeer) request(t *testing.T, to netip.AddrPort, method string, args ...any) ([20]byte, int) {
	t.Helper()
	var id [20]byte
	copy(id[:], RandomID().Bytes())
	body, err := msgpack.Marshal([]any{method, append([]any{p.id[:]}, args...)})
	if err != nil {
		t.Fatal(err)
	}
	d := append(append([]byte{wire.TypeRequest}, id[:]...), body...)
	if _, err := p.conn.WriteToUDPAddrPort(d, to); err != nil {
		t.Fatal(err)
	}
	return id, len(d)
}

// await reads until the response to id arrives or wait ends, answering
// the node's pings meanwhile, and returns the response, the pings that
// came and the bytes of every datagram received.
func (p *pyPeer) await(t *testing.T, id [20]byte, wait time.Duration) (resp []byte, pings, got int) {
	t.Helper()
	deadline := time.Now().Add(wait)
	buf := make([]byte, 9000)
	for {
		p.conn.SetReadDeadline(deadline)
		n, from, err := p.conn.ReadFrom(buf)
		if err != nil {
			return nil, pings, got
		}
		b := buf[:n]
		got += n
		switch {
		case b[0] == wire.TypeResponse && bytes.Equal(b[1:wire.HeaderLen], id[:]):
			return bytes.Clone(b[wire.HeaderLen:]), pings, got
		case b[0] == wire.TypeRequest && bytes.Contains(b, []byte(methodPing)):
			pings++
			if p.answer {
				body, _ := msgpack.Marshal(p.id[:])
				reply := append(append([]byte{wire.TypeResponse}, b[1:wire.HeaderLen]...), body...)
				p.conn.WriteTo(reply, from)
			}
		}
	}
}

func TestLargeAnswersWaitForProof(t *testing.T) {
	big := bytes.Repeat([]byte{7}, 8000)
	tests := []struct {
		name      string
		method    string
		answer    bool // the peer answers the node's ping
		wantReply bool
	}{
		{"python find_value of 8 KB", methodFindValue, true, true},
		{"python find_node", methodFindNode, true, true},
		{"victim of a forged find_value", methodFindValue, false, false},
		{"victim of a forged find_node", methodFindNode, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				net := simnet.New(simnet.Config{Seed: 1, Latency: 10 * time.Millisecond})
				defer net.Close()
				n := simNode(t, net, simAddr(0))
				defer n.Close()
				for i := range 20 { // contacts to answer find_node with
					n.rt.addFound(Contact{ID: RandomID(), Addr: simAddr(100 + i)})
				}
				key := RandomID()
				if err := n.storage.Put(key, dhtValue(t, big), PutOptions{}); err != nil {
					t.Fatal(err)
				}
				conn, err := net.Listen(netip.MustParseAddrPort("203.0.113.9:4000"))
				if err != nil {
					t.Fatal(err)
				}
				p := &pyPeer{conn: conn, id: RandomID(), answer: tt.answer}
				defer conn.Close()
				id, sent := p.request(t, n.Addr(), tt.method, key[:])
				reply, pings, got := p.await(t, id, 3*time.Second)
				if pings == 0 {
					t.Error("no ping came first")
				}
				if came := reply != nil; came != tt.wantReply {
					t.Fatalf("answer came: %v (%d bytes), want %v", came, len(reply), tt.wantReply)
				}
				t.Logf("request %d B; %d pings; %d B received in all", sent, pings, got)
				if !tt.wantReply {
					if got > 3*sent {
						t.Errorf("the victim got %d B for a request of %d B: over 3x", got, sent)
					}
					if d := n.Endpoint().Stats().Drops.Unproven; d == 0 {
						t.Error("the withheld answer is not counted in Drops.Unproven")
					}
					return
				}
				if tt.method == methodFindValue && !bytes.Contains(reply, big) {
					t.Errorf("find_value answer of %d bytes lacks the value", len(reply))
				}
				// Proven now: the next answer comes at once.
				id, _ = p.request(t, n.Addr(), tt.method, key[:])
				if reply, pings, _ = p.await(t, id, time.Second); reply == nil || pings != 0 {
					t.Errorf("second request: answer %v after %d pings, want it at once", reply != nil, pings)
				}
			})
		})
	}
}

// simNode serves a node with default defences on net at addr.
func simNode(t *testing.T, net *simnet.Network, addr netip.AddrPort) *Node {
	t.Helper()
	conn, err := net.Listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := Serve(conn, Config{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
