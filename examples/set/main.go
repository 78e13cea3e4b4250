// Command set is the Go version of Python kademlia's examples/set.py: it
// joins a DHT through one known node and stores a value under a key.
//
// Usage:
//
//	go run ./examples/set [-int | -float | -bytes] [-timeout 5s] [-v] HOST PORT KEY VALUE
//
// It listens on an ephemeral UDP port (127.0.0.1:0 for a loopback IPv4
// HOST, 0.0.0.0:0 for any other IPv4 HOST, [::]:0 for an IPv6 HOST),
// bootstraps from HOST:PORT and stores VALUE under KEY (a string). VALUE is
// stored as a string, as Python's set.py stores its argv; -int stores it as
// an integer, -float as a float and -bytes as bytes (its UTF-8 encoding),
// so Python peers read an int, a float or bytes. Flags go before the
// positional arguments. It prints
//
//	Set KEY = VALUE
//
// (VALUE as Python's print() shows it) and exits 0, or exits 2 with a
// message on stderr on bad arguments, when the bootstrap node does not
// answer or when no node stored the value. -timeout is how long each RPC
// waits for its answer (Python's kademlia waits 5 s).
package main

import (
	"context"
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
	exitOK    = 0
	exitError = 2
)

const usage = "usage: set [-int | -float | -bytes] [-timeout 5s] [-v] HOST PORT KEY VALUE"

// run is the whole command: args exclude the program name. It returns the
// exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("set", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asInt := fs.Bool("int", false, "store VALUE as an integer")
	asFloat := fs.Bool("float", false, "store VALUE as a float")
	asBytes := fs.Bool("bytes", false, "store VALUE as bytes")
	timeout := fs.Duration("timeout", 5*time.Second, "how long each RPC waits for its answer")
	verbose := fs.Bool("v", false, "debug logging on stderr")
	fs.Usage = func() {
		fmt.Fprintln(stderr, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitError
	}
	if fs.NArg() != 4 {
		fmt.Fprintln(stderr, usage)
		return exitError
	}
	host, port, key, text := fs.Arg(0), fs.Arg(1), fs.Arg(2), fs.Arg(3)
	if *timeout <= 0 {
		fmt.Fprintln(stderr, "set: -timeout must be positive")
		return exitError
	}
	value, err := parseValue(text, *asInt, *asFloat, *asBytes)
	if err != nil {
		fmt.Fprintln(stderr, "set:", err)
		return exitError
	}
	boot, err := resolve(host, port)
	if err != nil {
		fmt.Fprintln(stderr, "set:", err)
		return exitError
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	node, err := join(ctx, boot, kademlia.Config{RPCTimeout: *timeout, Logger: log})
	if err != nil {
		fmt.Fprintln(stderr, "set:", err)
		return exitError
	}
	defer node.Close()

	if err := node.Set(ctx, key, value); err != nil {
		fmt.Fprintln(stderr, "set:", err)
		return exitError
	}
	fmt.Fprintf(stdout, "Set %s = %s\n", key, value)
	return exitOK
}

// parseValue converts VALUE to the DHT value to store: a string unless one
// of the type flags is given.
func parseValue(text string, asInt, asFloat, asBytes bool) (kademlia.Value, error) {
	n := 0
	for _, b := range []bool{asInt, asFloat, asBytes} {
		if b {
			n++
		}
	}
	if n > 1 {
		return kademlia.Value{}, errors.New("-int, -float and -bytes exclude each other")
	}
	var v any = text
	switch {
	case asInt:
		i, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			u, uerr := strconv.ParseUint(text, 10, 64)
			if uerr != nil {
				return kademlia.Value{}, fmt.Errorf("-int: %q is not a 64-bit integer", text)
			}
			v = u
		} else {
			v = i
		}
	case asFloat:
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return kademlia.Value{}, fmt.Errorf("-float: %q is not a number", text)
		}
		v = f
	case asBytes:
		v = []byte(text)
	}
	return kademlia.EncodeValue(v)
}

// resolve turns HOST and PORT (as Python's set.py takes them) into the
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
