package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/rpcudp/go-rpcudp/rpcudp/jsonmsg"
	"github.com/rpcudp/go-rpcudp/rpcudp/wire"
)

// echoMethod is the method the benchmark calls by default.
const echoMethod = "echo"

// maxPayload is the largest -s: rpcudp.MaxBody minus the request's
// framing around the payload (array header, method name "echo", args
// array header, bin16 header).
const maxPayload = rpcudp.MaxBody - (1 + 1 + len(echoMethod) + 1 + 3)

// Config is one benchmark run, as the flags describe it.
type Config struct {
	Addr        string        // existing server (host:port); "" starts one in-process
	N           int           // calls to make (when Duration is 0)
	Duration    time.Duration // run this long instead of N calls, when > 0
	Concurrency int           // calls in flight: goroutines sharing one client
	Size        int           // payload bytes
	Timeout     time.Duration // per call
	Retry       time.Duration // initial resend backoff; 0 disables retries
	Raw         bool          // also run a plain UDP echo baseline
	Loss        float64       // share of datagrams dropped on purpose, [0, 1)
	JSON        bool          // one JSON object on stdout, no progress
	IPv6        bool          // in-process server on [::1]; prefer IPv6 resolving -addr
	Seed        uint64        // seed of the loss generators
	Progress    ProgressMode  // how to show progress on stderr
	Rate        string        // -rate: open loop at these calls/s ("50k"; "10k,50k" sweeps); "": closed loop
	Method      string        // method to call; "": echo
	Args        string        // its arguments as a JSON array (jsonmsg notation); "": the -s payload
	HTML        string        // write the HTML report to this file too

	progressEvery time.Duration // overrides the progress interval (tests)
	termWidth     int           // the terminal's width, for the bar; 0: unknown
}

// DefaultConfig returns the flags' defaults.
func DefaultConfig() Config {
	return Config{N: 20000, Concurrency: 32, Size: 32, Timeout: time.Second, Seed: 1}
}

// method returns the method to call.
func (c Config) method() string {
	if c.Method == "" {
		return echoMethod
	}
	return c.Method
}

// echoes reports whether the calls are echo calls of the payload, whose
// replies are checked.
func (c Config) echoes() bool { return c.method() == echoMethod && c.Args == "" }

func (c Config) validate() error {
	switch {
	case c.Duration < 0:
		return fmt.Errorf("-d must not be negative (got %v)", c.Duration)
	case c.Duration == 0 && c.N < 1:
		return fmt.Errorf("-n must be at least 1 (got %d)", c.N)
	case c.Concurrency < 1:
		return fmt.Errorf("-c must be at least 1 (got %d)", c.Concurrency)
	case c.Size < 0 || c.Size > maxPayload:
		return fmt.Errorf("-s must be in [0, %d] (got %d): a request body is at most %d bytes", maxPayload, c.Size, rpcudp.MaxBody)
	case c.Timeout <= 0:
		return fmt.Errorf("-timeout must be positive (got %v)", c.Timeout)
	case c.Retry < 0:
		return fmt.Errorf("-retry must not be negative (got %v)", c.Retry)
	case !(c.Loss >= 0 && c.Loss < 1):
		return fmt.Errorf("-loss must be in [0, 1) (got %v)", c.Loss)
	case c.Raw && c.Addr != "":
		return errors.New("-raw runs its echo baseline in-process, so it cannot be compared with a server given by -addr")
	case c.Addr == "" && c.method() != echoMethod:
		return fmt.Errorf("-method %s needs -addr: the in-process server serves only %s", c.Method, echoMethod)
	case c.Raw && !c.echoes():
		return errors.New("-raw compares echo calls of the -s payload: it does not take -method or -args")
	}
	if _, err := parseRates(c.Rate); err != nil {
		return err
	}
	_, err := c.callArgs()
	return err
}

// callArgs returns the arguments of each call: -args, or the payload.
func (c Config) callArgs() ([]any, error) {
	if c.Args == "" {
		return []any{makePayload(c.Size)}, nil
	}
	v, err := jsonmsg.Parse(c.Args)
	args, ok := v.([]any)
	if err != nil || !ok {
		return nil, fmt.Errorf("-args %s: want JSON values (jsonmsg notation, as examples/call), or one JSON array of them: %v", c.Args, err)
	}
	return args, nil
}

