package kademlia

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
)

// Defaults of the Node's Config, used for zero fields.
const (
	// defaultQuorum is how many valid copies a GetRecord collects by
	// default (Config.Quorum).
	defaultQuorum = 3
	// defaultAlpha is the number of RPCs a lookup keeps in flight (the
	// paper's and Python's alpha).
	defaultAlpha = 3
	// defaultRPCTimeout is how long an RPC waits for its answer, as in
	// Python's rpcudp.
	defaultRPCTimeout = 5 * time.Second
	// defaultQueryTimeout is how long a lookup waits for one peer.
	defaultQueryTimeout = time.Second
	// defaultRetryInitial and defaultRetryMax are the node's RPC retry
	// policy unless Config.RPCOptions says otherwise: a request unanswered
	// after 400 ms is sent again (same message id), then after 800 ms,
	// 1.6 s, 2 s..., until the call's deadline. Every Kademlia RPC is
	// idempotent, so this is safe with Python peers too (which run a
	// repeated request again, where Go peers answer it from their reply
	// cache), and it keeps one lost datagram from costing a lookup a whole
	// QueryTimeout. Turn it off with
	// RPCOptions: []rpcudp.Option{rpcudp.WithRetry(rpcudp.RetryPolicy{})}.
	defaultRetryInitial = 400 * time.Millisecond
	defaultRetryMax     = 2 * time.Second
	// defaultRefreshInterval is how often lonely buckets are refreshed and
	// held keys republished (Python's hourly _refresh_table).
	defaultRefreshInterval = time.Hour
	// defaultOriginalRepublishInterval is how often the original publisher
	// of a key sets it again (the paper's 24 hours).
	defaultOriginalRepublishInterval = 24 * time.Hour
)

// MaxValueSize (8140) is the largest value, in bytes of its msgpack
// encoding (Value.Len), that fits a store request (rpcudp.MaxBody less 52
// bytes of the request's other fields).
const MaxValueSize = rpcudp.MaxBody - 52

// maxBackground bounds the background tasks a Node runs at once: head
// pings asked for by the routing table, stores handing keys to newly seen
// nodes and caching stores after value lookups. A task offered while every
// slot is busy is dropped (the hourly republish makes up for a dropped
// hand-off; a dropped head ping is asked for again by the table later).
const maxBackground = 64

// Errors returned by Node methods (wrapped with detail; test with
// errors.Is).
var (
	// ErrNodeClosed: the node has been closed.
	ErrNodeClosed = errors.New("kademlia: node closed")
	// ErrNoPeers: the routing table is empty, or no peer answered.
	ErrNoPeers = errors.New("kademlia: no peers")
	// ErrStoreFailed: a Set reached peers but none of them stored the value.
	ErrStoreFailed = errors.New("kademlia: no peer stored the value")
)

// Config configures a Node. Zero fields take the defaults in their
// comments (NoLimit turns a budget off). Negative numbers and numbers past
// a field's range (K and Quorum 1024, Alpha 256, B 160, MaxFailures 1000,
// timeouts an hour) are an error wrapping ErrBadConfig.
type Config struct {
	// K is the bucket size and the number of copies of a key (default
	// 20), Alpha a lookup's RPCs in flight (default 3), B the paper's
	// bucket split depth modulus (default 5).
	K, Alpha, B int
	// ID is the node's id (zero: a random one); Logger gets its logs (nil
	// discards them). Storage holds its values (nil: in memory with
	// StorageConfig's defaults; one given here is not closed by Close).
	ID      ID
	Logger  *slog.Logger
	Storage Storage
	// RPCTimeout is how long an RPC waits for its answer (default 5 s, as
	// Python's), QueryTimeout how long a lookup waits for one peer
	// (default 1 s, at most RPCTimeout).
	RPCTimeout, QueryTimeout time.Duration
	// RefreshInterval (default 1 h) is when idle buckets are refreshed and
	// held keys republished, OriginalRepublishInterval (default 24 h) when
	// the node's own keys are set again.
	RefreshInterval, OriginalRepublishInterval time.Duration
	// MaxFailures consecutive failed RPCs remove a contact (default 5;
	// Python's 1); one silent for RevalidateInterval (default 10 min) is
	// pinged. IPLimits bounds the contacts per IP network.
	MaxFailures        int
	RevalidateInterval time.Duration
	IPLimits           IPLimits
	// RPCOptions are extra rpcudp options, applied after the node's own
	// (retries after 400 ms, doubling up to 2 s: every RPC is idempotent;
	// rpcudp.WithRetry(rpcudp.RetryPolicy{}) turns them off).
	RPCOptions []rpcudp.Option
	// OnLookup, if set, gets every lookup's statistics, on the lookup's
	// goroutine (do not block). Now is the clock (default time.Now).
	OnLookup func(LookupStats)
	Now      func() time.Time

	// HandOffKeys bounds the keys handed to one newcomer (default 64),
	// HandOffBytesPerSecond those stores' bytes, all newcomers together
	// (default 64 KiB/s); the republish stores the rest.
	HandOffKeys, HandOffBytesPerSecond int
	// ReplyBytesPerSecond is each source IP's budget of reply bytes
	// (default 64 KiB/s; loopback exempt): an answer over it is not sent.
	// ReplyBurst is its bucket (default 256 KiB); ReplySources bounds the
	// sources tracked (default 4096, at most 1<<20).
	ReplyBytesPerSecond, ReplyBurst, ReplySources int

	// Validators check the values of their namespace, besides the
	// default's (signed records); a nil entry removes a namespace.
	Validators map[string]Validator
	// Quorum is how many copies of the newest record GetRecord collects
	// (default 3; GetOptions.Quorum overrides it).
	Quorum int
}

