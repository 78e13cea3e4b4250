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
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/rpcudp/go-rpcudp/kademlia"
)

// Exit codes.
const (
	exitFound    = 0
	exitNotFound = 1
	exitError    = 2
)

// main runs the command until SIGINT or SIGTERM; a second signal kills at once.
func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole command: args exclude the program name. It returns the
// exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, code, ok := parseArgs(args, stderr)
	if !ok {
		return code
	}
	// Listen on an ephemeral port that reaches the bootstrap node, and join
	// the DHT through it.
	node, err := kademlia.Join(ctx, "", kademlia.Config{RPCTimeout: o.timeout, Logger: o.logger(stderr)}, o.boot)
	if err != nil {
		return fail(stderr, err)
	}
	defer node.Close()
	return get(ctx, node, o.pub, o.key, stdout, stderr)
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
		return fail(stderr, err)
	}
	if !found {
		fmt.Fprintln(stdout, "Get result: None")
		return exitNotFound
	}
	fmt.Fprintln(stdout, "Get result:", text)
	return exitFound
}

// logger logs warnings (everything with -v) on stderr.
func (o options) logger(stderr io.Writer) *slog.Logger {
	level := slog.LevelWarn
	if o.verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
}

// fail reports err on stderr and returns exitError.
func fail(stderr io.Writer, err error) int {
	fmt.Fprintln(stderr, "get:", err)
	return exitError
}
