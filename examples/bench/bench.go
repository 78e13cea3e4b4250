package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/rpcudp/go-rpcudp/rpcudp"
)

// echoMethod is the method the benchmark calls.
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

	progressEvery time.Duration // overrides the progress interval (tests)
	termWidth     int           // the terminal's width, for the bar; 0: unknown
}

// DefaultConfig returns the flags' defaults.
func DefaultConfig() Config {
	return Config{N: 20000, Concurrency: 32, Size: 32, Timeout: time.Second, Seed: 1}
}

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
	}
	return nil
}

// Result is everything a run measured; -json prints it as it is.
type Result struct {
	Target      string     `json:"target"`     // the echo server called
	InProcess   bool       `json:"in_process"` // whether the server ran in this process
	Config      ConfigInfo `json:"config"`
	RPC         *RunResult `json:"rpc"`
	Raw         *RunResult `json:"raw,omitempty"`          // with -raw
	Ratio       *Ratio     `json:"rpc_over_raw,omitempty"` // with -raw
	Interrupted bool       `json:"interrupted,omitempty"`  // stopped early by a signal
}

// ConfigInfo records the run's settings and the machine it ran on.
type ConfigInfo struct {
	Calls       int     `json:"n,omitempty"` // 0 when the run was timed (-d)
	DurationS   float64 `json:"duration_s,omitempty"`
	Concurrency int     `json:"concurrency"`
	Size        int     `json:"size"`
	TimeoutS    float64 `json:"timeout_s"`
	RetryS      float64 `json:"retry_s"` // 0: no retries
	Loss        float64 `json:"loss"`
	Seed        uint64  `json:"seed"`
	IPv6        bool    `json:"ipv6"`
	GoVersion   string  `json:"go_version"`
	GOMAXPROCS  int     `json:"gomaxprocs"`
	NumCPU      int     `json:"num_cpu"`
}

func (c Config) info() ConfigInfo {
	ci := ConfigInfo{
		Concurrency: c.Concurrency, Size: c.Size,
		TimeoutS: c.Timeout.Seconds(), RetryS: c.Retry.Seconds(),
		Loss: c.Loss, Seed: c.Seed, IPv6: c.IPv6,
		GoVersion: runtime.Version(), GOMAXPROCS: runtime.GOMAXPROCS(0), NumCPU: runtime.NumCPU(),
	}
	if c.Duration > 0 {
		ci.DurationS = c.Duration.Seconds()
	} else {
		ci.Calls = c.N
	}
	return ci
}

// RunResult is one mode's measurements (rpc or raw).
type RunResult struct {
	Mode       string        `json:"mode"`
	Calls      uint64        `json:"calls"`    // calls completed, whatever their outcome
	OK         uint64        `json:"ok"`       // calls answered with the payload
	Timeouts   uint64        `json:"timeouts"` // calls that got no answer in time
	Errors     uint64        `json:"errors"`   // calls that failed otherwise
	FirstError string        `json:"first_error,omitempty"`
	Dropped    Losses        `json:"dropped"` // datagrams dropped on purpose (-loss)
	Elapsed    time.Duration `json:"-"`
	ElapsedS   float64       `json:"elapsed_s"`
	Throughput float64       `json:"throughput"` // ok calls per second
	Latency    Latency       `json:"latency_us"` // of the ok calls

	// Summary counters, for both modes: requests resent by the retry
	// policy, and inbound datagrams dropped by the client and the server
	// (late replies to calls already over, malformed, overload, ...).
	Retransmits uint64 `json:"retransmits"`
	ClientDrops uint64 `json:"client_drops"`
	ServerDrops uint64 `json:"server_drops"`

	// Detail: the rpcudp endpoints' Stats (rpc mode; server only when it
	// ran in-process), or the raw echo's counters (raw mode).
	ClientStats *EndpointStats `json:"client_stats,omitempty"`
	ServerStats *EndpointStats `json:"server_stats,omitempty"`
	RawStats    *RawStats      `json:"raw_stats,omitempty"`
}

