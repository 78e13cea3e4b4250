package service

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/vmihailenco/msgpack/v5"
)

// Server serves Groups of methods, a claim, signals and properties on one
// rpcudp.Endpoint. It is safe for concurrent use. It takes requests only
// between Start and Stop.
type Server struct {
	ep  *rpcudp.Endpoint
	log *slog.Logger

	mu      sync.Mutex
	groups  []*Group // in the order added
	def     *Group   // Handle's group, added on first use
	plain   map[string]bool
	signals map[string]*Signal
	props   map[string]propEntry
	claimOn bool // the claim methods are registered (see useClaims)

	gate      gate
	claims    claims
	cookieKey [32]byte // keys the cookies (see cookie.go)
}

type config struct {
	claims       bool // a claim option was given
	claimTimeout time.Duration
	release      func(session string, lapsed bool)
	log          *slog.Logger
}

// Option configures a Server.
type Option func(*config)

// defaultClaimTimeout is how long a claim lasts without a reclaim.
const defaultClaimTimeout = 5 * time.Second

// WithClaims makes the server serve a claim (see New): timeout is how
// long a claim lasts without a reclaim (5 s if 0), and release, if not
// nil, runs when a claim ends: lapsed is true when it lapsed for want of
// a reclaim, false on unclaim. release runs outside the server's locks,
// on the goroutine that noticed the end (the claim's timer, a request's
// handler, or Close). A claim that comes meanwhile is granted once it has
// returned. It must not call Server.Close, which waits for it.
func WithClaims(timeout time.Duration, release func(session string, lapsed bool)) Option {
	return func(c *config) {
		if timeout > 0 {
			c.claimTimeout = timeout
		}
		c.release, c.claims = release, true
	}
}

// WithLogger sets the logger (default: discard everything).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// New returns a server on ep. It registers on ep this package's error
// codes (see the package doc) and the Go-only methods
// svc.call, svc.inventory, svc.get, svc.set, svc.subscribe and
// svc.unsubscribe; the null namespace's methods are registered under
// their plain names as they are added; the claim methods (claim, reclaim,
// unclaim) once the server has something to claim: WithClaims, a
// Claimed method or a Claimed property. It takes requests once started.
func New(ep *rpcudp.Endpoint, opts ...Option) *Server {
	cfg := config{claimTimeout: defaultClaimTimeout, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(&cfg)
	}
	s := &Server{ep: ep, log: cfg.log, plain: map[string]bool{}, signals: map[string]*Signal{}, props: map[string]propEntry{}}
	s.claims.timeout, s.claims.release = cfg.claimTimeout, cfg.release
	rand.Read(s.cookieKey[:])
	if err := registerErrors(ep); err != nil {
		// Only an application holding a code of 200-299 makes this fail.
		s.log.Error("service: error codes not registered: errors.Is fails across the wire", "err", err)
	}
	if cfg.claims {
		s.useClaims()
	}
	s.builtin(callMethod, s.handleCall)
	s.builtin(inventoryMethod, s.handleInventory)
	s.builtin(getMethod, s.handleGet)
	s.builtin(setMethod, s.handleSet)
	s.builtin(subscribeMethod, s.handleSubscribe)
	s.builtin(unsubscribeMethod, s.handleUnsubscribe)
	return s
}

// Wire names of the Go-only methods (a dot: no Python rpc_ method has one).
const (
	callMethod        = "svc.call"
	inventoryMethod   = "svc.inventory"
	getMethod         = "svc.get"
	setMethod         = "svc.set"
	subscribeMethod   = "svc.subscribe"
	unsubscribeMethod = "svc.unsubscribe"
)

// useClaims registers the claim methods, once.
func (s *Server) useClaims() {
	s.mu.Lock()
	on := s.claimOn
	s.claimOn = true
	s.mu.Unlock()
	if on {
		return
	}
	s.builtin(claimMethod, s.handleClaim)
	s.builtin("reclaim", s.handleReclaim)
	s.builtin("unclaim", s.handleUnclaim)
}

// builtin registers h on the rpcudp endpoint behind the gate.
func (s *Server) builtin(name string, h handlerFunc) {
	s.ep.Handle(name, rpcudp.HandlerFunc(func(ctx context.Context, req *rpcudp.Request) (any, error) {
		if !s.gate.enter() {
			return nil, errf(ErrStopped, "")
		}
		defer s.gate.leave()
		args, err := req.RawArgs()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", rpcudp.ErrBadArgs, err)
		}
		return h(context.WithValue(ctx, outerKey{}, req), req.From, args)
	}))
}

// outerKey keys the request a builtin serves in its context, so that
// invoke hands its ID and Notify on to the method's request.
type outerKey struct{}

// servePlain registers a null-namespace method under its plain name, once.
func (s *Server) servePlain(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.plain[name] {
		return nil
	}
	s.plain[name] = true
	s.builtin(name, func(ctx context.Context, from netip.AddrPort, args []msgpack.RawMessage) (any, error) {
		return s.invoke(ctx, from, "", "", name, args)
	})
	return nil
}

// Handle adds a method to the server's default group (the null
// namespace, version 1.0), added to the server on first use; see
// Group.Handle.
func (s *Server) Handle(name string, fn any, md ...Method) error {
	s.mu.Lock()
	def, isNew := s.def, s.def == nil
	if isNew {
		def = &Group{}
		s.def = def
	}
	s.mu.Unlock()
	if isNew {
		if err := s.Add(def); err != nil {
			return err
		}
	}
	return def.Handle(name, fn, md...)
}

