package kademlia

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
)

// Defaults of the Node's Config, used for zero fields.
const (
	// DefaultAlpha is the number of RPCs a lookup keeps in flight (the
	// paper's and Python's alpha).
	DefaultAlpha = 3
	// DefaultRPCTimeout is how long an RPC waits for its answer, as in
	// Python's rpcudp.
	DefaultRPCTimeout = 5 * time.Second
	// DefaultQueryTimeout is how long a lookup waits for one peer.
	DefaultQueryTimeout = time.Second
	// DefaultRetryInitial and DefaultRetryMax are the node's RPC retry
	// policy unless Config.RPCOptions says otherwise: a request unanswered
	// after 400 ms is sent again (same message id), then after 800 ms,
	// 1.6 s, 2 s..., until the call's deadline. Every Kademlia RPC is
	// idempotent, so this is safe with Python peers too (which run a
	// repeated request again, where Go peers answer it from their reply
	// cache), and it keeps one lost datagram from costing a lookup a whole
	// QueryTimeout. Turn it off with
	// RPCOptions: []rpcudp.Option{rpcudp.WithRetry(rpcudp.RetryPolicy{})}.
	DefaultRetryInitial = 400 * time.Millisecond
	DefaultRetryMax     = 2 * time.Second
	// DefaultRefreshInterval is how often lonely buckets are refreshed and
	// held keys republished (Python's hourly _refresh_table).
	DefaultRefreshInterval = time.Hour
	// DefaultOriginalRepublishInterval is how often the original publisher
	// of a key sets it again (the paper's 24 hours).
	DefaultOriginalRepublishInterval = 24 * time.Hour
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
	// ErrNotServing: the operation needs the network, but neither Listen
	// nor Serve has been called.
	ErrNotServing = errors.New("kademlia: node is not serving (call Listen or Serve first)")
	// ErrAlreadyServing: Listen or Serve was called a second time.
	ErrAlreadyServing = errors.New("kademlia: node is already serving")
	// ErrNoPeers: the routing table is empty, or no peer answered.
	ErrNoPeers = errors.New("kademlia: no peers")
	// ErrStoreFailed: a Set reached peers but none of them stored the value.
	ErrStoreFailed = errors.New("kademlia: no peer stored the value")
)

// Config configures a Node. The zero value is usable: every zero field
// takes the default given in its comment. Negative numbers are an error.
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
	// MemoryStorage with default bounds, created and closed by the node; a
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
	// RPCOptions are extra options for the node's rpcudp endpoint (for
	// example rpcudp.WithRetry). They are applied after the node's own
	// (timeout and logger), so they win.
	RPCOptions []rpcudp.Option
	// OnLookup, if set, is called after every iterative lookup with its
	// statistics, on the goroutine that ran the lookup. It must not block
	// for long.
	OnLookup func(LookupStats)
	// Now is the node's clock (default time.Now). It drives the routing
	// table, lookup durations and, when the node creates its storage, the
	// storage's expiry.
	Now func() time.Time
}

// withDefaults validates cfg and fills in its zero fields.
func (cfg Config) withDefaults() (Config, error) {
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"K", int64(cfg.K)}, {"Alpha", int64(cfg.Alpha)}, {"B", int64(cfg.B)},
		{"MaxFailures", int64(cfg.MaxFailures)}, {"RPCTimeout", int64(cfg.RPCTimeout)},
		{"QueryTimeout", int64(cfg.QueryTimeout)},
		{"RefreshInterval", int64(cfg.RefreshInterval)},
		{"OriginalRepublishInterval", int64(cfg.OriginalRepublishInterval)},
	} {
		if f.v < 0 {
			return cfg, fmt.Errorf("kademlia: Config.%s is negative (%d)", f.name, f.v)
		}
	}
	if cfg.K == 0 {
		cfg.K = DefaultK
	}
	if cfg.Alpha == 0 {
		cfg.Alpha = DefaultAlpha
	}
	if cfg.B == 0 {
		cfg.B = DefaultB
	}
	if cfg.MaxFailures == 0 {
		cfg.MaxFailures = DefaultMaxFailures
	}
	if cfg.RPCTimeout == 0 {
		cfg.RPCTimeout = DefaultRPCTimeout
	}
	if cfg.QueryTimeout == 0 {
		cfg.QueryTimeout = DefaultQueryTimeout
	}
	cfg.QueryTimeout = min(cfg.QueryTimeout, cfg.RPCTimeout)
	if cfg.RefreshInterval == 0 {
		cfg.RefreshInterval = DefaultRefreshInterval
	}
	if cfg.OriginalRepublishInterval == 0 {
		cfg.OriginalRepublishInterval = DefaultOriginalRepublishInterval
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
	// Duration is how long the lookup took (by Config.Now).
	Duration time.Duration
}