// Latency summarizes the HDR histogram of the ok calls' round trips, in
// microseconds (3 significant figures).
type Latency struct {
	Min  int64   `json:"min"`
	Mean float64 `json:"mean"`
	P50  int64   `json:"p50"`
	P90  int64   `json:"p90"`
	P99  int64   `json:"p99"`
	P999 int64   `json:"p99_9"`
	Max  int64   `json:"max"`
}

// Ratio compares the rpc run to the raw one: throughput and latency,
// rpc divided by raw.
type Ratio struct {
	Throughput float64 `json:"throughput"`
	P50        float64 `json:"p50"`
	P99        float64 `json:"p99"`
}

// EndpointStats is the part of an rpcudp endpoint's Stats that the run
// moved (counted from after the preflight call to the end).
type EndpointStats struct {
	DatagramsIn   uint64    `json:"datagrams_in"`
	DatagramsOut  uint64    `json:"datagrams_out"`
	SendErrors    uint64    `json:"send_errors"`
	CallsOK       uint64    `json:"calls_ok"`
	CallsTimedOut uint64    `json:"calls_timed_out"`
	CallsFailed   uint64    `json:"calls_failed"`
	Retransmits   uint64    `json:"retransmits"`
	Requests      uint64    `json:"requests"`
	CacheHits     uint64    `json:"cache_hits"`
	ErrorReplies  uint64    `json:"error_replies"`
	Drops         DropStats `json:"drops"`
}

// DropStats is rpcudp.Drops with a total.
type DropStats struct {
	Total       uint64 `json:"total"`
	Malformed   uint64 `json:"malformed"`
	Oversize    uint64 `json:"oversize"`
	UnknownID   uint64 `json:"unknown_id"`
	WrongSender uint64 `json:"wrong_sender"`
	Overload    uint64 `json:"overload"`
	RateLimited uint64 `json:"rate_limited"`
	Duplicate   uint64 `json:"duplicate"`
}

func statsDelta(a, b rpcudp.Stats) *EndpointStats {
	d := DropStats{
		Malformed:   b.Drops.Malformed - a.Drops.Malformed,
		Oversize:    b.Drops.Oversize - a.Drops.Oversize,
		UnknownID:   b.Drops.UnknownID - a.Drops.UnknownID,
		WrongSender: b.Drops.WrongSender - a.Drops.WrongSender,
		Overload:    b.Drops.Overload - a.Drops.Overload,
		RateLimited: b.Drops.RateLimited - a.Drops.RateLimited,
		Duplicate:   b.Drops.Duplicate - a.Drops.Duplicate,
	}
	d.Total = d.Malformed + d.Oversize + d.UnknownID + d.WrongSender + d.Overload + d.RateLimited + d.Duplicate
	return &EndpointStats{
		DatagramsIn:   b.DatagramsIn - a.DatagramsIn,
		DatagramsOut:  b.DatagramsOut - a.DatagramsOut,
		SendErrors:    b.SendErrors - a.SendErrors,
		CallsOK:       b.CallsOK - a.CallsOK,
		CallsTimedOut: b.CallsTimedOut - a.CallsTimedOut,
		CallsFailed:   b.CallsFailed - a.CallsFailed,
		Retransmits:   b.Retransmits - a.Retransmits,
		Requests:      b.Requests - a.Requests,
		CacheHits:     b.CacheHits - a.CacheHits,
		ErrorReplies:  b.ErrorReplies - a.ErrorReplies,
		Drops:         d,
	}
}

