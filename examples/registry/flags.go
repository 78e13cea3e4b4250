package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/rpcudp/go-rpcudp/kademlia/keyfile"
)

const usage = `usage:
  registry announce -join HOST:PORT -name NAME -addr SERVICE_ADDR [-ttl 30s] [-key FILE]
  registry lookup   -join HOST:PORT -name NAME [-key FILE | -owner HEX]
  registry call     -join HOST:PORT -name NAME [-key FILE | -owner HEX] [-server ADDR | -fanout] METHOD [ARG...]`

// common are the flags every subcommand takes.
type common struct {
	join    string
	boot    netip.AddrPort // -join, resolved by check
	name    string
	listen  string
	key     string // -key FILE
	owner   string // -owner HEX
	timeout time.Duration
	verbose bool
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.join, "join", "", "HOST:PORT of a recordStore node to bootstrap from (required)")
	fs.StringVar(&c.name, "name", "", "service name (required)")
	fs.StringVar(&c.listen, "listen", "", "local UDP address (default: an ephemeral port suited to HOST)")
	fs.DurationVar(&c.timeout, "timeout", 5*time.Second, "how long each RPC waits for its answer")
	fs.BoolVar(&c.verbose, "v", false, "debug logging on stderr")
	fs.StringVar(&c.key, "key", "", "ed25519 key file: announce signs with it (creating it if missing); lookup and call read its announcements")
	fs.StringVar(&c.owner, "owner", "", "lookup, call: the hex public key whose announcements to read (default: -key's, or the open name's)")
}

// registryConfig is the registry's configuration from the flags; create
// says whether a missing -key file is created (announce) or an error.
func (c *common) registryConfig(log *slog.Logger, create bool) (registryOptions, error) {
	cfg := registryOptions{logger: log}
	var err error
	switch {
	case c.key != "" && create:
		cfg.key, _, err = keyfile.Load(c.key)
	case c.key != "":
		cfg.key, err = keyfile.Read(c.key)
	}
	if err != nil {
		return cfg, fmt.Errorf("-key: %w", err)
	}
	if c.owner != "" {
		if cfg.owner, err = keyfile.ParsePublic(c.owner); err != nil {
			return cfg, fmt.Errorf("-owner: %w", err)
		}
	}
	return cfg, nil
}

// check checks the flags and resolves -join.
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
	ua, err := net.ResolveUDPAddr("udp", c.join)
	switch {
	case err != nil:
		return fmt.Errorf("bad -join: %v", err)
	case ua.Port == 0:
		return fmt.Errorf("bad -join %q: bad port, want 1-65535", c.join)
	}
	c.boot = netip.AddrPortFrom(ua.AddrPort().Addr().Unmap(), ua.AddrPort().Port())
	return nil
}

// parseAnnounce parses the announce subcommand's arguments (after
// "announce"); ok is false when the command should exit with code.
func parseAnnounce(args []string, stderr io.Writer) (c common, addr string, ttl time.Duration, code int, ok bool) {
	fs := flag.NewFlagSet("registry announce", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.register(fs)
	fs.StringVar(&addr, "addr", "", "the service's address to announce (required)")
	fs.DurationVar(&ttl, "ttl", 30*time.Second, "how long the record lives unless renewed; renewed every ttl/3")
	if code, ok := parse(fs, args, stderr); !ok {
		return c, addr, ttl, code, false
	}
	err := c.check()
	switch {
	case err != nil:
	case addr == "":
		err = errors.New("-addr is required")
	case ttl < 3*time.Millisecond:
		err = errors.New("-ttl is too short")
	case c.owner != "":
		err = errors.New("-owner is for lookup and call; announce signs with -key")
	}
	if err != nil {
		return c, addr, ttl, fail(stderr, exitError, err), false
	}
	return c, addr, ttl, 0, true
}

// parseLookup parses the lookup subcommand's arguments (after "lookup").
func parseLookup(args []string, stderr io.Writer) (c common, code int, ok bool) {
	fs := flag.NewFlagSet("registry lookup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.register(fs)
	if code, ok := parse(fs, args, stderr); !ok {
		return c, code, false
	}
	if err := c.check(); err != nil {
		return c, fail(stderr, exitError, err), false
	}
	return c, 0, true
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

// newLogger logs warnings (debug when verbose) to w.
func newLogger(w io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}