// Node is a Kademlia DHT node speaking the protocol of Python's kademlia
// 2.2.x over rpcudp. Create one with NewNode, start it with Listen (or
// Serve), join a network with Bootstrap, then Set and Get values. Close
// stops it. All methods are safe for concurrent use.
type Node struct {
	cfg        Config
	id         ID
	table      *Table
	storage    Storage
	ownStorage bool
	log        *slog.Logger

	// ctx is cancelled by Close; it bounds every background task and loop.
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex // guards the fields below
	ep       *rpcudp.Endpoint
	closed   bool
	closeErr error

	seenMu sync.Mutex // serialises IsNew+Seen so a newcomer is welcomed once
	// probeMu guards probing: the suspect contacts being probed.
	probeMu sync.Mutex
	probing map[ID]bool
	wg      sync.WaitGroup // every goroutine the node owns
	sem     chan struct{}  // background task slots

	queryOpts rpcudp.CallOptions // for a lookup's queries: Timeout QueryTimeout

	// Test hooks, set before Listen/Serve (nil in production).
	onCacheStore  func(to Contact, key ID, err error)
	onTask        func(what string) // after each background task
	onMaintained  func(kind string) // "refresh" or "originals", after the work
	onStateSaved  func(path string, err error)
	noProbe       bool // no background probes of suspect contacts
	tickRefresh   <-chan time.Time
	tickRepublish <-chan time.Time
}

// NewNode returns a node configured by cfg. It does not touch the network
// until Listen or Serve.
func NewNode(cfg Config) (*Node, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	n := &Node{
		cfg: cfg,
		id:  cfg.ID,
		log: cfg.Logger,
		sem: make(chan struct{}, maxBackground),

		queryOpts: rpcudp.CallOptions{Timeout: cfg.QueryTimeout},
	}
	n.table = NewTable(cfg.ID, TableConfig{K: cfg.K, B: cfg.B, MaxFailures: cfg.MaxFailures, Now: cfg.Now})
	n.storage = cfg.Storage
	if n.storage == nil {
		n.storage = NewMemoryStorage(StorageConfig{Now: cfg.Now})
		n.ownStorage = true
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	return n, nil
}

// ID returns the node's id.
func (n *Node) ID() ID { return n.id }

// Addr returns the address the node's socket is bound to (the zero
// AddrPort before Listen or Serve). A node bound to 0.0.0.0 reports that;
// Stun tells which address a peer sees.
func (n *Node) Addr() netip.AddrPort {
	if ep := n.Endpoint(); ep != nil {
		return ep.LocalAddr()
	}
	return netip.AddrPort{}
}

// Table returns the node's routing table.
func (n *Node) Table() *Table { return n.table }

// Storage returns the node's storage.
func (n *Node) Storage() Storage { return n.storage }

// Endpoint returns the node's rpcudp endpoint (nil before Listen or
// Serve), e.g. to read its Stats or serve extra methods.
func (n *Node) Endpoint() *rpcudp.Endpoint {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ep
}

// Listen opens a UDP socket on addr ("127.0.0.1:0", "[::1]:0",
// "0.0.0.0:8468", ...) and serves the DHT on it. It returns once the node
// is serving; Close stops it.
func (n *Node) Listen(ctx context.Context, addr string) error {
	if err := n.checkStartable(); err != nil {
		return err
	}
	var lc net.ListenConfig
	conn, err := lc.ListenPacket(ctx, "udp", addr)
	if err != nil {
		return fmt.Errorf("kademlia: listen %s: %w", addr, err)
	}
	if err := n.Serve(conn); err != nil {
		conn.Close()
		return err
	}
	return nil
}

// Serve serves the DHT on conn, which may be any net.PacketConn (a
// *net.UDPConn, a simnet conn, ...); the node owns conn from now on and
// closes it on Close. Serve returns once the node is serving.
func (n *Node) Serve(conn net.PacketConn) error {
	opts := append([]rpcudp.Option{rpcudp.WithTimeout(n.cfg.RPCTimeout), rpcudp.WithLogger(n.log),
		rpcudp.WithRetry(rpcudp.RetryPolicy{Initial: DefaultRetryInitial, Max: DefaultRetryMax})}, n.cfg.RPCOptions...)
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.closed:
		return ErrNodeClosed
	case n.ep != nil:
		return ErrAlreadyServing
	}
	ep := rpcudp.New(conn, opts...)
	if err := n.register(ep); err != nil {
		ep.Close()
		return err
	}
	n.ep = ep
	n.log.Info("kademlia: node serving", "id", n.id, "addr", ep.LocalAddr())
	n.startLoopsLocked()
	return nil
}

