// Command server is the Go version of Python rpcudp's example server: it
// serves sayhi, sayhi_quickly and sayhi_slowly on a UDP socket until
// interrupted, and echo, which returns its one argument unchanged, for
// ./examples/bench to measure:
//
//	go run ./examples/server -listen 127.0.0.1:1234
//	go run ./examples/bench -addr 127.0.0.1:1234
//
// It also serves oslo.messaging's example server's endpoints (package
// rpcudp/service): test(arg), which returns arg, in the null namespace
// (so Python callers reach it as a plain method), and stop in the
// namespace "control" at version 2.0, which stops the server gracefully:
// it stops taking requests, waits for those running, and exits 0.
//
//	go run ./examples/call 127.0.0.1:1234 test '{"a": 1}'
//	go run ./examples/call -namespace control -version 2.0 127.0.0.1:1234 stop
//
// stop is refused (an error reply, "stop refused: ...") unless it comes
// from a loopback address, since anyone can forge a UDP datagram's source
// but not a loopback one from afar: a server listening on another address
// is not stopped by a stranger's 50-byte datagram. With -stop-token TOKEN,
// stop(TOKEN) stops it from any address too; the token travels in the
// clear, so it keeps out strangers, not those who see the traffic.
//
//	go run ./examples/server -listen 0.0.0.0:1234 -stop-token s3cret
//	go run ./examples/call -namespace control -version 2.0 192.0.2.7:1234 stop '"s3cret"'
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/rpcudp/go-rpcudp/rpcudp/service"
)

// main runs the command until SIGINT or SIGTERM; a second signal kills at once.
func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole command: args exclude the program name. It serves until
// ctx is done or a client calls control's stop, and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:1234", "UDP address to serve on")
	slow := fs.Duration("slow", time.Second, "how long sayhi_slowly waits")
	verbose := fs.Bool("v", false, "log every request")
	stopToken := fs.String("stop-token", "", "let control's stop(TOKEN) come from any address (default: loopback only)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "server: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if err := serve(ctx, *listen, *slow, *verbose, *stopToken, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "server:", err)
		return 1
	}
	return 0
}

// serve serves until ctx is done or a client calls stop in the control
// namespace.
func serve(ctx context.Context, listen string, slow time.Duration, verbose bool, stopToken string, stdout, stderr io.Writer) error {
	var opts []rpcudp.Option
	if verbose {
		l := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		opts = append(opts, rpcudp.WithLogger(l), rpcudp.WithInterceptors(rpcudp.LogRequests(l)))
	}
	ep, err := rpcudp.Listen(ctx, listen, opts...)
	if err != nil {
		return err
	}
	defer ep.Close()
	if err := ep.Register(greeter{slow: slow}); err != nil {
		return err
	}
	srv := service.New(ep)
	stopped := make(chan netip.AddrPort, 1)
	if err := addEndpoints(srv, stopped, stopToken); err != nil {
		return err
	}
	srv.Start()
	fmt.Fprintf(stdout, "serving %v on %s\n", ep.Methods(), ep.LocalAddr())
	select {
	case <-ctx.Done():
		return nil
	case from := <-stopped:
		// oslo's server.stop() then server.wait(): requests running
		// (stop's own included) finish; new ones get an error reply.
		wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := srv.Wait(wctx)
		fmt.Fprintf(stdout, "stopped by %s\n", from)
		return err
	}
}

// addEndpoints adds oslo.messaging's example endpoints: control (version
// 2.0) with stop, which stops the server and sends the caller's address
// on stopped (for a caller allowed: see mayStop), and test in the null
// namespace, which returns its argument.
func addEndpoints(srv *service.Server, stopped chan<- netip.AddrPort, stopToken string) error {
	control := &service.Group{Namespace: "control", Version: "2.0"}
	var once sync.Once
	err := control.Handle("stop", func(_ context.Context, from netip.AddrPort, token ...string) error {
		if err := mayStop(from, stopToken, token); err != nil {
			return err
		}
		once.Do(func() {
			srv.Stop()
			stopped <- from
		})
		return nil
	}, service.Method{Doc: "stop(): stop taking requests, finish those running, exit (from loopback, or stop(token) with -stop-token)"})
	if err != nil {
		return err
	}
	if err := srv.Add(control); err != nil {
		return err
	}
	return srv.Handle("test", func(_ context.Context, _ netip.AddrPort, arg msgpack.RawMessage) (msgpack.RawMessage, error) {
		return bytes.Clone(arg), nil
	}, service.Method{Doc: "test(arg) -> arg"})
}
