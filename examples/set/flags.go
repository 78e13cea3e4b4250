package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/rpcudp/go-rpcudp/kademlia"
)

const usage = "usage: set [-int | -float | -bytes] [-timeout 5s] [-v] HOST PORT KEY VALUE\n" +
	"       set -sign FILE [-timeout 5s] [-v] HOST PORT NAME VALUE"

// options are the parsed command line.
type options struct {
	boot      netip.AddrPort // HOST PORT
	key, text string
	value     kademlia.Value // the plain value to store
	timeout   time.Duration
	log       *slog.Logger // warnings (everything with -v) on stderr
	sign      string       // key file for a signed record, or ""
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
	verbose := fs.Bool("v", false, "debug logging on stderr")
	fs.StringVar(&o.sign, "sign", "", "publish a signed record with the ed25519 key in `FILE` (created if missing)")
	fs.Usage = func() { fmt.Fprintln(stderr, usage); fs.PrintDefaults() }
	switch err := fs.Parse(args); {
	case errors.Is(err, flag.ErrHelp):
		return o, exitOK, false
	case err != nil:
		return o, exitError, false
	case fs.NArg() != 4:
		fmt.Fprintln(stderr, usage)
		return o, exitError, false
	}
	o.key, o.text = fs.Arg(2), fs.Arg(3)
	var err error
	switch {
	case o.timeout <= 0:
		err = errors.New("-timeout must be positive")
	case o.sign != "" && (*asInt || *asFloat || *asBytes):
		err = errors.New("-sign excludes -int, -float and -bytes")
	default:
		o.value, err = parseValue(o.text, *asInt, *asFloat, *asBytes)
	}
	if err == nil {
		o.boot, err = resolve(fs.Arg(0), fs.Arg(1))
	}
	if err != nil {
		return o, fail(stderr, err), false
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	o.log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	return o, 0, true
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
