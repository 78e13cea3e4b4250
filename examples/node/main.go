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
	"syscall"

	"github.com/rpcudp/go-rpcudp/kademlia"
	"github.com/rpcudp/go-rpcudp/kademlia/boltstore"
)

// main runs the command until SIGINT or SIGTERM; a second signal kills at once.
func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, nil))
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
		return fail(stderr, exitUsage, err)
	}
	log := o.logger(stderr)
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
		return fail(stderr, exitFail, err)
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
			return nil, fail(stderr, exitFail, err)
		}
		st, err := kademlia.LoadState(o.state)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			log.Info("no state file yet; starting fresh", "state", o.state)
		case err != nil:
			return nil, fail(stderr, exitFail, err)
		default:
			cfg.ID, cfg.K, cfg.Alpha = st.ID, st.K, st.Alpha
			boot = append(boot, st.Neighbors...)
			log.Info("loaded state", "state", o.state, "id", st.ID, "neighbors", len(st.Neighbors))
		}
	}
	if o.db != "" {
		store, err := boltstore.Open(o.db, kademlia.StorageConfig{})
		if err != nil {
			return nil, fail(stderr, exitFail, err)
		}
		cfg.Storage = store
	}
	return boot, exitOK
}

// fail reports err on stderr and returns code.
func fail(stderr io.Writer, code int, err error) int {
	fmt.Fprintln(stderr, "node:", err)
	return code
}
