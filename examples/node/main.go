// Command node runs a long-lived Kademlia DHT node, the Go version of
// Python kademlia's examples/node.py. It is wire-compatible with Python
// nodes, so the two can share a network.
//
// Usage:
//
//	go run ./examples/node [-listen 0.0.0.0:8468] [-i IP -p PORT]
//	    [-state FILE [-save-every 5m]] [-db FILE] [-metrics ADDR] [-v]
//
// Start a first node:
//
//	go run ./examples/node
//
// and join it from a second one (on another port when on the same host):
//
//	go run ./examples/node -listen 0.0.0.0:8469 -i 127.0.0.1 -p 8468
//
// Then store and read values with ./examples/set and ./examples/get.
//
// Flags:
//
//	-listen ADDR     UDP address to serve on (default 0.0.0.0:8468)
//	-i IP -p PORT    bootstrap from the node at IP:PORT (IP may be a name)
//	-state FILE      if FILE exists, reuse the id, k and alpha saved in it
//	                 and bootstrap from its neighbors too; save the state
//	                 every -save-every (default 5m) and at shutdown (a new
//	                 file is written at start, so an unwritable path fails
//	                 at once and a lone node's id survives a restart)
//	-db FILE         keep stored values in a bbolt file (default: memory); a
//	                 corrupt file is an error naming it (exit 1)
//	-metrics ADDR    serve Prometheus metrics on http://ADDR/metrics
//	                 (e.g. 127.0.0.1:9468): datagrams, calls, drops, table,
//	                 storage, lookup latency and hops, hand-off, reply budget
//	-v               debug logging
//
// The node prints its id and address when it starts, and shuts down
// cleanly (saving its state) on SIGINT or SIGTERM. It exits 0 after a clean
// shutdown, 1 when it cannot start and 2 on bad arguments.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/rpcudp/go-rpcudp/kademlia"
	"github.com/rpcudp/go-rpcudp/kademlia/boltstore"
)

func main() {
	// The context ends on SIGINT or SIGTERM; a second signal kills at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, nil)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// options are the parsed command line.
type options struct {
	listen    string
	bootIP    string
	bootPort  uint
	state     string
	saveEvery time.Duration
	db        string
	metrics   string
	verbose   bool
}

func parseArgs(args []string, stderr io.Writer) (options, error) {
	var o options
	f := flag.NewFlagSet("node", flag.ContinueOnError)
	f.SetOutput(stderr)
	f.StringVar(&o.listen, "listen", "0.0.0.0:8468", "UDP address to serve on")
	f.StringVar(&o.bootIP, "i", "", "IP address of an existing node to bootstrap from")
	f.UintVar(&o.bootPort, "p", 0, "port of the existing node given with -i")
	f.StringVar(&o.state, "state", "", "state file: loaded at start if it exists, saved regularly and at shutdown")
	f.DurationVar(&o.saveEvery, "save-every", 5*time.Minute, "how often to save the -state file")
	f.StringVar(&o.db, "db", "", "bbolt file to keep stored values in (default: in memory)")
	f.StringVar(&o.metrics, "metrics", "", "serve Prometheus metrics on http://ADDR/metrics")
	f.BoolVar(&o.verbose, "v", false, "debug logging")
	if err := f.Parse(args); err != nil {
		return o, err
	}
	switch {
	case f.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments %q", f.Args())
	case (o.bootIP == "") != (o.bootPort == 0):
		return o, errors.New("-i and -p go together")
	case o.bootPort > 65535:
		return o, fmt.Errorf("bad -p %d: want 1-65535", o.bootPort)
	case o.saveEvery <= 0:
		return o, errors.New("-save-every must be positive")
	}
	return o, nil
}

// run is the whole command: args exclude the program name. It serves until
// ctx is done and returns the exit code. started, if not nil, is called
// with the node and its -db storage (nil without -db) once it listens and
// has bootstrapped.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, started func(*kademlia.Node, kademlia.Storage)) int {
	o, err := parseArgs(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintln(stderr, "node:", err)
		return exitUsage
	}
	level := slog.LevelInfo
	if o.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	cfg := kademlia.Config{Logger: log}
	boot, code := configure(ctx, o, &cfg, log, stderr)
	if code != exitOK {
		return code
	}
	if cfg.Storage != nil {
		defer cfg.Storage.Close()
	}
	node, err := kademlia.Listen(ctx, o.listen, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "node:", err)
		return exitFail
	}
	defer node.Close()
	fmt.Fprintf(stdout, "node %s listening on %s\n", node.ID(), node.Addr())
	stopServices, code := startServices(ctx, o, node, log, stdout, stderr)
	if code != exitOK {
		return code
	}
	defer stopServices()

	if len(boot) > 0 {
		found, err := node.Bootstrap(ctx, boot)
		switch {
		case ctx.Err() != nil:
		case err != nil || len(found) == 0:
			// Keep serving, as Python's node does: others may join us.
			log.Warn("bootstrap found no node; serving alone until contacted", "from", boot, "err", err)
		default:
			fmt.Fprintf(stdout, "bootstrapped: %d contacts known\n", len(node.Table().Contacts()))
		}
	}
	if started != nil {
		started(node, cfg.Storage)
	}
	if o.state != "" {
		// Saves every -save-every and once more on Close; while the node
		// knows no neighbor it keeps those already in the file, so that
		// good neighbors are never overwritten with none.
		if err := node.SaveState(o.state, o.saveEvery); err != nil {
			log.Warn("saving state", "err", err)
		}
	}

	<-ctx.Done()
	fmt.Fprintln(stdout, "shutting down")
	if err := node.Close(); err != nil {
		log.Warn("closing node", "err", err)
	}
	return exitOK
}