// requestBytes is the size of a request datagram calling method with args.
func requestBytes(method string, args []any) int {
	b, err := msgpack.Marshal([]any{method, args})
	if err != nil {
		return 0
	}
	return wire.HeaderLen + len(b)
}

// run benchmarks the server the configuration names (and with -raw the
// plain UDP baseline), once or for each rate of a sweep, writes the report
// to stdout (and -html's file) and progress to stderr, and returns the
// results. It returns an error only when the run could not be set up (or
// the report not written); calls that fail are counted in the result.
func run(ctx context.Context, cfg Config, stdout, stderr io.Writer) (Result, error) {
	if err := cfg.validate(); err != nil {
		return Result{}, err
	}
	if cfg.JSON {
		cfg.Progress = ProgressNone
	}
	rates, _ := parseRates(cfg.Rate)
	args, _ := cfg.callArgs()
	res := Result{Config: cfg.info(rates, requestBytes(cfg.method(), args))}
	if len(rates) == 0 {
		rates = []float64{0} // closed loop
	}
	for i, rate := range rates {
		if i > 0 && ctx.Err() != nil {
			break
		}
		st, err := runStep(ctx, cfg, rate, args, &res, stdout, stderr)
		if err != nil {
			return Result{}, err
		}
		res.Sweep = append(res.Sweep, st)
	}
	if len(res.Sweep) == 1 && len(rates) == 1 {
		res.RPC, res.Raw, res.Ratio, res.Sweep = res.Sweep[0].RPC, res.Sweep[0].Raw, res.Sweep[0].Ratio, nil
	}
	res.Interrupted = ctx.Err() != nil
	res.Warnings = warnings(res)
	return res, writeOutputs(cfg, res, stdout)
}

// runStep runs the load at one rate (0: closed loop): rpc, then raw.
// The first step fills in the target and prints the header.
func runStep(ctx context.Context, cfg Config, rate float64, args []any, res *Result, stdout, stderr io.Writer) (Step, error) {
	rig, err := setupRPC(ctx, cfg, args)
	if err != nil {
		return Step{}, err
	}
	if err := rig.preflight(ctx, cfg); err != nil {
		rig.close()
		return Step{}, err
	}
	if res.Target == "" {
		res.Target, res.InProcess = rig.target.String(), rig.server != nil
		if !cfg.JSON {
			writeHeader(stdout, cfg, *res)
		}
	}
	st := Step{Rate: rate, RPC: rig.bench(ctx, cfg, rate, stderr)}
	if cfg.Raw && ctx.Err() == nil {
		raw, err := runRaw(ctx, cfg, rate, makePayload(cfg.Size), stderr)
		if err != nil {
			return Step{}, err
		}
		st.Raw = raw
		st.Ratio = &Ratio{
			Throughput: ratio(st.RPC.Throughput, raw.Throughput),
			P50:        ratio(float64(st.RPC.Latency.P50), float64(raw.Latency.P50)),
			P99:        ratio(float64(st.RPC.Latency.P99), float64(raw.Latency.P99)),
		}
	}
	return st, nil
}

// writeOutputs writes the report as text or JSON on stdout, and as HTML
// to -html's file.
func writeOutputs(cfg Config, res Result, stdout io.Writer) error {
	var err error
	switch {
	case cfg.JSON:
		err = writeJSON(stdout, res)
	case len(res.Sweep) > 0:
		err = writeSweep(stdout, res)
	default:
		err = writeReport(stdout, res)
	}
	if err != nil || cfg.HTML == "" {
		return err
	}
	if err := writeFileHTML(cfg.HTML, []namedResult{{Res: res}}, nil); err != nil {
		return fmt.Errorf("-html: %w", err)
	}
	return nil
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// makePayload returns size bytes of a fixed pattern.
func makePayload(size int) []byte {
	p := make([]byte, size)
	for i := range p {
		p[i] = byte(i*7 + 13)
	}
	return p
}
