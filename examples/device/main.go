package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

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
// ctx is done and returns the exit code: 0, 1 when it cannot serve, 2 for
// bad arguments.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("device", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:1235", "UDP address to serve on")
	claimTimeout := fs.Duration("claim-timeout", 5*time.Second, "how long a claim lasts without a reclaim")
	verbose := fs.Bool("v", false, "log claims, releases and requests on stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "device: unexpected arguments %q\n", fs.Args())
		return 2
	case *claimTimeout <= 0:
		fmt.Fprintln(stderr, "device: -claim-timeout must be positive")
		return 2
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if err := serve(ctx, *listen, *claimTimeout, log, stdout); err != nil {
		fmt.Fprintln(stderr, "device:", err)
		return 1
	}
	return 0
}

// serve runs the device on listen until ctx is done.
func serve(ctx context.Context, listen string, claimTimeout time.Duration, log *slog.Logger, stdout io.Writer) error {
	var opts []rpcudp.Option
	if log.Enabled(ctx, slog.LevelDebug) {
		opts = append(opts, rpcudp.WithInterceptors(rpcudp.LogRequests(log)))
	}
	ep, err := rpcudp.Listen(ctx, listen, opts...)
	if err != nil {
		return err
	}
	dev := &device{serial: rand.Text()[:8]}
	srv := service.New(ep, service.WithLogger(log), service.WithClaims(claimTimeout, func(session string, lapsed bool) {
		log.Info("claim released", "session", session, "lapsed", lapsed)
	}))
	if err := register(srv, dev); err != nil {
		ep.Close()
		return err
	}
	srv.Start()
	fmt.Fprintf(stdout, "device %s (claim timeout %v) serving on %s\n", dev.serial, claimTimeout, ep.LocalAddr())
	<-ctx.Done()
	srv.Stop()
	wctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Wait(wctx)
	return ep.Close()
}

// register declares the device's property and methods on srv.
func register(srv *service.Server, dev *device) error {
	gain, err := service.AddProperty(srv, service.PropertyDef[float64]{
		Name: "gain", Doc: "the gain in dB", Initial: dev.getGain(), Changed: "gain_changed",
		Settable: true, Claimed: true,
		OnSet: func(_ context.Context, g float64) error { return dev.setGain(g) },
	})
	if err != nil {
		return err
	}
	type method struct {
		name string
		fn   any
		md   service.Method
	}
	for _, m := range []method{
		{"set_gain", func(ctx context.Context, _ netip.AddrPort, g float64) error { return gain.Set(ctx, g) },
			service.Method{Claimed: true, Doc: "set_gain(token, gain): set the gain in dB (0 to 76)"}},
		{"get_gain", func(context.Context, netip.AddrPort) (float64, error) { return gain.Get(), nil },
			service.Method{Doc: "get_gain() -> the gain in dB"}},
		{"ping", func(context.Context, netip.AddrPort) (string, error) { return "pong", nil },
			service.Method{Doc: "ping() -> \"pong\""}},
		{"get_last_error", func(context.Context, netip.AddrPort) (string, error) { return dev.lastError(), nil },
			service.Method{Doc: "get_last_error() -> the last error the device reported, \"\" if none"}},
		{"get_device_info", func(context.Context, netip.AddrPort) (map[string]any, error) { return dev.info(), nil },
			service.Method{Doc: "get_device_info() -> product, serial, version, gain_range"}},
	} {
		if err := srv.Handle(m.name, m.fn, m.md); err != nil {
			return err
		}
	}
	return nil
}