// run benchmarks the echo server the configuration names (and with -raw
// the plain UDP baseline), writes the report to stdout and progress to
// stderr, and returns the results. It returns an error only when the run
// could not be set up (or the report not written); calls that fail are
// counted in the result.
func run(ctx context.Context, cfg Config, stdout, stderr io.Writer) (Result, error) {
	if err := cfg.validate(); err != nil {
		return Result{}, err
	}
	if cfg.JSON {
		cfg.Progress = ProgressNone
	}
	payload := makePayload(cfg.Size)

	rig, err := setupRPC(ctx, cfg, payload)
	if err != nil {
		return Result{}, err
	}
	if err := rig.preflight(ctx, cfg); err != nil {
		rig.close()
		return Result{}, err
	}
	res := Result{Target: rig.target.String(), InProcess: rig.server != nil, Config: cfg.info()}
	if !cfg.JSON {
		writeHeader(stdout, cfg, res)
	}
	res.RPC = rig.bench(ctx, cfg, stderr)

	if cfg.Raw && ctx.Err() == nil {
		raw, err := runRaw(ctx, cfg, payload, stderr)
		if err != nil {
			return Result{}, err
		}
		res.Raw = raw
		res.Ratio = &Ratio{
			Throughput: ratio(res.RPC.Throughput, raw.Throughput),
			P50:        ratio(float64(res.RPC.Latency.P50), float64(raw.Latency.P50)),
			P99:        ratio(float64(res.RPC.Latency.P99), float64(raw.Latency.P99)),
		}
	}
	res.Interrupted = ctx.Err() != nil
	if cfg.JSON {
		err = writeJSON(stdout, res)
	} else {
		err = writeReport(stdout, res)
	}
	return res, err
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

// rpcRig is the rpc mode's setup: one client endpoint and, unless -addr
// was given, the echo server it calls.
type rpcRig struct {
	client  *rpcudp.Endpoint
	server  *rpcudp.Endpoint // nil with -addr
	target  netip.AddrPort
	loss    lossPlan
	payload []byte
	want    []byte // the payload's msgpack encoding: the expected reply
}

// loopback returns the in-process server's address (port 0).
func loopback(ipv6 bool) netip.AddrPort {
	if ipv6 {
		return netip.AddrPortFrom(netip.IPv6Loopback(), 0)
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 0)
}

// listenUDP opens a UDP socket on addr, of addr's family.
func listenUDP(addr netip.AddrPort) (*net.UDPConn, error) {
	network := "udp4"
	if addr.Addr().Is6() {
		network = "udp6"
	}
	c, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	return c, nil
}

// resolveTarget parses -addr: a literal ip:port, or a name resolved to an
// IPv4 address (IPv6 with -6).
func resolveTarget(addr string, ipv6 bool) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		if ap.Port() == 0 {
			return netip.AddrPort{}, fmt.Errorf("-addr %s: port 0", addr)
		}
		return ap, nil
	}
	network := "udp4"
	if ipv6 {
		network = "udp6"
	}
	ua, err := net.ResolveUDPAddr(network, addr)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("-addr: %w", err)
	}
	ap := ua.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

func setupRPC(ctx context.Context, cfg Config, payload []byte) (*rpcRig, error) {
	want, err := msgpack.Marshal(payload)
	if err != nil {
		return nil, err
	}
	r := &rpcRig{payload: payload, want: want}
	var local netip.AddrPort
	if cfg.Addr == "" {
		r.loss = newLossPlan(cfg, true)
		sconn, err := listenUDP(loopback(cfg.IPv6))
		if err != nil {
			return nil, fmt.Errorf("echo server: %w", err)
		}
		// Enough handler slots that the harness's own server never drops
		// a request for overload.
		r.server = rpcudp.New(withLoss(sconn, nil, r.loss.serverOut),
			rpcudp.WithHandlerSlots(max(rpcudp.DefaultHandlerSlots, 2*cfg.Concurrency)))
		err = r.server.Handle(echoMethod, rpcudp.Func1(
			func(_ context.Context, _ netip.AddrPort, b []byte) ([]byte, error) { return b, nil }))
		if err != nil {
			r.close()
			return nil, err
		}
		r.target = r.server.LocalAddr()
		local = loopback(cfg.IPv6)
	} else {
		r.loss = newLossPlan(cfg, false)
		t, err := resolveTarget(cfg.Addr, cfg.IPv6)
		if err != nil {
			return nil, err
		}
		r.target = t
		if t.Addr().Is4() {
			local = netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
		} else {
			local = netip.AddrPortFrom(netip.IPv6Unspecified(), 0)
		}
	}
	cconn, err := listenUDP(local)
	if err != nil {
		r.close()
		return nil, fmt.Errorf("client: %w", err)
	}
	opts := []rpcudp.Option{rpcudp.WithTimeout(cfg.Timeout)}
	if cfg.Retry > 0 {
		opts = append(opts, rpcudp.WithRetry(rpcudp.RetryPolicy{Initial: cfg.Retry}))
	}
	r.client = rpcudp.New(withLoss(cconn, r.loss.clientIn, r.loss.clientOut), opts...)
	return r, nil
}