func (n *Node) checkStartable() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.closed:
		return ErrNodeClosed
	case n.ep != nil:
		return ErrAlreadyServing
	}
	return nil
}

// endpoint returns the endpoint, or an error if the node is not serving.
func (n *Node) endpoint() (*rpcudp.Endpoint, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.closed:
		return nil, ErrNodeClosed
	case n.ep == nil:
		return nil, ErrNotServing
	}
	return n.ep, nil
}

// goLoop runs fn on a goroutine owned by the node until Close; it reports
// false (and runs nothing) once the node is closed. The caller holds n.mu.
func (n *Node) goLoopLocked(fn func(ctx context.Context)) bool {
	if n.closed {
		return false
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		fn(n.ctx)
	}()
	return true
}

// spawn runs fn as a bounded background task owned by the node. It
// returns false, running nothing, when the node is closed or every slot is
// busy.
func (n *Node) spawn(what string, fn func(ctx context.Context)) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	select {
	case n.sem <- struct{}{}:
	default:
		n.log.Debug("kademlia: background task dropped: all slots busy", "task", what)
		return false
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer func() { <-n.sem }()
		fn(n.ctx)
		if n.onTask != nil {
			n.onTask(what)
		}
	}()
	return true
}

// opContext derives a context for a user operation that also ends when
// the node is closed.
func (n *Node) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(n.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}