// configure fills cfg from the options: the id, k and alpha of the -state
// file, and the -db storage. It returns the nodes to bootstrap from (-i -p
// and the state's neighbors), or an exit code other than exitOK.
func configure(ctx context.Context, o options, cfg *kademlia.Config, log *slog.Logger, stderr io.Writer) ([]netip.AddrPort, int) {
	var boot []netip.AddrPort
	if o.bootIP != "" {
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", o.bootIP)
		if err != nil || len(ips) == 0 {
			fmt.Fprintf(stderr, "node: bad -i %q: %v\n", o.bootIP, err)
			return nil, exitUsage
		}
		boot = append(boot, netip.AddrPortFrom(ips[0].Unmap(), uint16(o.bootPort)))
	}
	if o.state != "" {
		if err := checkWritable(o.state); err != nil {
			fmt.Fprintln(stderr, "node:", err)
			return nil, exitFail
		}
		st, err := kademlia.LoadState(o.state)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			log.Info("no state file yet; starting fresh", "state", o.state)
		case err != nil:
			fmt.Fprintln(stderr, "node:", err)
			return nil, exitFail
		default:
			cfg.ID, cfg.K, cfg.Alpha = st.ID, st.K, st.Alpha
			boot = append(boot, st.Neighbors...)
			log.Info("loaded state", "state", o.state, "id", st.ID, "neighbors", len(st.Neighbors))
		}
	}
	if o.db != "" {
		store, err := boltstore.Open(o.db, kademlia.StorageConfig{})
		if err != nil {
			fmt.Fprintln(stderr, "node:", err)
			return nil, exitFail
		}
		cfg.Storage = store
	}
	return boot, exitOK
}

// checkWritable fails when the state file could not be saved: its
// directory is missing or not writable, or path is a directory. It writes
// and removes a temporary file next to path.
func checkWritable(path string) error {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("-state %s is a directory", path)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".check-*")
	if err != nil {
		return fmt.Errorf("-state %s cannot be written: %w", path, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// startServices saves a state file that does not exist yet (so that the
// node's id survives even a crash) and starts the -metrics server. It
// returns the function that stops the server (and waits for it), or an
// exit code other than exitOK on failure.
func startServices(ctx context.Context, o options, node *kademlia.Node, log *slog.Logger, stdout, stderr io.Writer) (func(), int) {
	if o.state != "" {
		if _, err := os.Stat(o.state); errors.Is(err, fs.ErrNotExist) {
			if err := node.SaveState(o.state, 0); err != nil {
				fmt.Fprintln(stderr, "node:", err)
				return nil, exitFail
			}
		}
	}
	if o.metrics == "" {
		return func() {}, exitOK
	}
	addr, stop, err := serveMetrics(ctx, o.metrics, node, log)
	if err != nil {
		fmt.Fprintln(stderr, "node:", err)
		return nil, exitFail
	}
	fmt.Fprintf(stdout, "metrics on http://%s/metrics\n", addr)
	return stop, exitOK
}
