package main

import (
	"runtime"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
)

// Result is everything a run measured; -json prints it as it is.
type Result struct {
	Target      string     `json:"target"`     // the server called
	InProcess   bool       `json:"in_process"` // whether the server ran in this process
	Config      ConfigInfo `json:"config"`
	RPC         *RunResult `json:"rpc"`
	Raw         *RunResult `json:"raw,omitempty"`          // with -raw
	Ratio       *Ratio     `json:"rpc_over_raw,omitempty"` // with -raw
	Sweep       []Step     `json:"sweep,omitempty"`        // with several -rate: one step per rate (rpc is then null)
	Interrupted bool       `json:"interrupted,omitempty"`  // stopped early by a signal
	Warnings    []string   `json:"warnings,omitempty"`     // why the numbers may not be the server's
}

// Step is one rate of a -rate sweep.
type Step struct {
	Rate  float64    `json:"rate"` // calls per second scheduled
	RPC   *RunResult `json:"rpc"`
	Raw   *RunResult `json:"raw,omitempty"`
	Ratio *Ratio     `json:"rpc_over_raw,omitempty"`
}

// steps returns the result's steps: the sweep's, or the one run as a
// step of its own (rate 0 when closed-loop).
func (r Result) steps() []Step {
	if len(r.Sweep) > 0 {
		return r.Sweep
	}
	if r.RPC == nil {
		return nil
	}
	return []Step{{Rate: r.Config.Rate, RPC: r.RPC, Raw: r.Raw, Ratio: r.Ratio}}
}

// ConfigInfo records the run's settings and the machine it ran on.
type ConfigInfo struct {
	Calls        int       `json:"n,omitempty"` // 0 when the run was timed (-d)
	DurationS    float64   `json:"duration_s,omitempty"`
	Load         string    `json:"load"`            // "closed" (-c calls in flight) or "open" (-rate)
	Rate         float64   `json:"rate,omitempty"`  // open loop: calls per second scheduled
	Rates        []float64 `json:"rates,omitempty"` // a sweep's rates
	Concurrency  int       `json:"concurrency"`
	Method       string    `json:"method"`
	Args         string    `json:"args,omitempty"` // -args as a JSON array; "": the echo payload
	Size         int       `json:"size"`           // echo payload bytes (-s)
	RequestBytes int       `json:"request_bytes"`  // a request datagram, header included
	TimeoutS     float64   `json:"timeout_s"`
	RetryS       float64   `json:"retry_s"` // 0: no retries
	Loss         float64   `json:"loss"`
	Seed         uint64    `json:"seed"`
	IPv6         bool      `json:"ipv6"`
	Machine
}

// Machine is what the numbers depend on besides the settings.
type Machine struct {
	GoVersion  string `json:"go_version"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	NumCPU     int    `json:"num_cpu"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	CPUModel   string `json:"cpu_model,omitempty"`
}

func machine() Machine {
	return Machine{
		GoVersion: runtime.Version(), GOMAXPROCS: runtime.GOMAXPROCS(0), NumCPU: runtime.NumCPU(),
		OS: runtime.GOOS, Arch: runtime.GOARCH, CPUModel: cpuModel(),
	}
}

func (c Config) info(rates []float64, requestBytes int) ConfigInfo {
	ci := ConfigInfo{
		Load: "closed", Concurrency: c.Concurrency, Method: c.method(), Args: c.Args,
		Size: c.Size, RequestBytes: requestBytes,
		TimeoutS: c.Timeout.Seconds(), RetryS: c.Retry.Seconds(),
		Loss: c.Loss, Seed: c.Seed, IPv6: c.IPv6, Machine: machine(),
	}
	switch {
	case len(rates) == 1:
		ci.Load, ci.Rate = "open", rates[0]
	case len(rates) > 1:
		ci.Load, ci.Rates = "open", rates
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

	// Open loop (-rate): the calls scheduled, and those sent more than
	// lateSlack after their scheduled time (every -c slot busy, or the
	// client itself too slow); their latencies count from the schedule.
	Rate      float64 `json:"rate,omitempty"`
	Scheduled uint64  `json:"scheduled,omitempty"`
	Late      uint64  `json:"late,omitempty"`
	HeldBack  uint64  `json:"held_back,omitempty"` // of the late: every -c slot was busy at the scheduled time
	MaxLagUs  int64   `json:"max_send_lag_us,omitempty"`

	// ClientCPU is the process's CPU time (user and system) over the
	// wall time of the run, as a share of GOMAXPROCS: near 1, the client
	// (with an in-process server, the client and the server) had no CPU
	// to spare. 0 when unknown.
	ClientCPU float64 `json:"client_cpu"`

	// Percentiles is the latency distribution for the HDR percentile
	// plot: the latency at percentiles 0, 90, 99, 99.9, ... with 10
	// points a decade of 1/(1-p), up to 99.999.
	Percentiles []PercentilePoint `json:"percentiles,omitempty"`
	// OverTime is the throughput and p99 latency over the run.
	OverTime *Series `json:"over_time,omitempty"`
}

// PercentilePoint is one point of the latency distribution.
type PercentilePoint struct {
	Percentile float64 `json:"p"`
	Micros     int64   `json:"us"`
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
	// The socket buffers granted, as the kernel reports them (Linux:
	// twice the size granted); 0 when unknown.
	RecvBuffer int `json:"recv_buffer"`
	SendBuffer int `json:"send_buffer"`
}

// DropStats is rpcudp.Stats.Drops with a total.
type DropStats struct {
	Total       uint64 `json:"total"`
	Malformed   uint64 `json:"malformed"`
	Oversize    uint64 `json:"oversize"`
	UnknownID   uint64 `json:"unknown_id"`
	WrongSender uint64 `json:"wrong_sender"`
	Overload    uint64 `json:"overload"`
	RateLimited uint64 `json:"rate_limited"`
	Duplicate   uint64 `json:"duplicate"`
	Kernel      uint64 `json:"kernel"` // the socket's receive buffer was full (Linux)
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
		Kernel:      b.Drops.Kernel - a.Drops.Kernel,
	}
	d.Total = d.Malformed + d.Oversize + d.UnknownID + d.WrongSender + d.Overload + d.RateLimited + d.Duplicate + d.Kernel
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
		RecvBuffer:    b.RecvBuffer,
		SendBuffer:    b.SendBuffer,
	}
}
