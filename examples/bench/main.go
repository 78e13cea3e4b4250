// Command bench is a round-trip benchmark for rpcudp, in the spirit of
// wrk or ghz: it keeps -c calls in flight against an echo method and
// reports throughput, latency percentiles (from an HDR histogram) and what
// the endpoints counted.
//
// By default it starts an echo server in-process on loopback (127.0.0.1,
// or [::1] with -6); -addr targets a running server instead, which must
// serve a method "echo" returning its one bytes argument, as
// ./examples/server does:
//
//	go run ./examples/server &
//	go run ./examples/bench -addr 127.0.0.1:1234
//
// The load is -c goroutines each making calls one after another through
// one shared client endpoint, -n calls in all or for -d.
//
//	go run ./examples/bench                          # 20000 calls, 32 in flight, 32-byte payload
//	go run ./examples/bench -n 100000 -c 64 -s 512   # more, wider, bigger
//	go run ./examples/bench -d 10s -c 1              # one call at a time for 10 s: pure latency
//	go run ./examples/bench -raw -n 50000            # side by side with plain UDP echo, rpc/raw ratios
//	go run ./examples/bench -loss 0.1 -retry 20ms    # drop 10% of datagrams; retries recover them
//	go run ./examples/bench -loss 0.1 -timeout 50ms  # the same without retries: timeouts
//	go run ./examples/bench -addr 127.0.0.1:1234 -json | jq .rpc.latency_us
//
// -raw runs the same load a second time as plain UDP echo in the same
// process (one client socket shared by the -c goroutines, a reader
// goroutine matching replies by an 8-byte sequence number, an echo server
// writing back each datagram), so that the rpc/raw ratios show what the
// RPC layer costs. -loss P drops each datagram with probability P on
// purpose (requests as the client sends them, replies as the server sends
// them; with -addr, replies as the client reads them), from a generator
// seeded by -seed.
//
// Progress goes to stderr: a bar when it is a terminal, else a line a
// second. -json prints one JSON object with every result on stdout and no
// progress. The exit status is 2 when the run cannot be set up (bad flags,
// no server answering echo), 1 when no call succeeded, else 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"
)

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		os.Exit(2)
	}
	if fd := int(os.Stderr.Fd()); term.IsTerminal(fd) {
		cfg.Progress = ProgressBar
		cfg.termWidth, _, _ = term.GetSize(fd)
	} else {
		cfg.Progress = ProgressLines
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal kills at once
	}()
	res, err := run(ctx, cfg, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(res, err, os.Stderr))
}

// parseFlags turns the command line into a Config. It reports errors (and
// -h) on stderr.
func parseFlags(args []string, stderr io.Writer) (Config, error) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Addr, "addr", "", "benchmark the echo server at host:port (e.g. ./examples/server) instead of one started in-process")
	fs.IntVar(&cfg.N, "n", cfg.N, "number of calls")
	fs.DurationVar(&cfg.Duration, "d", 0, "run for this long instead of -n calls")
	fs.IntVar(&cfg.Concurrency, "c", cfg.Concurrency, "calls in flight (goroutines sharing one client endpoint)")
	fs.IntVar(&cfg.Size, "s", cfg.Size, fmt.Sprintf("payload size in bytes (at most %d)", maxPayload))
	fs.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "timeout of each call")
	fs.DurationVar(&cfg.Retry, "retry", 0, "resend unanswered requests, first after this long, doubling (0: no retries)")
	fs.BoolVar(&cfg.Raw, "raw", false, "also run the same load as plain UDP echo, and compare")
	fs.Float64Var(&cfg.Loss, "loss", 0, "drop this share of datagrams (0..1) on purpose, both directions")
	fs.BoolVar(&cfg.JSON, "json", false, "print one JSON object with all results on stdout, and no progress")
	fs.BoolVar(&cfg.IPv6, "6", false, "run the in-process server on [::1] (and resolve -addr to IPv6)")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of the -loss generators")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: bench [flags]\n\nRound-trip benchmark of rpcudp calls to an echo method, served in-process\n"+
			"or, with -addr, by a running server such as ./examples/server:\n\n"+
			"  go run ./examples/server &\n  go run ./examples/bench -addr 127.0.0.1:1234\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		err := fmt.Errorf("unexpected arguments: %q", fs.Args())
		fmt.Fprintln(stderr, "bench:", err)
		fs.Usage()
		return cfg, err
	}
	if err := cfg.validate(); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return cfg, err
	}
	return cfg, nil
}

// exitCode is the process's exit status for run's outcome: 2 when the run
// could not be set up, 1 when no call succeeded (in either mode), else 0.
func exitCode(res Result, err error, stderr io.Writer) int {
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	for _, r := range []*RunResult{res.RPC, res.Raw} {
		if r != nil && r.OK == 0 {
			fmt.Fprintf(stderr, "bench: no %s call succeeded\n", r.Mode)
			return 1
		}
	}
	return 0
}