func (r *rpcRig) close() {
	if r.client != nil {
		r.client.Close()
	}
	if r.server != nil {
		r.server.Close()
	}
}

// errMismatch: the echo came back, but not with the payload sent.
var errMismatch = errors.New("echo reply does not match the payload")

// check verifies an echo reply. It is compared with the payload's msgpack
// encoding as it is, without decoding; a server that encodes the payload
// differently (a str instead of a bin, say) is checked by decoding.
func (r *rpcRig) check(reply rpcudp.Reply) error {
	if bytes.Equal(reply, r.want) {
		return nil
	}
	var got []byte
	if err := reply.Decode(&got); err != nil || !bytes.Equal(got, r.payload) {
		return errMismatch
	}
	return nil
}

// preflight makes one call before the load, so that a server that does
// not answer, or does not serve echo, or a payload it refuses, is a setup
// error rather than a run of failures. Timeouts are retried a few times
// (more under -loss).
func (r *rpcRig) preflight(ctx context.Context, cfg Config) error {
	attempts := 3
	if cfg.Loss > 0 {
		attempts = 10
	}
	var err error
	for range attempts {
		var reply rpcudp.Reply
		reply, err = r.client.Call(ctx, r.target, echoMethod, r.payload)
		if err == nil {
			err = r.check(reply)
		}
		if err == nil || !errors.Is(err, rpcudp.ErrTimeout) {
			break
		}
	}
	switch {
	case errors.Is(err, rpcudp.ErrTimeout):
		return fmt.Errorf("preflight call of %s on %s got no answer (is an rpcudp server serving %s there?): %w", echoMethod, r.target, echoMethod, err)
	case err != nil:
		return fmt.Errorf("preflight call of %s on %s: %w", echoMethod, r.target, err)
	}
	return nil
}

// bench runs the rpc load, closes the endpoints and collects the results.
// The endpoints' counters and the losses are counted from after the
// preflight call.
func (r *rpcRig) bench(ctx context.Context, cfg Config, stderr io.Writer) *RunResult {
	lossBefore := r.loss.count()
	clientBefore := r.client.Stats()
	var serverBefore rpcudp.Stats
	if r.server != nil {
		serverBefore = r.server.Stats()
	}

	workers := make([]callFunc, cfg.Concurrency)
	for i := range workers {
		args := []any{r.payload} // boxed once, not per call
		workers[i] = func(ctx context.Context) (outcome, error) {
			reply, err := r.client.Call(ctx, r.target, echoMethod, args...)
			switch {
			case errors.Is(err, rpcudp.ErrTimeout):
				return outcomeTimeout, err
			case err != nil:
				return outcomeError, err
			}
			if err := r.check(reply); err != nil {
				return outcomeError, err
			}
			return outcomeOK, nil
		}
	}
	res := drive(ctx, cfg, "rpc", workers, stderr)
	// Closed endpoints count nothing more: a reply sent but not yet
	// counted by the server when the last call returned is in.
	r.close()
	res.Dropped = r.loss.count().sub(lossBefore)
	res.ClientStats = statsDelta(clientBefore, r.client.Stats())
	res.Retransmits = res.ClientStats.Retransmits
	res.ClientDrops = res.ClientStats.Drops.Total
	if r.server != nil {
		res.ServerStats = statsDelta(serverBefore, r.server.Stats())
		res.ServerDrops = res.ServerStats.Drops.Total
	}
	return res
}
