package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/rpcudp/go-rpcudp/rpcudp"
)

// rpcRig is the rpc mode's setup: one client endpoint and, unless -addr
// was given, the echo server it calls.
type rpcRig struct {
	client  *rpcudp.Endpoint
	server  *rpcudp.Endpoint // nil with -addr
	target  netip.AddrPort
	loss    lossPlan
	method  string
	args    []any
	payload []byte // echo calls: the payload; nil: the replies are not checked
	want    []byte // the payload's msgpack encoding: the expected reply
}

// loopback returns the in-process server's address (port 0).
func loopback(ipv6 bool) netip.AddrPort {
	if ipv6 {
		return netip.AddrPortFrom(netip.IPv6Loopback(), 0)
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 0)
}

// listenUDP opens a UDP socket on addr, of addr's family.
func listenUDP(addr netip.AddrPort) (*net.UDPConn, error) {
	network := "udp4"
	if addr.Addr().Is6() {
		network = "udp6"
	}
	c, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	return c, nil
}

// resolveTarget parses -addr: a literal ip:port, or a name resolved to an
// IPv4 address (IPv6 with -6).
func resolveTarget(addr string, ipv6 bool) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		if ap.Port() == 0 {
			return netip.AddrPort{}, fmt.Errorf("-addr %s: port 0", addr)
		}
		return ap, nil
	}
	network := "udp4"
	if ipv6 {
		network = "udp6"
	}
	ua, err := net.ResolveUDPAddr(network, addr)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("-addr: %w", err)
	}
	ap := ua.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

func setupRPC(ctx context.Context, cfg Config, args []any) (*rpcRig, error) {
	r := &rpcRig{method: cfg.method(), args: args}
	if cfg.echoes() {
		r.payload = args[0].([]byte)
		want, err := msgpack.Marshal(r.payload)
		if err != nil {
			return nil, err
		}
		r.want = want
	}
	var local netip.AddrPort
	if cfg.Addr == "" {
		r.loss = newLossPlan(cfg, true)
		if err := r.startServer(cfg); err != nil {
			return nil, err
		}
		r.target = r.server.LocalAddr()
		local = loopback(cfg.IPv6)
	} else {
		r.loss = newLossPlan(cfg, false)
		t, err := resolveTarget(cfg.Addr, cfg.IPv6)
		if err != nil {
			return nil, err
		}
		r.target = t
		if t.Addr().Is4() {
			local = netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
		} else {
			local = netip.AddrPortFrom(netip.IPv6Unspecified(), 0)
		}
	}
	cconn, err := listenUDP(local)
	if err != nil {
		r.close()
		return nil, fmt.Errorf("client: %w", err)
	}
	opts := []rpcudp.Option{rpcudp.WithTimeout(cfg.Timeout)}
	if cfg.Retry > 0 {
		opts = append(opts, rpcudp.WithRetry(rpcudp.RetryPolicy{Initial: cfg.Retry}))
	}
	r.client = rpcudp.New(withLoss(cconn, r.loss.clientIn, r.loss.clientOut), opts...)
	return r, nil
}

// startServer starts the in-process echo server.
func (r *rpcRig) startServer(cfg Config) error {
	sconn, err := listenUDP(loopback(cfg.IPv6))
	if err != nil {
		return fmt.Errorf("echo server: %w", err)
	}
	// Enough handler slots that the harness's own server never drops
	// a request for overload.
	r.server = rpcudp.New(withLoss(sconn, nil, r.loss.serverOut),
		rpcudp.WithHandlerSlots(max(256, 2*cfg.Concurrency))) // 256: the default
	err = r.server.Handle(echoMethod,
		func(_ context.Context, _ netip.AddrPort, b []byte) ([]byte, error) { return b, nil })
	if err != nil {
		r.close()
	}
	return err
}

func (r *rpcRig) close() {
	if r.client != nil {
		r.client.Close()
	}
	if r.server != nil {
		r.server.Close()
	}
}

// errMismatch: the echo came back, but not with the payload sent.
var errMismatch = errors.New("echo reply does not match the payload")

// check verifies an echo reply. It is compared with the payload's msgpack
// encoding as it is, without decoding; a server that encodes the payload
// differently (a str instead of a bin, say) is checked by decoding.
func (r *rpcRig) check(reply rpcudp.Reply) error {
	if r.payload == nil || bytes.Equal(reply, r.want) {
		return nil
	}
	var got []byte
	if err := reply.Decode(&got); err != nil || !bytes.Equal(got, r.payload) {
		return errMismatch
	}
	return nil
}

// preflight makes one call before the load, so that a server that does
// not answer, or does not serve the method, or arguments it refuses, is a
// setup error rather than a run of failures. Timeouts are retried a few
// times (more under -loss).
func (r *rpcRig) preflight(ctx context.Context, cfg Config) error {
	attempts := 3
	if cfg.Loss > 0 {
		attempts = 10
	}
	var err error
	for range attempts {
		var reply rpcudp.Reply
		reply, err = r.client.Call(ctx, r.target, r.method, r.args...)
		if err == nil {
			err = r.check(reply)
		}
		if err == nil || !errors.Is(err, rpcudp.ErrTimeout) {
			break
		}
	}
	var rerr *rpcudp.RemoteError
	switch {
	case errors.Is(err, rpcudp.ErrTimeout):
		return fmt.Errorf("preflight call of %s on %s got no answer in %d tries of %s: nothing is listening there, "+
			"or the server does not serve %s (a Python rpcudp server drops calls of a method it lacks without a word; "+
			"a Go one answers with an error); check -addr and -method (ErrTimeout: %w)",
			r.method, r.target, attempts, cfg.Timeout, r.method, err)
	case errors.As(err, &rerr):
		return fmt.Errorf("preflight call of %s on %s: the server answered with error %d: %s (%w)", r.method, r.target, rerr.Code, rerr.Message, err)
	case err != nil:
		return fmt.Errorf("preflight call of %s on %s: %w", r.method, r.target, err)
	}
	return nil
}

// bench runs the rpc load, closes the endpoints and collects the results.
// The endpoints' counters and the losses are counted from after the
// preflight call.
func (r *rpcRig) bench(ctx context.Context, cfg Config, rate float64, stderr io.Writer) *RunResult {
	lossBefore := r.loss.count()
	clientBefore := r.client.Stats()
	var serverBefore rpcudp.Stats
	if r.server != nil {
		serverBefore = r.server.Stats()
	}

	workers := make([]callFunc, cfg.Concurrency)
	for i := range workers {
		workers[i] = func(ctx context.Context) (outcome, error) {
			reply, err := r.client.Call(ctx, r.target, r.method, r.args...)
			switch {
			case errors.Is(err, rpcudp.ErrTimeout):
				return outcomeTimeout, err
			case err != nil:
				return outcomeError, err
			}
			if err := r.check(reply); err != nil {
				return outcomeError, err
			}
			return outcomeOK, nil
		}
	}
	res := drive(ctx, cfg, rate, "rpc", workers, stderr)
	// Closed endpoints count nothing more: a reply sent but not yet
	// counted by the server when the last call returned is in.
	r.close()
	res.Dropped = r.loss.count().sub(lossBefore)
	res.ClientStats = statsDelta(clientBefore, r.client.Stats())
	res.Retransmits = res.ClientStats.Retransmits
	res.ClientDrops = res.ClientStats.Drops.Total
	if r.server != nil {
		res.ServerStats = statsDelta(serverBefore, r.server.Stats())
		res.ServerDrops = res.ServerStats.Drops.Total
	}
	return res
}