// Add adds a group. Calls are dispatched to the first group, in the
// order added, with the method, the namespace and a compatible version.
// A Version that is not "M" or "M.N" is refused here.
func (s *Server) Add(g *Group) error {
	v, ok := parseVersion(g.Version, version{1, 0})
	if !ok {
		return fmt.Errorf("service: group %s: bad version %q %s", quote(g.Namespace), g.Version, versionForm)
	}
	g.mu.Lock()
	if g.srv != nil {
		g.mu.Unlock()
		return fmt.Errorf("service: group %q %s added twice", g.Namespace, g.Version)
	}
	g.srv, g.ver = s, v
	names, claimed := make([]string, 0, len(g.methods)), false
	for _, m := range g.methods {
		names = append(names, m.name)
		claimed = claimed || m.Claimed
	}
	g.mu.Unlock()
	if claimed {
		s.useClaims()
	}
	s.mu.Lock()
	s.groups = append(s.groups, g)
	s.mu.Unlock()
	if g.Namespace == "" {
		for _, n := range names {
			if err := s.servePlain(n); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Server) groupList() []*Group {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.groups
}

// invoke dispatches a call and runs its method.
func (s *Server) invoke(ctx context.Context, from netip.AddrPort, ns, ver, name string, args []msgpack.RawMessage) (any, error) {
	m, err := find(s.groupList(), ns, ver, name)
	if err != nil {
		return nil, err
	}
	if m.Claimed {
		if len(args) == 0 {
			return nil, errf(ErrBadToken, name+" needs the claim token as its first argument")
		}
		var token string
		if err := rpcudp.Reply(args[0]).Decode(&token); err != nil {
			return nil, errf(ErrBadToken, name+": the first argument must be the claim token (str)")
		}
		if err := s.claims.check(token); err != nil {
			return nil, err
		}
		args = args[1:]
	}
	if m.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, m.Timeout)
		defer cancel()
	}
	outer, ok := ctx.Value(outerKey{}).(*rpcudp.Request)
	if !ok {
		outer = &rpcudp.Request{From: from}
	}
	return m.h(ctx, outer, name, args)
}

// handleCall serves svc.call [namespace, version, method, [args...]].
func (s *Server) handleCall(ctx context.Context, from netip.AddrPort, args []msgpack.RawMessage) (any, error) {
	var ns, ver, name string
	var inner []msgpack.RawMessage
	if err := decodeArgs(args, &ns, &ver, &name, &inner); err != nil {
		return nil, err
	}
	return s.invoke(ctx, from, ns, ver, name, inner)
}

// decodeArgs decodes exactly len(ptrs) arguments.
func decodeArgs(args []msgpack.RawMessage, ptrs ...any) error {
	if len(args) != len(ptrs) {
		return fmt.Errorf("%w: want %d arguments, got %d", rpcudp.ErrBadArgs, len(ptrs), len(args))
	}
	for i, p := range ptrs {
		if err := rpcudp.Reply(args[i]).Decode(p); err != nil {
			return fmt.Errorf("%w: argument %d: %w", rpcudp.ErrBadArgs, i+1, err)
		}
	}
	return nil
}

// Start makes the server take requests (again, after Stop; never after
// Close).
func (s *Server) Start() { s.gate.set(true) }

// Stop makes the server stop taking requests: from now on each one (the
// claim methods and the svc.* ones included) is answered with an error
// reply matching ErrStopped (Python callers, which ignore error replies,
// time out). Requests already running go on; Wait waits for them. The
// claim and the subscriptions are kept, but since reclaims and renewals
// are refused too, they lapse unless Start comes first; Emit still sends.
func (s *Server) Stop() { s.gate.set(false) }

// Wait waits until no request is running, or ctx is done.
func (s *Server) Wait(ctx context.Context) error { return s.gate.wait(ctx) }

// Close stops the server for good: from now on every request gets an
// error reply matching ErrStopped, and Start does not restart it. A
// claim held ends as unclaim ends it (the release hook runs, lapsed
// false, before Close returns), the claim's timer stops, and every signal
// drops its subscribers. Once Close has returned, nothing the server
// started runs: no timer, no release hook. Requests already running go
// on (Wait waits for them); a claim or a subscription they would make is
// refused. Close does not close the rpcudp.Endpoint, nor remove the
// server's methods from it (they answer ErrStopped until it is closed).
// It is safe to call more than once; it always returns nil.
func (s *Server) Close() error {
	s.gate.close()
	s.claims.close()
	s.mu.Lock()
	sigs := make([]*Signal, 0, len(s.signals))
	for _, g := range s.signals {
		sigs = append(sigs, g)
	}
	s.mu.Unlock()
	for _, g := range sigs {
		g.dropAll()
	}
	return nil
}

// gate admits requests while serving and counts those running.
type gate struct {
	mu      sync.Mutex
	serving bool
	closed  bool // by Server.Close: serving for good no more
	running int
	idle    chan struct{} // closed when running drops to 0
}

func (g *gate) set(serving bool) {
	g.mu.Lock()
	g.serving = serving && !g.closed
	g.mu.Unlock()
}

func (g *gate) close() {
	g.mu.Lock()
	g.serving, g.closed = false, true
	g.mu.Unlock()
}

func (g *gate) isClosed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closed
}

func (g *gate) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.serving {
		return false
	}
	g.running++
	return true
}

func (g *gate) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.running--
	if g.running == 0 && g.idle != nil {
		close(g.idle)
		g.idle = nil
	}
}

func (g *gate) wait(ctx context.Context) error {
	g.mu.Lock()
	if g.running == 0 {
		g.mu.Unlock()
		return nil
	}
	if g.idle == nil {
		g.idle = make(chan struct{})
	}
	ch := g.idle
	g.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
