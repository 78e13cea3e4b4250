package kademlia

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"

	"github.com/rpcudp/go-rpcudp/rpcudp"
)

// Node is a Kademlia DHT node speaking the protocol of Python's kademlia
// 2.2.x over rpcudp: Join (or Listen, Bootstrap), Set and Get; Close
// stops it. All methods are safe for concurrent use; after Close, those that
// return an error return ErrNodeClosed. A nil context means
// context.Background().
type Node struct {
	cfg        Config
	guard      *storeGuard // Config.Validators, the per-key store locks, the seq floors
	hooks      testHooks   // the package's tests' (nil outside tests)
	id         ID
	ep         *rpcudp.Endpoint
	rt         *routing
	storage    Storage
	ownStorage bool
	log        *slog.Logger
	queryOpts  rpcudp.CallOptions // a lookup's queries: Timeout QueryTimeout

	// metrics, budget and handOffBudget: Node.Metrics's counters, the
	// per-source reply budget and the hand-off budget (metrics.go,
	// budget.go, handoff.go; nil budgets are off).
	metrics       nodeMetrics
	budget        *replyBudget
	handOffBudget *handOffBudget

	// quota, proofs and heldDepths: the per-source share of the storage
	// (quota.go), the slots of the stores waiting for their caller's
	// proof (storeproof.go), the depths of the held keys (handoff_scan.go).
	quota      *storeQuota
	proofs     chan struct{}
	heldDepths keyDepths

	// ctx is cancelled by Close; it bounds every background task and loop.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the node owns
	sem    chan struct{}  // background task slots

	mu       sync.Mutex // guards the fields below
	closed   bool
	closeErr error
	joins    int // Bootstraps so far: a rejoin schedule runs for the last
}

// Listen opens a UDP socket on addr ("127.0.0.1:0", "0.0.0.0:8468", ...)
// and serves the DHT on it; ctx bounds only the opening.
func Listen(ctx context.Context, addr string, cfg Config) (*Node, error) {
	return listen(ctx, addr, cfg, nil)
}

// listen is Listen with the tests' hooks.
func listen(ctx context.Context, addr string, cfg Config, h testHooks) (*Node, error) {
	if _, err := cfg.withDefaults(); err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	conn, err := lc.ListenPacket(ctx, "udp", addr)
	if err != nil {
		return nil, fmt.Errorf("kademlia: listen %s: %w", addr, err)
	}
	return serve(conn, cfg, h)
}

// Serve serves the DHT on conn, any net.PacketConn (a simnet conn, ...).
// The node owns conn: Close closes it, and so does Serve if it fails.
func Serve(conn net.PacketConn, cfg Config) (*Node, error) {
	return serve(conn, cfg, nil)
}

// serve is Serve with the tests' hooks.
func serve(conn net.PacketConn, cfg Config, h testHooks) (*Node, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		conn.Close()
		return nil, err
	}
	guard, err := newStoreGuard(cfg.Validators)
	if err != nil {
		conn.Close()
		return nil, err
	}
	n := &Node{
		cfg:       cfg,
		guard:     guard,
		hooks:     h,
		id:        cfg.ID,
		log:       cfg.Logger,
		sem:       make(chan struct{}, maxBackground),
		queryOpts: rpcudp.CallOptions{Timeout: cfg.QueryTimeout},
		storage:   cfg.Storage,
		budget:    newReplyBudget(cfg),
	}
	n.cfg.OnLookup = n.observeLookups(cfg.OnLookup)
	n.handOffBudget = newHandOffBudget(cfg)
	if n.storage == nil {
		n.storage = newMemoryStorage(StorageConfig{Now: cfg.Now})
		n.ownStorage = true
	}
	n.quota = newStoreQuota(n.storage, cfg.Now)
	n.proofs = make(chan struct{}, maxStoreProofs)
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.rt = newRouting(n)
	opts := append([]rpcudp.Option{rpcudp.WithTimeout(cfg.RPCTimeout), rpcudp.WithLogger(n.log),
		rpcudp.WithRetry(rpcudp.RetryPolicy{Initial: defaultRetryInitial, Max: defaultRetryMax}),
		rpcudp.WithAntiAmplification(0, n.proveAddr)}, n.budget.options()...)
	n.ep = rpcudp.New(conn, append(opts, cfg.RPCOptions...)...)
	if err := registerErrors(n.ep); err != nil {
		n.Close()
		return nil, err
	}
	if err := n.register(); err != nil {
		n.Close()
		return nil, err
	}
	n.log.Info("kademlia: node serving", "id", n.id, "addr", n.ep.LocalAddr())
	n.goLoop(n.maintain)
	if !n.rt.noProbe {
		n.goLoop(n.rt.revalidate)
	}
	return n, nil
}

