package service_test

import (
	"context"
	"net/netip"
	"testing"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/rpcudp/go-rpcudp/rpcudp/service"
	"github.com/rpcudp/go-rpcudp/rpcudp/simnet"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// rig is a server and a client on a simulated network; make it inside a
// synctest bubble.
type rig struct {
	net    *simnet.Network
	srvEP  *rpcudp.Endpoint
	srv    *service.Server
	cliEP  *rpcudp.Endpoint
	client *service.Client
	addr   netip.AddrPort // the server's
}

func newRig(t *testing.T, cfg simnet.Config, opts ...service.Option) *rig {
	t.Helper()
	return newRigAt(t, cfg, "127.0.0.1:1235", "127.0.0.2:1000", opts...)
}

// newRigAt is newRig with the server and the client at the addresses
// given: attack tests use non-loopback ones, which the per-network limits
// do not exempt.
func newRigAt(t *testing.T, cfg simnet.Config, srvAddr, cliAddr string, opts ...service.Option) *rig {
	t.Helper()
	r := &rig{net: simnet.New(cfg)}
	r.srvEP = simEndpoint(t, r.net, srvAddr)
	r.srv = service.New(r.srvEP, opts...)
	r.cliEP = simEndpoint(t, r.net, cliAddr)
	var err error
	if r.client, err = service.NewClient(r.cliEP); err != nil {
		t.Fatal(err)
	}
	r.addr = r.srvEP.LocalAddr()
	t.Cleanup(r.close)
	return r
}

func (r *rig) close() {
	r.client.Close()
	r.cliEP.Close()
	r.srvEP.Close()
	r.net.Close()
}

func simEndpoint(t *testing.T, n *simnet.Network, addr string, opts ...rpcudp.Option) *rpcudp.Endpoint {
	t.Helper()
	pc, err := n.ListenPacket("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return rpcudp.New(pc, opts...)
}

// must fails the test on err.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// call makes a plain call to the server.
func (r *rig) call(method string, args ...any) (rpcudp.Reply, error) {
	return r.client.Call(bg, r.addr, service.Target{}, method, args...)
}

// callT makes a plain call that must succeed and decodes its reply.
func callT[T any](t *testing.T, r *rig, method string, args ...any) T {
	t.Helper()
	reply, err := r.call(method, args...)
	if err != nil {
		t.Fatalf("%s%v: %v", method, args, err)
	}
	var v T
	must(t, reply.Decode(&v))
	return v
}

var bg = context.Background()
