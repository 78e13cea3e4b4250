// Command node runs a long-lived Kademlia DHT node, the Go version of
// Python kademlia's examples/node.py. It is wire-compatible with Python
// nodes, so the two can share a network.
//
// Usage:
//
//	go run ./examples/node [-listen 0.0.0.0:8468] [-i IP -p PORT]
//	    [-state FILE [-save-every 5m]] [-db FILE] [-v]
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
//	                 every -save-every (default 5m) and at shutdown
//	-db FILE         keep stored values in a bbolt file (default: memory)
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
	"net/netip"
	"time"

	"github.com/rpcudp/go-rpcudp/examples/internal/dhtcli"
	"github.com/rpcudp/go-rpcudp/kademlia"
)

func main() {
	dhtcli.Main(func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
		return run(ctx, args, stdout, stderr, nil)
	})
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
// with the node once it listens and has bootstrapped.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, started func(*kademlia.Node)) int {
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
	var boot []netip.AddrPort
	if o.bootIP != "" {
		ip, err := dhtcli.ResolveIP(ctx, o.bootIP)
		if err != nil {
			fmt.Fprintln(stderr, "node:", err)
			return exitUsage
		}
		boot = append(boot, netip.AddrPortFrom(ip, uint16(o.bootPort)))
	}
	if o.state != "" {
		st, err := kademlia.LoadState(o.state)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			log.Info("no state file yet; starting fresh", "state", o.state)
		case err != nil:
			fmt.Fprintln(stderr, "node:", err)
			return exitFail
		default:
			cfg.ID, cfg.K, cfg.Alpha = st.ID, st.K, st.Alpha
			boot = append(boot, st.Neighbors...)
			log.Info("loaded state", "state", o.state, "id", st.ID, "neighbors", len(st.Neighbors))
		}
	}
	if o.db != "" {
		store, err := kademlia.OpenBoltStorage(o.db, kademlia.StorageConfig{})
		if err != nil {
			fmt.Fprintln(stderr, "node:", err)
			return exitFail
		}
		defer store.Close()
		cfg.Storage = store
	}

	node, err := kademlia.NewNode(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "node:", err)
		return exitFail
	}
	defer node.Close()
	if err := node.Listen(ctx, o.listen); err != nil {
		fmt.Fprintln(stderr, "node:", err)
		return exitFail
	}
	fmt.Fprintf(stdout, "node %s listening on %s\n", node.ID(), node.Addr())

	if len(boot) > 0 {
		found, err := node.Bootstrap(ctx, boot)
		switch {
		case ctx.Err() != nil:
		case err != nil || len(found) == 0:
			// Keep serving, as Python's node does: others may join us.
			log.Warn("bootstrap found no node; serving alone until contacted", "from", boot, "err", err)
		default:
			fmt.Fprintf(stdout, "bootstrapped: %d contacts known\n", node.Table().Len())
		}
	}
	if started != nil {
		started(node)
	}

	if o.state != "" {
		// Saves every -save-every and once more on Close, skipping saves
		// while the node knows no neighbor (as Python's node does) so that
		// good neighbors are never overwritten with none.
		node.SaveStateRegularly(o.state, o.saveEvery)
	}

	<-ctx.Done()
	fmt.Fprintln(stdout, "shutting down")
	if err := node.Close(); err != nil {
		log.Warn("closing node", "err", err)
	}
	return exitOK
}