// ID returns the node's id.
func (n *Node) ID() ID { return n.id }

// Addr returns the address the node's socket is bound to (Stun tells which
// one a peer sees).
func (n *Node) Addr() netip.AddrPort { return n.ep.LocalAddr() }

// Table returns a copy of the node's routing table.
func (n *Node) Table() TableSnapshot { return n.rt.tab.snapshot() }

// Endpoint returns the node's rpcudp endpoint (its Stats, extra methods).
func (n *Node) Endpoint() *rpcudp.Endpoint { return n.ep }

// goLoop runs fn on a goroutine owned by the node until Close; it reports
// false (and runs nothing) once the node is closed.
func (n *Node) goLoop(fn func(ctx context.Context)) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
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
		if n.hooks != nil {
			n.hooks.taskDone(what)
		}
	}()
	return true
}

// opContext derives a context for a user operation that also ends when
// the node is closed (a nil ctx means context.Background); it fails with
// ErrNodeClosed on a closed node.
func (n *Node) opContext(ctx context.Context) (context.Context, context.CancelFunc, error) {
	if n.ctx.Err() != nil {
		return nil, nil, ErrNodeClosed
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(n.ctx, cancel)
	return ctx, func() { stop(); cancel() }, nil
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

// Close stops every goroutine of the node and waits for them, closes the
// endpoint, its socket and the storage the node created. Calling it again
// returns the first call's result.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return n.closeErr
	}
	n.closed = true
	n.mu.Unlock()

	n.cancel()
	var errs []error
	if err := n.ep.Close(); err != nil {
		errs = append(errs, err)
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

// Bootstrap joins the network through addrs: it pings them, adds those
// that answer and looks up its own id to fill the table (more lookups run
// in the background). It returns the closest contacts (ErrNoPeers: none
// answered).
func (n *Node) Bootstrap(ctx context.Context, addrs []netip.AddrPort) ([]Contact, error) {
	ctx, cancel, err := n.opContext(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	alive, sent, errs := n.pingAll(ctx, addrs)
	if alive == 0 {
		if ctx.Err() != nil || n.ctx.Err() != nil {
			return nil, n.ctxError(ctx, ctx.Err())
		}
		return nil, fmt.Errorf("%w: none of the %d bootstrap addresses answered: %w", ErrNoPeers, sent, errors.Join(errs...))
	}
	n.log.Info("kademlia: bootstrap peers answered", "alive", alive, "tried", sent)
	res, err := n.selfLookup(ctx)
	if err != nil {
		return nil, err
	}
	n.rejoin()
	return res.closest, nil
}

// pingAll pings every distinct valid address other than our own,
// concurrently, and returns how many answered, how many were pinged and
// the failures.
func (n *Node) pingAll(ctx context.Context, addrs []netip.AddrPort) (alive, sent int, errs []error) {
	self := n.Addr()
	seen := make(map[netip.AddrPort]bool, len(addrs))
	var targets []netip.AddrPort
	for _, a := range addrs {
		a = normalizeAddrPort(a)
		if !seen[a] && a != self && a.IsValid() {
			seen[a] = true
			targets = append(targets, a)
		}
	}
	answers := make([]error, len(targets))
	fanOut(ctx, targets, 0, func(i int, a netip.AddrPort) { _, answers[i] = n.pingAddr(ctx, a) })
	for _, err := range answers {
		if err != nil {
			errs = append(errs, err)
		} else {
			alive++
		}
	}
	return alive, len(targets), errs
}

// BootstrappableNeighbors returns the addresses of the (up to K) contacts
// closest to this node that answered recently (SaveState keeps them).
func (n *Node) BootstrappableNeighbors() []netip.AddrPort {
	cs := n.rt.tab.closestRecent(n.id, n.cfg.K, n.cfg.RevalidateInterval)
	out := make([]netip.AddrPort, len(cs))
	for i, c := range cs {
		out[i] = c.Addr
	}
	return out
}

// Stun asks peer which address it sees this node's requests come from.
func (n *Node) Stun(ctx context.Context, peer netip.AddrPort) (netip.AddrPort, error) {
	ctx, cancel, err := n.opContext(ctx)
	if err != nil {
		return netip.AddrPort{}, err
	}
	defer cancel()
	r, err := n.ep.Call(ctx, peer, methodStun)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("kademlia: stun %s: %w", peer, err)
	}
	ap, err := parseStunReply(r)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("kademlia: stun %s: %w", peer, err)
	}
	return ap, nil
}
