package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rpcudp/go-rpcudp/kademlia"
)

// Exit codes.
const (
	exitOK    = 0
	exitNone  = 1 // lookup found no live address
	exitError = 2
)

// main runs the command until SIGINT or SIGTERM; a second signal kills at once.
func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole command: args exclude the program name. It returns the
// exit code; announce runs until ctx is done.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return exitError
	}
	switch args[0] {
	case "announce":
		c, addr, ttl, code, ok := parseAnnounce(args[1:], stderr)
		if !ok {
			return code
		}
		return announce(ctx, c, addr, ttl, stdout, stderr)
	case "lookup":
		c, code, ok := parseLookup(args[1:], stderr)
		if !ok {
			return code
		}
		return lookup(ctx, c, stdout, stderr)
	case "call":
		o, code, ok := parseCall(args[1:], stderr)
		if !ok {
			return code
		}
		return callService(ctx, o, stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "registry: unknown subcommand %q\n%s\n", args[0], usage)
	return exitError
}

// announce publishes -name -> -addr and renews it until ctx is done, then
// withdraws it.
func announce(ctx context.Context, c common, addr string, ttl time.Duration, stdout, stderr io.Writer) int {
	node, reg, err := start(ctx, c, true, stderr)
	if err != nil {
		return fail(stderr, exitError, err)
	}
	defer node.Close()
	if reg.key != nil {
		fmt.Fprintf(stdout, "signing with %s, public key %x\n", c.key, []byte(reg.key.Public().(ed25519.PublicKey)))
	}
	if err := reg.announce(ctx, c.name, addr, ttl); err != nil {
		return fail(stderr, exitError, err)
	}
	slot, _ := reg.slotOf(c.name, addr)
	fmt.Fprintf(stdout, "announced %s at %s (slot %d, ttl %v, renewing every %v)\n", c.name, addr, slot, ttl, ttl/3)
	_ = reg.keepRenewing(ctx)

	// Interrupted: withdraw, with a fresh context since ctx is done. The
	// read and the write are two lookups, each maybe waiting on dead
	// contacts for a few RPC timeouts. (A second interrupt exits at once.)
	wctx, cancel := context.WithTimeout(context.Background(), 10*c.timeout)
	defer cancel()
	if err := reg.withdraw(wctx, c.name, addr); err != nil {
		fmt.Fprintln(stderr, "registry: withdrawing (the record expires by itself):", err)
	} else {
		fmt.Fprintf(stdout, "withdrew %s at %s\n", c.name, addr)
	}
	return exitOK
}

// lookup prints the live addresses of -name.
func lookup(ctx context.Context, c common, stdout, stderr io.Writer) int {
	node, reg, err := start(ctx, c, false, stderr)
	if err != nil {
		return fail(stderr, exitError, err)
	}
	defer node.Close()
	addrs, err := reg.lookup(ctx, c.name)
	if err != nil {
		return fail(stderr, exitError, err)
	}
	for _, a := range addrs {
		fmt.Fprintln(stdout, a)
	}
	if len(addrs) == 0 {
		fmt.Fprintf(stderr, "registry: no live service named %q\n", c.name)
		return exitNone
	}
	return exitOK
}

// start joins the DHT through -join (listening on -listen, by default an
// ephemeral port suited to -join) and returns the node, for the caller to
// close, and the registry on it. create says whether a missing -key file
// is created (announce) or an error.
func start(ctx context.Context, c common, create bool, stderr io.Writer) (*kademlia.Node, *registry, error) {
	log := newLogger(stderr, c.verbose)
	cfg, err := c.registryConfig(log, create)
	if err != nil {
		return nil, nil, err
	}
	node, err := kademlia.Join(ctx, c.listen, kademlia.Config{RPCTimeout: c.timeout, Logger: log}, c.boot)
	if err != nil {
		return nil, nil, err
	}
	return node, newRegistry(node, cfg), nil
}

// fail reports err on stderr and returns code.
func fail(stderr io.Writer, code int, err error) int {
	fmt.Fprintln(stderr, "registry:", err)
	return code
}
