// Package dhtcli holds what the DHT example commands (get, set, registry)
// share: resolving the bootstrap peer, picking the local address, joining
// the DHT from an ephemeral port, and the log set-up.
package dhtcli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/rpcudp/go-rpcudp/kademlia"
)

// NewLogger logs warnings (debug when verbose) to w.
func NewLogger(w io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// ResolveIP accepts an IP literal or a host name.
func ResolveIP(ctx context.Context, host string) (netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.Unmap(), nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(ips) == 0 {
		return netip.Addr{}, fmt.Errorf("bad host %q: %v", host, err)
	}
	return ips[0].Unmap(), nil
}

// Resolve turns HOST and PORT (as Python's examples take them) into a UDP
// address.
func Resolve(ctx context.Context, host, port string) (netip.AddrPort, error) {
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return netip.AddrPort{}, fmt.Errorf("bad port %q: want 1-65535", port)
	}
	ip, err := ResolveIP(ctx, host)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(ip, uint16(p)), nil
}

// ResolveHostPort is Resolve for one "HOST:PORT" string.
func ResolveHostPort(ctx context.Context, hostport string) (netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad address %q: %v", hostport, err)
	}
	return Resolve(ctx, host, port)
}

// ListenAddrFor picks the local address to reach boot from: an ephemeral
// port on loopback for a loopback IPv4 peer, on every IPv4 interface for
// another IPv4 peer, and on every IPv6 interface for an IPv6 peer.
func ListenAddrFor(boot netip.AddrPort) string {
	a := boot.Addr()
	switch {
	case a.Is4() && a.IsLoopback():
		return "127.0.0.1:0"
	case a.Is4():
		return "0.0.0.0:0"
	}
	return "[::]:0"
}

// Join starts a DHT node on listen (ListenAddrFor(boot) when empty) and
// bootstraps it from boot. It fails when boot does not answer.
func Join(ctx context.Context, boot netip.AddrPort, listen string, rpcTimeout time.Duration, log *slog.Logger) (*kademlia.Node, error) {
	if listen == "" {
		listen = ListenAddrFor(boot)
	}
	node, err := kademlia.NewNode(kademlia.Config{RPCTimeout: rpcTimeout, Logger: log})
	if err != nil {
		return nil, err
	}
	if err := node.Listen(ctx, listen); err != nil {
		node.Close()
		return nil, err
	}
	found, err := node.Bootstrap(ctx, []netip.AddrPort{boot})
	if err == nil && len(found) == 0 {
		err = errors.New("no answer")
	}
	if err != nil {
		node.Close()
		return nil, fmt.Errorf("bootstrap from %s failed: %w", boot, err)
	}
	return node, nil
}

// Main runs a command's run function with a context that ends on SIGINT
// or SIGTERM (a second signal kills at once) and exits with its code.
func Main(run func(ctx context.Context, args []string, stdout, stderr io.Writer) int) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
