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

// MaxValueSize is the largest value, in bytes of its msgpack encoding
// (Value.Len), that fits a store request: rpcudp (like Python's) refuses
// request bodies over rpcudp.MaxBody bytes, and [method, [sender, key,
// value]] takes 52 bytes besides the value.
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

// Config configures a Node. The zero value is usable: every zero field
// takes the default given in its comment. Negative numbers (but NoLimit
// where a field allows it) and numbers beyond a field's range (K at most
// maxK, Alpha at most maxAlpha, B at most 160, MaxFailures at most 1000,
// timeouts at most an hour) are an error.
type Config struct {
	// K is the bucket size and the number of nodes a key is stored at
	// (default 20).
	K int
	// Alpha is the number of RPCs a lookup keeps in flight (default 3).
	Alpha int
	// B is the bucket split depth modulus of the paper's section 4.2
	// (default 5, as Python's kademlia).
	B int
	// ID is the node's id; the zero ID means a random one.
	ID ID
	// Storage holds the values this node stores. nil means a
	// memoryStorage with default bounds, created and closed by the node; a
	// Storage given here is not closed by Node.Close.
	Storage Storage
	// Logger receives the node's logs; nil discards them.
	Logger *slog.Logger
	// RPCTimeout is how long an RPC waits for its answer (default 5 s, as
	// Python's).
	RPCTimeout time.Duration
	// QueryTimeout is how long a lookup waits for one peer's find_node or
	// find_value answer (default 1 s, never more than RPCTimeout). A lookup
	// converges only when the K closest candidates have answered or
	// failed, so a dead contact among them would otherwise hold every
	// lookup for a full RPCTimeout.
	QueryTimeout time.Duration
	// RefreshInterval (default 1 h): buckets untouched for that long are
	// refreshed with a lookup of a random id in their range, and keys held
	// and last published longer ago than that are republished (without
	// extending their expiry here).
	RefreshInterval time.Duration
	// OriginalRepublishInterval (default 24 h): how often the node sets
	// again the keys it originally published with Set or SetDigest.
	OriginalRepublishInterval time.Duration
	// MaxFailures is how many consecutive failed RPCs remove a contact from
	// the routing table (default 5; Python removes after one).
	MaxFailures int
	// RevalidateInterval (default 10 min): a contact that has not answered
	// one of our RPCs for that long is pinged, and dropped if it stays
	// silent (see revalidate.go); contacts that only sent us requests are
	// pinged a few seconds after they arrive and handed out only once
	// they answer.
	RevalidateInterval time.Duration
	// IPLimits bounds the routing table's contacts per IP network (default:
	// 2 per /24 or IPv6 /32 per bucket, 10 per table, loopback exempt).
	IPLimits IPLimits
	// RPCOptions are extra options for the node's rpcudp endpoint (for
	// example rpcudp.WithRetry). They are applied after the node's own, so
	// they win: RPCTimeout, Logger and a retry policy that sends a request
	// unanswered after 400 ms again (same message id), then after 800 ms,
	// 1.6 s, 2 s..., until the call's deadline. Every Kademlia RPC is
	// idempotent, so retrying is safe with Python peers too, and it keeps
	// one lost datagram from costing a lookup a whole QueryTimeout. Turn
	// it off with rpcudp.WithRetry(rpcudp.RetryPolicy{}).
	RPCOptions []rpcudp.Option
	// OnLookup, if set, is called after every iterative lookup with its
	// statistics, on the goroutine that ran the lookup. It must not block
	// for long.
	OnLookup func(LookupStats)
	// Now is the node's clock (default time.Now). It drives the routing
	// table, lookup durations, the hand-off and reply budgets and, when the
	// node creates its storage, the storage's expiry.
	Now func() time.Time

	// HandOffKeys bounds the keys handed to one newly seen contact
	// (default 64; NoLimit for none). The hourly republish stores the keys
	// left out.
	HandOffKeys int
	// HandOffBytesPerSecond bounds the bytes of store requests that
	// handing keys to newcomers sends, all newcomers together: a token
	// bucket holding one second's worth, at least one largest store
	// (default 64 KiB/s; NoLimit for none). Keys over budget are left to
	// the hourly republish. A newcomer is handed keys only after it
	// answers a ping from the address it claims.
	HandOffBytesPerSecond int
	// ReplyBytesPerSecond is each source IP address's budget of reply
	// bytes (default 64 KiB/s; NoLimit for none): a request whose answer
	// does not fit its source's token bucket gets no answer at all, and is
	// counted (Metrics, and the endpoint's Stats.Drops.RateLimited). It
	// keeps a node from being aimed at a victim by requests that claim
	// its address. Loopback sources, which cannot be spoofed from afar,
	// are exempt.
	ReplyBytesPerSecond int
	// ReplyBurst is the size of each source's bucket (default 256 KiB,
	// never less than one largest datagram).
	ReplyBurst int
	// ReplySources bounds the source addresses whose budgets are tracked
	// (default 4096, at most 1<<20); beyond that, sources idle longest are
	// forgotten.
	ReplySources int

	// Validators check the values of their namespace (see Validator and
	// EnvelopeValue) at every store and lookup. They are added to the
	// default, RecordNamespace's signed records; a nil entry removes a
	// namespace (the default's too: its records are then plain values).
	// A namespace is 1 to 32 printable ASCII characters (else
	// ErrBadConfig).
	Validators map[string]Validator
	// Quorum is how many copies of the newest record GetRecord collects
	// (default defaultQuorum, 3; at most maxK): its lookup ends early only
	// once that many holders answered the newest valid record seen and
	// the 2*Quorum candidates closest to the key have answered; otherwise
	// it runs until it converges. GetOptions.Quorum overrides it for one
	// call.
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
	// Kind is "node" (find_node lookup) or "value" (find_value lookup).
	Kind string
	// Target is the id or key digest looked up.
	Target ID
	// RPCs is the number of find_node / find_value requests sent.
	RPCs int
	// Hops is the longest chain of responses that led to the result: a
	// contact given by the seed contacts (from our own table) is one hop
	// away once it answers, one it named two hops, and so on. For a value
	// found it is the chain to the node that answered the value; otherwise
	// the longest chain to any of the closest nodes that answered.
	Hops int
	// Found reports, for a value lookup, that a value was found; for a
	// node lookup, that the node with id Target itself answered.
	Found bool
	// Invalid counts, for a value lookup, the copies its validator
	// refused (forged, truncated, at the wrong key); Stale the valid ones
	// older than (or other than) the copy chosen. Holders of both are
	// written the chosen copy (read repair).
	Invalid, Stale int
	// Duration is how long the lookup took (by Config.Now).
	Duration time.Duration
}