// Close stops the maintenance loops and background tasks, closes the
// endpoint (and its socket) and, if the node created its storage, the
// storage. It waits for every goroutine the node started. Calling it again
// returns the first call's result.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return n.closeErr
	}
	n.closed = true
	ep := n.ep
	n.mu.Unlock()

	n.cancel()
	var errs []error
	if ep != nil {
		if err := ep.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	n.wg.Wait()
	if n.ownStorage {
		if err := n.storage.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	err := errors.Join(errs...)
	n.mu.Lock()
	n.closeErr = err
	n.mu.Unlock()
	n.log.Info("kademlia: node closed", "id", n.id)
	return err
}

// Bootstrap joins the network through the given addresses: it pings each
// of them (concurrently), adds those that answer to the routing table and
// then runs a node lookup of our own id, which fills the table with our
// neighbours. It returns the closest contacts that lookup found, or an
// error if none of the addresses answered. Our own address is skipped.
func (n *Node) Bootstrap(ctx context.Context, addrs []netip.AddrPort) ([]Contact, error) {
	ep, err := n.endpoint()
	if err != nil {
		return nil, err
	}
	ctx, cancel := n.opContext(ctx)
	defer cancel()
	self := ep.LocalAddr()
	seen := make(map[netip.AddrPort]bool, len(addrs))
	type answer struct {
		c   Contact
		err error
	}
	answers := make(chan answer, len(addrs))
	sent := 0
	for _, a := range addrs {
		a = normalizeAddrPort(a)
		if seen[a] || a == self || !a.IsValid() {
			continue
		}
		seen[a] = true
		sent++
		go func() {
			id, err := n.pingAddr(ctx, a)
			answers <- answer{Contact{ID: id, Addr: a}, err}
		}()
	}
	var alive []Contact
	var errs []error
	for range sent {
		a := <-answers
		if a.err != nil {
			errs = append(errs, a.err)
			continue
		}
		alive = append(alive, a.c)
	}
	if len(alive) == 0 {
		if ctx.Err() != nil || n.ctx.Err() != nil {
			return nil, n.ctxError(ctx, ctx.Err())
		}
		return nil, fmt.Errorf("%w: none of the %d bootstrap addresses answered: %w", ErrNoPeers, sent, errors.Join(errs...))
	}
	n.log.Info("kademlia: bootstrap peers answered", "alive", len(alive), "tried", sent)
	res, err := n.lookup(ctx, n.id, false)
	if err != nil {
		return nil, err
	}
	return res.closest, nil
}

// ctxError turns the end of an operation's context into the error to
// report: the node's closing, or the caller's context error.
func (n *Node) ctxError(ctx context.Context, err error) error {
	if n.ctx.Err() != nil {
		return ErrNodeClosed
	}
	if err == nil {
		err = ctx.Err()
	}
	return err
}

// Get returns the value stored under key, hashed with Digest as Python
// does. A value held locally is returned at once; otherwise a value lookup
// asks the network. found is false when no peer has it. The error wraps
// ErrNoPeers when there is nobody to ask (or nobody answered), and
// ErrKeyType for a key Digest cannot hash.
func (n *Node) Get(ctx context.Context, key any) (v Value, found bool, err error) {
	dkey, err := Digest(key)
	if err != nil {
		return Value{}, false, err
	}
	return n.GetDigest(ctx, dkey)
}

// GetDigest is Get for an already hashed key.
func (n *Node) GetDigest(ctx context.Context, key ID) (Value, bool, error) {
	if v, ok, err := n.storage.Get(key); err != nil || ok {
		return v, ok, err
	}
	if _, err := n.endpoint(); err != nil {
		return Value{}, false, err
	}
	if n.table.Len() == 0 {
		return Value{}, false, fmt.Errorf("%w: no known peers to get %s from", ErrNoPeers, key)
	}
	ctx, cancel := n.opContext(ctx)
	defer cancel()
	res, err := n.lookup(ctx, key, true)
	if err != nil {
		return Value{}, false, err
	}
	if res.found {
		return res.value, true, nil
	}
	if res.answered == 0 {
		return Value{}, false, fmt.Errorf("%w: no peer answered the lookup of %s", ErrNoPeers, key)
	}
	return Value{}, false, nil
}

// Set stores value under key (hashed with Digest as Python does) at the K
// nodes closest to it. value is a string, []byte, any Go integer, float64,
// float32, bool or a Value; any other type returns an error wrapping
// ErrValueType before anything is sent, and so does a value over
// MaxValueSize (wrapping rpcudp.ErrMessageTooLarge). The node also keeps the value
// itself, marked as its original, and sets it again every
// OriginalRepublishInterval. Set fails (wrapping ErrNoPeers) when no peer
// is known or none answered the lookup, and (wrapping ErrStoreFailed) when
// every store failed.
func (n *Node) Set(ctx context.Context, key any, value any) error {
	v, err := encodeSetValue(value)
	if err != nil {
		return err
	}
	dkey, err := Digest(key)
	if err != nil {
		return fmt.Errorf("kademlia: set: %w", err)
	}
	return n.setDigest(ctx, dkey, v, PutOptions{Original: true})
}

// SetDigest is Set for an already hashed key.
func (n *Node) SetDigest(ctx context.Context, key ID, value any) error {
	v, err := encodeSetValue(value)
	if err != nil {
		return err
	}
	return n.setDigest(ctx, key, v, PutOptions{Original: true})
}

// encodeSetValue checks a value given to Set.
func encodeSetValue(value any) (Value, error) {
	v, err := EncodeValue(value)
	if err != nil {
		return Value{}, fmt.Errorf("kademlia: set: %w", err)
	}
	if v.Len() > MaxValueSize {
		return Value{}, fmt.Errorf("kademlia: set: %w: the value takes %d bytes, at most %d fit a store request",
			rpcudp.ErrMessageTooLarge, v.Len(), MaxValueSize)
	}
	return v, nil
}

// setDigest runs a node lookup for key, stores v locally with local (Set:
// Original; republish: KeepExpiry) and at every node the lookup found.
func (n *Node) setDigest(ctx context.Context, key ID, v Value, local PutOptions) error {
	if _, err := n.endpoint(); err != nil {
		return err
	}
	if n.table.Len() == 0 {
		return fmt.Errorf("%w: no known peers to store %s at", ErrNoPeers, key)
	}
	ctx, cancel := n.opContext(ctx)
	defer cancel()
	res, err := n.lookup(ctx, key, false)
	if err != nil {
		return err
	}
	nodes := res.closest
	if len(nodes) == 0 {
		return fmt.Errorf("%w: no peer answered the lookup of %s", ErrNoPeers, key)
	}
	// Python stores locally only when this node is closer than the
	// farthest of the nodes found. We always keep our own originals (they
	// carry the Original flag that drives the 24 h republish) and the keys
	// we republish (we hold them already); for them the rule is moot.
	if err := n.storage.Put(key, v, local); err != nil {
		n.log.Warn("kademlia: set: local store failed", "key", key, "err", err)
	}
	errs := make(chan error, len(nodes))
	for _, c := range nodes {
		go func() { errs <- n.callStore(ctx, c, key, v) }()
	}
	ok := 0
	var failures []error
	for range nodes {
		if err := <-errs; err != nil {
			failures = append(failures, err)
		} else {
			ok++
		}
	}
	n.log.Debug("kademlia: set", "key", key, "stored", ok, "of", len(nodes))
	if ok == 0 {
		if ctx.Err() != nil || n.ctx.Err() != nil {
			return n.ctxError(ctx, ctx.Err())
		}
		return fmt.Errorf("%w: %s at %d nodes: %w", ErrStoreFailed, key, len(nodes), errors.Join(failures...))
	}
	return nil
}

// Stun asks peer which address it sees this node's requests come from
// (useful behind NAT).
func (n *Node) Stun(ctx context.Context, peer netip.AddrPort) (netip.AddrPort, error) {
	ep, err := n.endpoint()
	if err != nil {
		return netip.AddrPort{}, err
	}
	ctx, cancel := n.opContext(ctx)
	defer cancel()
	r, err := ep.Call(ctx, peer, methodStun)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("kademlia: stun %s: %w", peer, err)
	}
	ap, err := parseStunReply(r)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("kademlia: stun %s: %w", peer, err)
	}
	return ap, nil
}

// BootstrappableNeighbors returns the addresses of the (up to K) contacts
// closest to our own id, as Python's bootstrappable_neighbors: good
// addresses to Bootstrap from next time (SaveState stores them).
func (n *Node) BootstrappableNeighbors() []netip.AddrPort {
	cs := n.table.Closest(n.id, n.cfg.K, nil)
	out := make([]netip.AddrPort, len(cs))
	for i, c := range cs {
		out[i] = c.Addr
	}
	return out
}
