package main

import (
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/rpcudp/go-rpcudp/kademlia/keyfile"
)

const usage = "usage: get [-timeout 5s] [-v] HOST PORT KEY\n" +
	"       get -pub HEX [-timeout 5s] [-v] HOST PORT NAME"

// options are the parsed command line.
type options struct {
	boot    netip.AddrPort // HOST PORT
	key     string
	pub     ed25519.PublicKey // -pub, or nil
	timeout time.Duration
	verbose bool
}

// parseArgs parses the command line; ok is false when the command should
// exit with code.
func parseArgs(args []string, stderr io.Writer) (o options, code int, ok bool) {
	fs := flag.NewFlagSet("get", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.timeout, "timeout", 5*time.Second, "how long each RPC waits for its answer")
	fs.BoolVar(&o.verbose, "v", false, "debug logging on stderr")
	pubHex := fs.String("pub", "", "read the signed record of the ed25519 public key `HEX` under the salt NAME")
	fs.Usage = func() { fmt.Fprintln(stderr, usage); fs.PrintDefaults() }
	switch err := fs.Parse(args); {
	case errors.Is(err, flag.ErrHelp):
		return o, exitFound, false
	case err != nil:
		return o, exitError, false
	case fs.NArg() != 3:
		fmt.Fprintln(stderr, usage)
		return o, exitError, false
	}
	o.key = fs.Arg(2)
	var err error
	switch {
	case o.timeout <= 0:
		err = errors.New("-timeout must be positive")
	case *pubHex != "":
		if o.pub, err = keyfile.ParsePublic(*pubHex); err != nil {
			err = fmt.Errorf("-pub: %w", err)
		}
	}
	if err == nil {
		o.boot, err = resolve(fs.Arg(0), fs.Arg(1))
	}
	if err != nil {
		return o, fail(stderr, err), false
	}
	return o, 0, true
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
