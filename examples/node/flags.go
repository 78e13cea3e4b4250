package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

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

// logger logs from info (debug with -v) on stderr.
func (o options) logger(stderr io.Writer) *slog.Logger {
	level := slog.LevelInfo
	if o.verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
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
