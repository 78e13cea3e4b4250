// Command registry is service discovery on the Kademlia DHT, in the manner
// of RPyC's registry with keepalives: services announce a name and address
// and keep renewing them; lookups list the addresses still alive. A service
// that stops renewing (because it crashed, say) vanishes after its TTL
// without anyone deleting it.
//
// Usage:
//
//	registry announce -join HOST:PORT -name NAME -addr SERVICE_ADDR [-ttl 30s] [-key FILE]
//	registry lookup   -join HOST:PORT -name NAME [-key FILE | -owner HEX]
//	registry call     -join HOST:PORT -name NAME [-key FILE | -owner HEX] [-server ADDR | -fanout] METHOD [ARG...]
//
// All join the DHT through the node at HOST:PORT (e.g. one run with
// ./examples/node) from an ephemeral UDP port. announce publishes NAME ->
// SERVICE_ADDR and renews it every TTL/3 until interrupted (SIGINT or
// SIGTERM); it then withdraws the record so it vanishes at once. lookup
// prints the live addresses of NAME, one per line, and exits 1 when there
// are none. Both exit 2 on bad arguments or when HOST:PORT does not answer.
//
// call calls METHOD on one live server of NAME, with each ARG written in
// JSON as for examples/call, and prints the reply as examples/call does. It
// tries the live servers in a random order, moving to the next when one does
// not answer within -timeout. -server ADDR calls that server only (it must
// be one of NAME's live announcements); -fanout calls all of them at once
// and prints one JSON line per server, in address order:
//
//	{"server":"127.0.0.1:7001","reply":"Hello"}
//	{"server":"127.0.0.1:7002","error":{"code":1,"message":"no luck"}}
//	{"server":"127.0.0.1:7003","error":{"message":"No response received."}}
//
// call's exit status is examples/call's: 0 for a reply, 1 for an error
// reply, 2 when no server answered (or none is live), 3 for bad usage or a
// local failure (HOST:PORT not answering included); under -fanout, the
// worst of the servers'.
//
// Common flags: -timeout (how long each RPC waits, default 5s), -listen
// (the local UDP address; default chosen from HOST) and -v (debug logs).
//
// Announcements are signed records (kademlia.Record): nobody without the
// signing key can add, overwrite or withdraw one. With -key FILE, announce
// signs with the ed25519 key in FILE (created, mode 0600, when missing) and
// prints its public key in hex; lookup and call then read the
// announcements of that key, given as -owner HEX (or as -key FILE, read
// only). Without either, a name is open: its key is derived from the name
// (OpenKey), so anybody may announce under it. Each record lives under the
// salt "registry:NAME:SLOT" (SLOT 0 to 15) and holds the string
// "ADDR|EXPIRY_UNIX_MILLIS"; Python kademlia nodes store and serve the
// records as bytes. See Registry.
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
	exitNone  = 1 // lookup found no live address
	exitError = 2
)

const usage = `usage:
  registry announce -join HOST:PORT -name NAME -addr SERVICE_ADDR [-ttl 30s] [-key FILE]
  registry lookup   -join HOST:PORT -name NAME [-key FILE | -owner HEX]
  registry call     -join HOST:PORT -name NAME [-key FILE | -owner HEX] [-server ADDR | -fanout] METHOD [ARG...]`

// common are the flags every subcommand takes.
type common struct {
	join    string
	name    string
	listen  string
	key     string // -key FILE
	owner   string // -owner HEX
	timeout time.Duration
	verbose bool
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.join, "join", "", "HOST:PORT of a DHT node to bootstrap from (required)")
	fs.StringVar(&c.name, "name", "", "service name (required)")
	fs.StringVar(&c.listen, "listen", "", "local UDP address (default: an ephemeral port suited to HOST)")
	fs.DurationVar(&c.timeout, "timeout", 5*time.Second, "how long each RPC waits for its answer")
	fs.BoolVar(&c.verbose, "v", false, "debug logging on stderr")
	fs.StringVar(&c.key, "key", "", "ed25519 key file: announce signs with it (creating it if missing); lookup and call read its announcements")
	fs.StringVar(&c.owner, "owner", "", "lookup, call: the hex public key whose announcements to read (default: -key's, or the open name's)")
}

// registryConfig is the registry's configuration from the flags; create
// says whether a missing -key file is created (announce) or an error.
func (c *common) registryConfig(log *slog.Logger, create bool) (RegistryConfig, error) {
	cfg := RegistryConfig{Logger: log}
	var err error
	switch {
	case c.key != "" && create:
		cfg.Key, _, err = loadOrCreateKey(c.key)
	case c.key != "":
		var text []byte
		if text, err = os.ReadFile(c.key); err == nil {
			cfg.Key, err = parsePrivateKey(text)
		}
	}
	if err != nil {
		return cfg, fmt.Errorf("-key: %w", err)
	}
	if c.owner != "" {
		if cfg.Owner, err = parsePublicKey(c.owner); err != nil {
			return cfg, fmt.Errorf("-owner: %w", err)
		}
	}
	return cfg, nil
}

func (c *common) check() error {
	switch {
	case c.join == "":
		return errors.New("-join HOST:PORT is required")
	case c.name == "":
		return errors.New("-name is required")
	case c.timeout <= 0:
		return errors.New("-timeout must be positive")
	case c.key != "" && c.owner != "":
		return errors.New("-key and -owner exclude each other")
	}
	return nil
}

