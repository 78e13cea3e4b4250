package kademlia

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestJoin: Join joins through a running node, listening on loopback for
// a loopback boot or where asked; with nobody answering (or no address)
// it returns ErrNoPeers and closes the node it started.
func TestJoin(t *testing.T) {
	ctx := dhtCtx(t)
	boot := newDHTNode(t, Config{})
	cfg := Config{RPCTimeout: 200 * time.Millisecond}
	n, err := Join(ctx, "", cfg, boot.Addr())
	if err != nil {
		t.Fatalf("Join through a running node: %v", err)
	}
	defer n.Close()
	if got := n.Addr().Addr(); got != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("Join listens on %v, want 127.0.0.1", got)
	}
	if _, ok := n.rt.tab.contains(boot.ID()); !ok {
		t.Error("the joined node's table lacks the bootstrap node")
	}

	// Nobody answers: the node Join started on free is closed, so free can
	// be bound again.
	free := freeUDPAddr(t)
	if _, err := Join(ctx, free, cfg, deadAddr(t)); !errors.Is(err, ErrNoPeers) {
		t.Fatalf("Join through a silent address: %v, want ErrNoPeers", err)
	}
	c, err := net.ListenPacket("udp", free)
	if err != nil {
		t.Fatalf("Join left its node open on %s: %v", free, err)
	}
	c.Close()
	if n, err := Join(ctx, "", cfg); !errors.Is(err, ErrNoPeers) || n != nil {
		t.Errorf("Join with no address = %v, %v; want nil, ErrNoPeers", n, err)
	}
}

// freeUDPAddr returns a loopback UDP address that was free a moment ago.
func freeUDPAddr(t testing.TB) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

// TestJoinListenAddr: the ephemeral address Join listens on is of the
// bootstrap address's family, on loopback for a loopback IPv4 one.
func TestJoinListenAddr(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:8468":          "127.0.0.1:0",
		"127.1.2.3:8468":          "127.0.0.1:0",
		"[::ffff:127.0.0.1]:8468": "127.0.0.1:0",
		"192.0.2.7:8468":          "0.0.0.0:0",
		"[::1]:8468":              "[::]:0",
		"[2001:db8::1]:80":        "[::]:0",
	} {
		if got := listenFor(netip.MustParseAddrPort(in)); got != want {
			t.Errorf("listenFor(%s) = %s, want %s", in, got, want)
		}
	}
}
