package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/term"

	"github.com/rpcudp/go-rpcudp/rpcudp/jsonmsg"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "compare" {
		os.Exit(compareMain(os.Args[2:], os.Stdout, os.Stderr))
	}
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
func parseFlags(argv []string, stderr io.Writer) (Config, error) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Addr, "addr", "", "benchmark the server at host:port (e.g. ./examples/server, a Python rpcudp server) instead of an echo server started in-process")
	fs.IntVar(&cfg.N, "n", cfg.N, "number of calls")
	fs.DurationVar(&cfg.Duration, "d", 0, "run for this long instead of -n calls")
	fs.IntVar(&cfg.Concurrency, "c", cfg.Concurrency, "calls in flight (goroutines sharing one client endpoint); with -rate, the most in flight")
	fs.IntVar(&cfg.Size, "s", cfg.Size, fmt.Sprintf("payload size in bytes (at most %d)", maxPayload))
	fs.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "timeout of each call")
	fs.DurationVar(&cfg.Retry, "retry", 0, "resend unanswered requests, first after this long, doubling (0: no retries)")
	fs.BoolVar(&cfg.Raw, "raw", false, "also run the same load as plain UDP echo, and compare")
	fs.Float64Var(&cfg.Loss, "loss", 0, "drop this share of datagrams (0..1) on purpose, both directions")
	fs.BoolVar(&cfg.JSON, "json", false, "print one JSON object with all results on stdout, and no progress")
	fs.BoolVar(&cfg.IPv6, "6", false, "run the in-process server on [::1] (and resolve -addr to IPv6)")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of the -loss generators")
	fs.StringVar(&cfg.Rate, "rate", "", "open loop: send this many calls/s on a fixed schedule, -c at most in flight (10k, 1.5M; 10k,50k,100k sweeps)")
	fs.StringVar(&cfg.Method, "method", "", "method to call (default echo; other methods need -addr)")
	var args []string
	fs.Func("args", "a JSON argument of each call (repeatable; one JSON array: its elements), as examples/call writes them", func(s string) error {
		if _, err := jsonmsg.Parse(s); err != nil {
			return err
		}
		args = append(args, s)
		return nil
	})
	fs.StringVar(&cfg.HTML, "html", "", "also write the report as a self-contained HTML page to this file")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: bench [flags]\n       bench compare [-html FILE] A.json B.json\n\n"+
			"Round-trip benchmark of rpcudp calls to an echo method, served in-process\n"+
			"or, with -addr, by a running server such as ./examples/server:\n\n"+
			"  go run ./examples/server &\n  go run ./examples/bench -addr 127.0.0.1:1234\n"+
			"  go run ./examples/bench -rate 10k,50k,100k -d 3s   # open-loop sweep\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(argv); err != nil {
		return cfg, err
	}
	cfg.Args = joinArgs(args)
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

// joinArgs makes the -args values one JSON array: a single array as it
// is, else the values as its elements.
func joinArgs(args []string) string {
	switch {
	case len(args) == 0:
		return ""
	case len(args) == 1 && strings.HasPrefix(strings.TrimSpace(args[0]), "["):
		return strings.TrimSpace(args[0])
	}
	return "[" + strings.Join(args, ",") + "]"
}

// exitCode is the process's exit status for run's outcome: 2 when the run
// could not be set up, 1 when no call succeeded (in either mode), else 0.
func exitCode(res Result, err error, stderr io.Writer) int {
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	for _, st := range res.steps() {
		for _, r := range []*RunResult{st.RPC, st.Raw} {
			if r != nil && r.OK == 0 {
				fmt.Fprintf(stderr, "bench: no %s call succeeded\n", r.Mode)
				return 1
			}
		}
	}
	if res.RPC == nil && len(res.Sweep) == 0 {
		fmt.Fprintln(stderr, "bench: no rpc call succeeded")
		return 1
	}
	return 0
}
