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
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/rpcudp/go-rpcudp/kademlia"
	"github.com/rpcudp/go-rpcudp/kademlia/keyfile"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 2
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
	var priv ed25519.PrivateKey
	if o.sign != "" {
		var err error
		if priv, err = loadKey(o.sign, stderr); err != nil {
			return exitError
		}
	}
	// Listen on an ephemeral port that reaches the bootstrap node, and join
	// the DHT through it.
	node, err := kademlia.Join(ctx, "", kademlia.Config{RPCTimeout: o.timeout, Logger: o.log}, o.boot)
	if err != nil {
		return fail(stderr, err)
	}
	defer node.Close()

	if priv != nil {
		return setSigned(ctx, node, priv, o.key, o.text, stdout, stderr)
	}
	if err := node.Set(ctx, o.key, o.value); err != nil {
		return fail(stderr, err)
	}
	fmt.Fprintf(stdout, "Set %s = %s\n", o.key, o.value)
	return exitOK
}

// loadKey reads the ed25519 key in path, creating it (mode 0600) when
// missing; it reports errors on stderr.
func loadKey(path string, stderr io.Writer) (ed25519.PrivateKey, error) {
	priv, created, err := keyfile.Load(path)
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

// fail reports err on stderr and returns exitError.
func fail(stderr io.Writer, err error) int {
	fmt.Fprintln(stderr, "set:", err)
	return exitError
}