// testHooks is implemented by the package's tests only (export_test.go).
type testHooks interface {
	// taskDone is called after each background task.
	taskDone(what string)
	// maintained is called after a maintenance pass ("refresh" or
	// "originals").
	maintained(kind string)
	// stateSaved is called after each regular state save.
	stateSaved(path string, err error)
	// ticks replaces the maintenance schedules (nil channels: the real
	// timers).
	ticks() (refresh, republish <-chan time.Time)
	// noProbe turns off the background probes of suspect contacts.
	noProbe() bool
}

// withDefaults validates cfg and fills in its zero fields.
func (cfg Config) withDefaults() (Config, error) {
	if err := cfg.checkRanges(); err != nil {
		return cfg, err
	}
	cfg.fillBudgets()
	if cfg.K == 0 {
		cfg.K = defaultK
	}
	if cfg.Alpha == 0 {
		cfg.Alpha = defaultAlpha
	}
	if cfg.B == 0 {
		cfg.B = defaultB
	}
	if cfg.MaxFailures == 0 {
		cfg.MaxFailures = defaultMaxFailures
	}
	if cfg.RPCTimeout == 0 {
		cfg.RPCTimeout = defaultRPCTimeout
	}
	if cfg.QueryTimeout == 0 {
		cfg.QueryTimeout = defaultQueryTimeout
	}
	cfg.QueryTimeout = min(cfg.QueryTimeout, cfg.RPCTimeout)
	if cfg.RefreshInterval == 0 {
		cfg.RefreshInterval = defaultRefreshInterval
	}
	if cfg.OriginalRepublishInterval == 0 {
		cfg.OriginalRepublishInterval = defaultOriginalRepublishInterval
	}
	if cfg.RevalidateInterval <= 0 {
		cfg.RevalidateInterval = defaultRevalidateInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ID.IsZero() {
		cfg.ID = RandomID()
	}
	if cfg.Quorum == 0 {
		cfg.Quorum = defaultQuorum
	}
	for ns := range cfg.Validators {
		if err := checkNamespace(ns); err != nil {
			return cfg, fmt.Errorf("%w: Config.Validators: %w", ErrBadConfig, err)
		}
	}
	return cfg, nil
}

// LookupStats describes one iterative lookup; Config.OnLookup receives it.
type LookupStats struct {
	// Kind is "node" (find_node) or "value" (find_value); RPCs counts the
	// requests; Hops the longest chain of answers to the result; Found: a
	// value was found (value lookup), or Target itself answered.
	Kind       string
	Target     ID
	RPCs, Hops int
	Found      bool
	// Invalid counts the copies their validator refused, Stale the valid
	// ones other than the copy chosen: their holders are repaired.
	Invalid, Stale int
	// Duration is how long the lookup took (by Config.Now).
	Duration time.Duration
}
