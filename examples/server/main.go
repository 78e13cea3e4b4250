// Command server is the Go version of Python rpcudp's example server: it
// serves sayhi, sayhi_quickly and sayhi_slowly on a UDP socket until
// interrupted, and echo, which returns its one argument unchanged, for
// ./examples/bench to measure:
//
//	go run ./examples/server -listen 127.0.0.1:1234
//	go run ./examples/bench -addr 127.0.0.1:1234
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/rpcudp/go-rpcudp/rpcudp"
)

// greeter's RPC methods are served as echo, sayhi, sayhi_quickly and
// sayhi_slowly.
type greeter struct{ slow time.Duration }

func hello(name string, from netip.AddrPort) string {
	return fmt.Sprintf("Hello %s you live at %s:%d", name, from.Addr(), from.Port())
}

// RPCSayhi answers at once.
func (g greeter) RPCSayhi(_ context.Context, from netip.AddrPort, name string) (string, error) {
	return hello(name, from), nil
}

// RPCSayhiQuickly answers at once, like Python's plain rpc_ method.
func (g greeter) RPCSayhiQuickly(_ context.Context, from netip.AddrPort, name string) (string, error) {
	return hello(name, from), nil
}

// RPCSayhiSlowly answers after a pause, like Python's coroutine example;
// other requests are served meanwhile.
func (g greeter) RPCSayhiSlowly(ctx context.Context, from netip.AddrPort, name string) (string, error) {
	select {
	case <-time.After(g.slow):
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return hello(name, from), nil
}

// RPCEcho returns its argument as it came, byte for byte.
func (g greeter) RPCEcho(_ context.Context, _ netip.AddrPort, arg msgpack.RawMessage) (msgpack.RawMessage, error) {
	return bytes.Clone(arg), nil
}

func main() {
	listen := flag.String("listen", "127.0.0.1:1234", "UDP address to serve on")
	slow := flag.Duration("slow", time.Second, "how long sayhi_slowly waits")
	verbose := flag.Bool("v", false, "log every request")
	flag.Parse()
	if err := run(*listen, *slow, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

func run(listen string, slow time.Duration, verbose bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var opts []rpcudp.Option
	if verbose {
		l := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		opts = append(opts, rpcudp.WithLogger(l), rpcudp.WithInterceptors(rpcudp.LogRequests(l)))
	}
	ep, err := rpcudp.Listen(ctx, listen, opts...)
	if err != nil {
		return err
	}
	if err := ep.Register(greeter{slow: slow}); err != nil {
		ep.Close()
		return err
	}
	fmt.Printf("serving %v on %s\n", ep.Methods(), ep.LocalAddr())
	<-ctx.Done()
	return ep.Close()
}
