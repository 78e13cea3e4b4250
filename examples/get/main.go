// Command get is the Go version of Python kademlia's examples/get.py: it
// joins a DHT through one known node, looks a key up and prints the value
// the way Python's print() shows it.
//
// Usage:
//
//	go run ./examples/get [-timeout 5s] [-v] HOST PORT KEY
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
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/rpcudp/go-rpcudp/examples/internal/dhtcli"
)

func main() { dhtcli.Main(run) }

// Exit codes.
const (
	exitFound    = 0
	exitNotFound = 1
	exitError    = 2
)

const usage = "usage: get [-timeout 5s] [-v] HOST PORT KEY"

// run is the whole command: args exclude the program name. It returns the
// exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("get", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 5*time.Second, "how long each RPC waits for its answer")
	verbose := fs.Bool("v", false, "debug logging on stderr")
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
	boot, err := dhtcli.Resolve(ctx, host, port)
	if err != nil {
		fmt.Fprintln(stderr, "get:", err)
		return exitError
	}
	node, err := dhtcli.Join(ctx, boot, "", *timeout, dhtcli.NewLogger(stderr, *verbose))
	if err != nil {
		fmt.Fprintln(stderr, "get:", err)
		return exitError
	}
	defer node.Close()

	v, found, err := node.Get(ctx, key)
	if err != nil {
		fmt.Fprintln(stderr, "get:", err)
		return exitError
	}
	if !found {
		fmt.Fprintln(stdout, "Get result: None")
		return exitNotFound
	}
	fmt.Fprintln(stdout, "Get result:", v.String())
	return exitFound
}
