// Command get is the Go version of Python kademlia's examples/get.py: it
// joins a DHT through one known node, looks a key up and prints the value
// the way Python's print() shows it.
//
// Usage:
//
//	go run ./examples/get [-timeout 5s] [-v] HOST PORT KEY
//	go run ./examples/get -pub HEX [-timeout 5s] [-v] HOST PORT NAME
//
// It listens on an ephemeral UDP port (127.0.0.1:0 for a loopback IPv4
// HOST, 0.0.0.0:0 for any other IPv4 HOST, [::]:0 for an IPv6 HOST),
// bootstraps from HOST:PORT and gets KEY (a string, as Python's argv is).
// It prints
//
//	Get result: VALUE
//
// and exits 0 when the key is found; prints "Get result: None" and exits 1
// when it is not; and exits 2 with a message on stderr on bad arguments or
// when the bootstrap node does not answer. -timeout is how long each RPC
// waits for its answer (Python's kademlia waits 5 s).
//
// With -pub HEX it reads the signed record of the ed25519 public key HEX
// (64 hex digits, as examples/set -sign prints it) under the salt NAME
// instead: it collects copies from several nodes (kademlia's quorum read),
// ignores forged, truncated and foreign copies, and prints the value (as
// text) of the valid record with the highest sequence number as
//
//	Get result: VALUE
//
// exiting 0; with no valid record, "Get result: None" and exit 1; on a bad
// -pub, exit 2.
package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
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

func main() {
	// The context ends on SIGINT or SIGTERM; a second signal kills at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitFound    = 0
	exitNotFound = 1
	exitError    = 2
)

const usage = "usage: get [-timeout 5s] [-v] HOST PORT KEY\n" +
	"       get -pub HEX [-timeout 5s] [-v] HOST PORT NAME"

// run is the whole command: args exclude the program name. It returns the
// exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("get", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 5*time.Second, "how long each RPC waits for its answer")
	verbose := fs.Bool("v", false, "debug logging on stderr")
	pubHex := fs.String("pub", "", "read the signed record of the ed25519 public key `HEX` under the salt NAME")
	fs.Usage = func() {
		fmt.Fprintln(stderr, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitFound
		}
		return exitError
	}
	if fs.NArg() != 3 {
		fmt.Fprintln(stderr, usage)
		return exitError
	}
	host, port, key := fs.Arg(0), fs.Arg(1), fs.Arg(2)
	if *timeout <= 0 {
		fmt.Fprintln(stderr, "get: -timeout must be positive")
		return exitError
	}
	var pub ed25519.PublicKey
	if *pubHex != "" {
		var err error
		if pub, err = parsePublicKey(*pubHex); err != nil {
			fmt.Fprintln(stderr, "get: -pub:", err)
			return exitError
		}
	}
	boot, err := resolve(host, port)
	if err != nil {
		fmt.Fprintln(stderr, "get:", err)
		return exitError
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	node, err := join(ctx, boot, kademlia.Config{RPCTimeout: *timeout, Logger: log})
	if err != nil {
		fmt.Fprintln(stderr, "get:", err)
		return exitError
	}
	defer node.Close()
	return get(ctx, node, pub, key, stdout, stderr)
}

// get looks key up (the record of pub under the salt key when pub is not
// nil), prints the result and returns the exit code.
func get(ctx context.Context, node *kademlia.Node, pub ed25519.PublicKey, key string, stdout, stderr io.Writer) int {
	var text string
	var found bool
	var err error
	if pub != nil {
		var r kademlia.Record
		r, found, err = node.GetRecord(ctx, pub, []byte(key), kademlia.GetOptions{})
		text = string(r.Value)
	} else {
		var v kademlia.Value
		v, found, err = node.Get(ctx, key)
		text = v.String()
	}
	if err != nil {
		fmt.Fprintln(stderr, "get:", err)
		return exitError
	}
	if !found {
		fmt.Fprintln(stdout, "Get result: None")
		return exitNotFound
	}
	fmt.Fprintln(stdout, "Get result:", text)
	return exitFound
}

// resolve turns HOST and PORT (as Python's get.py takes them) into the
// bootstrap node's UDP address.
func resolve(host, port string) (netip.AddrPort, error) {
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		return netip.AddrPort{}, fmt.Errorf("bad port %q: want 1-65535", port)
	}
	ua, err := net.ResolveUDPAddr("udp", net.JoinHostPort(host, port))
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad host %q: %v", host, err)
	}
	return netip.AddrPortFrom(ua.AddrPort().Addr().Unmap(), ua.AddrPort().Port()), nil
}

// listenAddr picks the ephemeral local address to reach boot from: on
// loopback for a loopback IPv4 boot, on every IPv4 interface for another
// IPv4 boot, on every IPv6 interface for an IPv6 boot.
func listenAddr(boot netip.AddrPort) string {
	switch a := boot.Addr(); {
	case a.Is4() && a.IsLoopback():
		return "127.0.0.1:0"
	case a.Is4():
		return "0.0.0.0:0"
	}
	return "[::]:0"
}

// join starts a DHT node on listenAddr(boot) and bootstraps it from boot.
// It fails when boot does not answer.
func join(ctx context.Context, boot netip.AddrPort, cfg kademlia.Config) (*kademlia.Node, error) {
	node, err := kademlia.Listen(ctx, listenAddr(boot), cfg)
	if err != nil {
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
