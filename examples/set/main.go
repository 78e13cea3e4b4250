// Command set is the Go version of Python kademlia's examples/set.py: it
// joins a DHT through one known node and stores a value under a key.
//
// Usage:
//
//	go run ./examples/set [-int | -float | -bytes] [-timeout 5s] [-v] HOST PORT KEY VALUE
//	go run ./examples/set -sign FILE [-timeout 5s] [-v] HOST PORT NAME VALUE
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
//
// With -sign FILE it publishes a signed record instead (see kademlia's
// Record): VALUE (its UTF-8 bytes) under the salt NAME, signed with the
// ed25519 key in FILE. FILE holds the hex of the key's 32-byte seed; it is
// created with a fresh key (mode 0600) when missing. Each run publishes
// with a sequence number one higher than the newest record found, so the
// last run's value replaces the earlier ones at every Go node and no one
// without FILE can forge or roll it back. It prints
//
//	Public key: HEX
//	Set NAME = VALUE (seq N)
//
// where HEX is what examples/get -pub takes to read it back. -sign excludes
// -int, -float and -bytes.
package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
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

const usage = "usage: set [-int | -float | -bytes] [-timeout 5s] [-v] HOST PORT KEY VALUE\n" +
	"       set -sign FILE [-timeout 5s] [-v] HOST PORT NAME VALUE"

// options are the parsed command line.
type options struct {
	host, port, key, text string
	value                 kademlia.Value // the plain value to store
	timeout               time.Duration
	verbose               bool
	sign                  string // key file for a signed record, or ""
}

// parseArgs parses the command line; ok is false when the command should
// exit with code.
func parseArgs(args []string, stderr io.Writer) (o options, code int, ok bool) {
	fs := flag.NewFlagSet("set", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asInt := fs.Bool("int", false, "store VALUE as an integer")
	asFloat := fs.Bool("float", false, "store VALUE as a float")
	asBytes := fs.Bool("bytes", false, "store VALUE as bytes")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Second, "how long each RPC waits for its answer")
	fs.BoolVar(&o.verbose, "v", false, "debug logging on stderr")
	fs.StringVar(&o.sign, "sign", "", "publish a signed record with the ed25519 key in `FILE` (created if missing)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, exitOK, false
		}
		return o, exitError, false
	}
	if fs.NArg() != 4 {
		fmt.Fprintln(stderr, usage)
		return o, exitError, false
	}
	o.host, o.port, o.key, o.text = fs.Arg(0), fs.Arg(1), fs.Arg(2), fs.Arg(3)
	var err error
	switch {
	case o.timeout <= 0:
		err = errors.New("-timeout must be positive")
	case o.sign != "" && (*asInt || *asFloat || *asBytes):
		err = errors.New("-sign excludes -int, -float and -bytes")
	default:
		o.value, err = parseValue(o.text, *asInt, *asFloat, *asBytes)
	}
	if err != nil {
		fmt.Fprintln(stderr, "set:", err)
		return o, exitError, false
	}
	return o, 0, true
}

// run is the whole command: args exclude the program name. It returns the
// exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, code, ok := parseArgs(args, stderr)
	if !ok {
		return code
	}
	var priv ed25519.PrivateKey
	if o.sign != "" {
		var err error
		if priv, err = loadKey(o.sign, stderr); err != nil {
			return exitError
		}
	}
	boot, err := resolve(o.host, o.port)
	if err != nil {
		fmt.Fprintln(stderr, "set:", err)
		return exitError
	}
	level := slog.LevelWarn
	if o.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	node, err := join(ctx, boot, kademlia.Config{RPCTimeout: o.timeout, Logger: log})
	if err != nil {
		fmt.Fprintln(stderr, "set:", err)
		return exitError
	}
	defer node.Close()

	if priv != nil {
		return setSigned(ctx, node, priv, o.key, o.text, stdout, stderr)
	}
	if err := node.Set(ctx, o.key, o.value); err != nil {
		fmt.Fprintln(stderr, "set:", err)
		return exitError
	}
	fmt.Fprintf(stdout, "Set %s = %s\n", o.key, o.value)
	return exitOK
}

// loadKey reads the ed25519 key in path, creating it (mode 0600) when
// missing; it reports errors on stderr.
func loadKey(path string, stderr io.Writer) (ed25519.PrivateKey, error) {
	priv, created, err := loadOrCreateKey(path)
	if err != nil {
		fmt.Fprintln(stderr, "set:", err)
		return nil, err
	}
	if created {
		fmt.Fprintf(stderr, "set: created the key file %s\n", path)
	}
	return priv, nil
}

// setSigned publishes text as the record of priv under the salt name, with
// the next sequence number.
func setSigned(ctx context.Context, node *kademlia.Node, priv ed25519.PrivateKey, name, text string, stdout, stderr io.Writer) int {
	fmt.Fprintf(stdout, "Public key: %s\n", hex.EncodeToString(priv.Public().(ed25519.PublicKey)))
	r, err := node.PutRecord(ctx, priv, []byte(name), []byte(text), kademlia.PutRecordOptions{})
	if err != nil {
		fmt.Fprintln(stderr, "set:", err)
		if errors.Is(err, kademlia.ErrStaleRecord) {
			fmt.Fprintln(stderr, "set: a node holds a newer record of this key and NAME than the read found: run again")
		}
		return exitError
	}
	fmt.Fprintf(stdout, "Set %s = %s (seq %d)\n", name, text, r.Seq)
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
