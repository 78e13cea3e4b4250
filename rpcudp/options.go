package rpcudp

import (
	"context"
	"log/slog"
	"net/netip"
	"time"
)

// Defaults for an Endpoint's options (their documentation states them).
const (
	defaultTimeout         = 5 * time.Second // Python rpcudp's wait_timeout
	defaultHandlerSlots    = 256
	defaultMaxPending      = 1 << 16
	defaultReplyCacheSize  = 8192
	defaultReplyCacheBytes = 8 << 20
	defaultReplyCacheTTL   = 30 * time.Second
	defaultShutdownTimeout = 5 * time.Second
)

// RetryPolicy controls how a call resends its request (with the same
// message id) while no reply has come. The zero value disables retries, as
// in Python rpcudp.
type RetryPolicy struct {
	// Initial is the wait before the first resend; zero disables retries.
	Initial time.Duration
	// Max caps the wait between resends, which doubles each time
	// (default 8 x Initial).
	Max time.Duration
}

func (p RetryPolicy) enabled() bool { return p.Initial > 0 }

func (p RetryPolicy) next(prev time.Duration) time.Duration {
	if prev == 0 {
		return p.Initial
	}
	max := p.Max
	if max <= 0 {
		max = 8 * p.Initial
	}
	if next := 2 * prev; next < max {
		return next
	}
	return max
}

// CallOptions override an endpoint's defaults for the calls made with a
// context that WithCallOptions returns.
type CallOptions struct {
	// Timeout for each call; zero means the endpoint's (WithTimeout). It
	// may be longer than the endpoint's; a deadline on the context still
	// wins if it comes first.
	Timeout time.Duration
	// Retry for each call; nil means the endpoint's (WithRetry), and
	// &RetryPolicy{} no retries.
	Retry *RetryPolicy
}

// callOptionsKey keys CallOptions in a context.
type callOptionsKey struct{}

// WithCallOptions returns a copy of ctx (nil: context.Background()) that
// carries o: every Call, Go and Invoke made with it, or with a context
// derived from it, uses o's timeout and retry policy instead of the
// endpoint's. This is the one way to set them per call, for example a
// lookup's shorter timeout, or a probe that must not be resent:
//
//	ctx := rpcudp.WithCallOptions(ctx, rpcudp.CallOptions{Timeout: time.Second, Retry: &rpcudp.RetryPolicy{}})
//	reply, err := ep.Call(ctx, addr, "ping")
//
// A shorter timeout alone can also come from ctx's deadline
// (context.WithTimeout); unlike a deadline, o.Timeout applies to each
// call afresh and may exceed the endpoint's timeout.
func WithCallOptions(ctx context.Context, o CallOptions) context.Context {
	return context.WithValue(orBackground(ctx), callOptionsKey{}, o)
}

// Option configures an Endpoint.
type Option func(*config)

type config struct {
	timeout         time.Duration
	retry           RetryPolicy
	logger          *slog.Logger
	slots           int
	maxPending      int
	cacheSize       int
	cacheTTL        time.Duration
	shutdownTimeout time.Duration
	interceptors    []Interceptor
	rcvBuf, sndBuf  int
	ampFactor       int
	prove           func(context.Context, netip.AddrPort) error
}

func defaultConfig() config {
	return config{
		timeout:         defaultTimeout,
		logger:          slog.New(slog.DiscardHandler),
		slots:           defaultHandlerSlots,
		maxPending:      defaultMaxPending,
		cacheSize:       defaultReplyCacheSize,
		cacheTTL:        defaultReplyCacheTTL,
		shutdownTimeout: defaultShutdownTimeout,
		rcvBuf:          defaultSocketBuffer,
		sndBuf:          defaultSocketBuffer,
	}
}

// WithTimeout sets how long a call waits for its reply (default 5 s, as
// Python rpcudp's wait_timeout).
func WithTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// WithRetry turns on retries for every call (off by default).
func WithRetry(p RetryPolicy) Option { return func(c *config) { c.retry = p } }

// WithLogger sets the logger (default: discard everything).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

// WithHandlerSlots bounds how many handlers run at once (default 256). A
// request arriving when every slot is busy waits for one (in a burst of
// fast handlers, one frees up at once), at most 100 ms, reading paused
// meanwhile; then it is dropped and counted (Stats.Drops.Overload), as are
// the requests after it until a handler finishes.
//
// The slots are shared fairly between sources: a source (an IPv4 address,
// an IPv6 /64, or on loopback an address and port: local processes are
// distinct clients) that holds its share, max(4, n/8) slots, gets no more
// while half the slots are busy; its requests are dropped at once and
// counted in Stats.Drops.Overload. So one source's flood of slow requests
// leaves at least half the slots to the others.
func WithHandlerSlots(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.slots = n
		}
	}
}

// WithReplyCache sizes the cache of recent replies that answers a retried
// request without running its handler again (default: the last 8192
// replies, at most 8 MiB of them, each kept for 30 s). Size it for the
// requests a server sees within its callers' timeout. A size of 0 turns
// the cache off.
//
// A repeat answered from the cache passes the interceptors as a fresh
// request does (it takes a handler slot too), so that a rate limit or a
// reply budget applies to repeats: the handler they wrap returns the
// cached reply body as a msgpack.RawMessage without running, and the
// cached reply goes out unless an interceptor refuses (an error wrapping
// ErrRateLimited drops it; another error is sent as an error reply).
func WithReplyCache(size int, ttl time.Duration) Option {
	return func(c *config) {
		c.cacheSize = max(size, 0)
		if ttl > 0 {
			c.cacheTTL = ttl
		}
	}
}

// WithInterceptors adds interceptors around every inbound request; the
// first one given is the outermost.
func WithInterceptors(in ...Interceptor) Option {
	return func(c *config) { c.interceptors = append(c.interceptors, in...) }
}

// WithSocketBuffers sets the receive and send buffer sizes the endpoint
// asks for its socket (default 4 MiB each), so that
// a burst of datagrams waits in the kernel instead of being dropped; 0
// leaves that buffer as the socket has it. The kernel caps what it grants
// (Linux: net.core.rmem_max and wmem_max, unless the process may use
// SO_RCVBUFFORCE); Stats.RecvBuffer and SendBuffer report the sizes
// granted. Conns that are not sockets are left alone.
func WithSocketBuffers(recv, send int) Option {
	return func(c *config) { c.rcvBuf, c.sndBuf = max(recv, 0), max(send, 0) }
}

// WithAntiAmplification sets the anti-amplification rule: no reply toward
// an address that has not proved it receives exceeds factor times the
// bytes that address sent (factor 0 means the default, 3; a negative one
// turns the rule off). An address is proven for 10 minutes when it answers
// one of the endpoint's calls (a reply with the call's id, from the
// address called); loopback addresses always are. The endpoint's own calls
// are never limited.
//
// A reply over the credit (a handler's reply, an error reply, a cached
// reply) is held, a few per address and at most 1024 (4 MiB) in all,
// while prove runs with a 2-second deadline, at most one per address and
// 256 at once, and only if the credit pays for its probe; when prove
// returns nil the held replies are sent, otherwise they are dropped and
// counted in Stats.Drops.Unproven. prove nil (the default) calls the
// built-in method rpcudp.ping, which every Go endpoint serves; Python peers
// do not, so an application whose peers may be Python passes a prover
// calling one of its own methods (Kademlia's ping); it is called with the
// address to prove and should return nil only on an answer from it.
func WithAntiAmplification(factor int, prove func(ctx context.Context, to netip.AddrPort) error) Option {
	return func(c *config) { c.ampFactor, c.prove = factor, prove }
}
