package kademlia

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/rpcudp/go-rpcudp/rpcudp/wire"
	"github.com/vmihailenco/msgpack/v5"
	"golang.org/x/time/rate"
)

// replyBudget gives every source IP address a token bucket of reply bytes
// (Config.ReplyBytesPerSecond, Config.ReplyBurst), so that requests that
// claim a victim's address draw at most that much toward it. It is an
// rpcudp interceptor: an answer over its source's budget is refused with
// rpcudp.ErrRateLimited, which rpcudp drops without any reply.
//
// At most Config.ReplySources sources are tracked. When that many are,
// the sources whose bucket has filled up again (idle ones: forgetting them
// loses nothing) are swept out, at most once per refill period; sources
// still unknown after that share one overflow bucket, so memory stays
// bounded and a flood from many spoofed addresses still draws at most one
// more budget.
type replyBudget struct {
	limit  rate.Limit
	burst  int
	max    int
	refill time.Duration // how long an empty bucket takes to fill
	now    func() time.Time

	mu        sync.Mutex
	sources   map[netip.Addr]*rate.Limiter
	overflow  *rate.Limiter
	lastSweep time.Time

	replied, repliedBytes atomic.Uint64
	drops, droppedBytes   atomic.Uint64
}

// newReplyBudget returns cfg's budget, nil when it is off.
func newReplyBudget(cfg Config) *replyBudget {
	if cfg.ReplyBytesPerSecond == NoLimit {
		return nil
	}
	b := &replyBudget{
		limit:   rate.Limit(cfg.ReplyBytesPerSecond),
		burst:   cfg.ReplyBurst,
		max:     cfg.ReplySources,
		refill:  time.Duration(float64(cfg.ReplyBurst) / float64(cfg.ReplyBytesPerSecond) * float64(time.Second)),
		now:     cfg.Now,
		sources: make(map[netip.Addr]*rate.Limiter),
	}
	b.overflow = rate.NewLimiter(b.limit, b.burst)
	return b
}

// options returns the endpoint options that install the budget: its
// interceptor, and no reply cache: a repeated request runs its handler
// again, as every Python peer does (every Kademlia RPC is idempotent). A
// rpcudp.WithReplyCache in Config.RPCOptions turns the cache back on; an
// answer from it (a repeat: same message id, same claimed source) passes
// the interceptor too, as a msgpack.RawMessage, and draws on the budget.
func (b *replyBudget) options() []rpcudp.Option {
	if b == nil {
		return nil
	}
	return []rpcudp.Option{rpcudp.WithInterceptors(b.intercept), rpcudp.WithReplyCache(0, 0)}
}

// intercept runs the handler and lets its answer go only if it fits the
// source's budget. Loopback sources are exempt: they cannot be spoofed
// from another host.
//
// A source whose bucket cannot pay for even the smallest answer is refused
// before the handler runs, so that a flood over budget costs the node no
// work either (and its claimed ids do not reach the routing table).
func (b *replyBudget) intercept(ctx context.Context, req *rpcudp.Request, next rpcudp.HandlerFunc) (any, error) {
	if req.Notify || req.From.Addr().IsLoopback() {
		return next(ctx, req)
	}
	from := req.From.Addr().Unmap()
	if b.spent(from) {
		return nil, b.refuse(req, minReply)
	}
	res, err := next(ctx, req)
	size := wire.HeaderLen + replySize(res, err)
	if !b.allow(from, size) {
		return nil, b.refuse(req, size)
	}
	b.replied.Add(1)
	b.repliedBytes.Add(uint64(size))
	return res, err
}

// minReply is the smallest answer: a header and one byte (store's true).
const minReply = wire.HeaderLen + 1

// refuse counts a refused answer of size bytes and returns the error that
// makes rpcudp drop the request without a reply.
func (b *replyBudget) refuse(req *rpcudp.Request, size int) error {
	b.drops.Add(1)
	b.droppedBytes.Add(uint64(size))
	return fmt.Errorf("%w: %s answer of %d bytes to %s is over its reply budget", rpcudp.ErrRateLimited, req.Method, size, req.From)
}

// spent reports whether a's bucket cannot pay for the smallest answer.
func (b *replyBudget) spent(a netip.Addr) bool {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	lim := b.sources[a]
	if lim == nil {
		return len(b.sources) >= b.max && b.overflow.TokensAt(now) < minReply && now.Sub(b.lastSweep) < b.refill
	}
	return lim.TokensAt(now) < minReply
}

// allow takes size tokens from a's bucket, if it holds that many.
func (b *replyBudget) allow(a netip.Addr, size int) bool {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	lim := b.sources[a]
	if lim == nil {
		lim = b.track(a, now)
	}
	return lim.AllowN(now, size)
}

// track returns a new bucket for a, or the overflow bucket when the table
// is full of sources that are not idle.
func (b *replyBudget) track(a netip.Addr, now time.Time) *rate.Limiter {
	if len(b.sources) >= b.max && now.Sub(b.lastSweep) >= b.refill {
		b.lastSweep = now
		for k, lim := range b.sources {
			if lim.TokensAt(now) >= float64(b.burst) {
				delete(b.sources, k)
			}
		}
	}
	if len(b.sources) >= b.max {
		return b.overflow
	}
	lim := rate.NewLimiter(b.limit, b.burst)
	b.sources[a] = lim
	return lim
}

// tracked returns how many sources have a bucket of their own.
func (b *replyBudget) tracked() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.sources)
}

// replySize returns the size of the msgpack encoding of a handler's answer
// (for an error, an estimate of the error reply).
func replySize(res any, err error) int {
	if err != nil {
		return 16 + len(err.Error())
	}
	switch v := res.(type) {
	case msgpack.RawMessage: // an answer from rpcudp's reply cache
		return len(v)
	case []byte: // ping: our id
		return binSize(len(v))
	case bool: // store
		return 1
	case map[string]any: // find_value: {"value": v}
		size := 1
		for k, x := range v {
			size += strSize(len(k))
			if val, ok := x.(Value); ok {
				size += val.Len()
			} else {
				size += 9
			}
		}
		return size
	case []any: // find_node: [[id, ip, port], ...]; stun: [ip, port]
		size := arraySize(len(v))
		for _, x := range v {
			size += elemSize(x)
		}
		return size
	default:
		return 64
	}
}

// elemSize sizes one element of a find_node or stun answer.
func elemSize(x any) int {
	switch e := x.(type) {
	case []any:
		size := arraySize(len(e))
		for _, y := range e {
			size += elemSize(y)
		}
		return size
	case []byte:
		return binSize(len(e))
	case string:
		return strSize(len(e))
	default: // a port
		return 3
	}
}

func arraySize(n int) int {
	if n < 16 {
		return 1
	}
	return 3
}

func binSize(n int) int {
	if n < 256 {
		return 2 + n
	}
	return 3 + n
}

func strSize(n int) int {
	if n < 32 {
		return 1 + n
	}
	return 2 + n
}