// run is the whole command: args exclude the program name. It returns the
// exit code; announce runs until ctx is done.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return exitError
	}
	var c common
	fs := flag.NewFlagSet("registry "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.register(fs)
	switch args[0] {
	case "announce":
		addr := fs.String("addr", "", "the service's address to announce (required)")
		ttl := fs.Duration("ttl", 30*time.Second, "how long the record lives unless renewed; renewed every ttl/3")
		if code, ok := parse(fs, args[1:], stderr); !ok {
			return code
		}
		err := c.check()
		switch {
		case err != nil:
		case *addr == "":
			err = errors.New("-addr is required")
		case *ttl < 3*time.Millisecond:
			err = errors.New("-ttl is too short")
		case c.owner != "":
			err = errors.New("-owner is for lookup and call; announce signs with -key")
		}
		if err != nil {
			fmt.Fprintln(stderr, "registry:", err)
			return exitError
		}
		return announce(ctx, c, *addr, *ttl, stdout, stderr)
	case "lookup":
		if code, ok := parse(fs, args[1:], stderr); !ok {
			return code
		}
		if err := c.check(); err != nil {
			fmt.Fprintln(stderr, "registry:", err)
			return exitError
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

// parse parses a subcommand's flags; ok is false when the command should
// exit with code.
func parse(fs *flag.FlagSet, args []string, stderr io.Writer) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitError, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "registry: unexpected arguments %q\n", fs.Args())
		return exitError, false
	}
	return 0, true
}

func announce(ctx context.Context, c common, addr string, ttl time.Duration, stdout, stderr io.Writer) int {
	log := newLogger(stderr, c.verbose)
	cfg, err := c.registryConfig(log, true)
	if err != nil {
		fmt.Fprintln(stderr, "registry:", err)
		return exitError
	}
	node, err := join(ctx, c, log)
	if err != nil {
		fmt.Fprintln(stderr, "registry:", err)
		return exitError
	}
	defer node.Close()
	if cfg.Key != nil {
		fmt.Fprintf(stdout, "signing with %s, public key %x\n", c.key, []byte(cfg.Key.Public().(ed25519.PublicKey)))
	}
	reg := NewRegistry(node, cfg)
	if err := reg.Announce(ctx, c.name, addr, ttl); err != nil {
		fmt.Fprintln(stderr, "registry:", err)
		return exitError
	}
	slot, _ := reg.Slot(c.name, addr)
	fmt.Fprintf(stdout, "announced %s at %s (slot %d, ttl %v, renewing every %v)\n", c.name, addr, slot, ttl, ttl/3)
	_ = reg.Run(ctx)

	// Interrupted: withdraw, with a fresh context since ctx is done. The
	// read and the write are two lookups, each maybe waiting on dead
	// contacts for a few RPC timeouts. (A second interrupt exits at once.)
	wctx, cancel := context.WithTimeout(context.Background(), 10*c.timeout)
	defer cancel()
	if err := reg.Withdraw(wctx, c.name, addr); err != nil {
		fmt.Fprintln(stderr, "registry: withdrawing (the record expires by itself):", err)
	} else {
		fmt.Fprintf(stdout, "withdrew %s at %s\n", c.name, addr)
	}
	return exitOK
}

func lookup(ctx context.Context, c common, stdout, stderr io.Writer) int {
	log := newLogger(stderr, c.verbose)
	cfg, err := c.registryConfig(log, false)
	if err != nil {
		fmt.Fprintln(stderr, "registry:", err)
		return exitError
	}
	node, err := join(ctx, c, log)
	if err != nil {
		fmt.Fprintln(stderr, "registry:", err)
		return exitError
	}
	defer node.Close()
	addrs, err := NewRegistry(node, cfg).Lookup(ctx, c.name)
	if err != nil {
		fmt.Fprintln(stderr, "registry:", err)
		return exitError
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

// newLogger logs warnings (debug when verbose) to w.
func newLogger(w io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// join starts a DHT node on c.listen and bootstraps it from c.join. The
// default -listen is an ephemeral port on loopback for a loopback IPv4
// -join, on every IPv4 interface for another IPv4 one, on every IPv6
// interface for an IPv6 one.
func join(ctx context.Context, c common, log *slog.Logger) (*kademlia.Node, error) {
	ua, err := net.ResolveUDPAddr("udp", c.join)
	if err != nil {
		return nil, fmt.Errorf("bad -join: %v", err)
	}
	if ua.Port == 0 {
		return nil, fmt.Errorf("bad -join %q: bad port, want 1-65535", c.join)
	}
	boot := netip.AddrPortFrom(ua.AddrPort().Addr().Unmap(), ua.AddrPort().Port())
	listen := c.listen
	switch a := boot.Addr(); {
	case listen != "":
	case a.Is4() && a.IsLoopback():
		listen = "127.0.0.1:0"
	case a.Is4():
		listen = "0.0.0.0:0"
	default:
		listen = "[::]:0"
	}
	node, err := kademlia.Listen(ctx, listen, kademlia.Config{RPCTimeout: c.timeout, Logger: log})
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
