package rpcudp

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// rateLimit was the package's RateLimit (issue 19 took it out of the API:
// nothing used it; kademlia has its own reply budget). The tests keep it
// as an interceptor that drops with ErrRateLimited.
// rateLimit returns an interceptor that lets each source IP address make
// r requests per second, with bursts of up to burst; requests beyond that
// are dropped without a reply and counted in Stats.Drops.RateLimited. It
// tracks at most maxSources addresses (default 4096 when <= 0); when that
// many are tracked, sources idle for a minute are forgotten, and if none
// are, the table starts afresh, so memory stays bounded under a flood of
// spoofed sources.
func rateLimit(r rate.Limit, burst, maxSources int) Interceptor {
	if maxSources <= 0 {
		maxSources = 4096
	}
	rl := &rateLimiter{r: r, burst: burst, max: maxSources, m: make(map[netip.Addr]*sourceLimit)}
	return func(ctx context.Context, req *Request, next HandlerFunc) (any, error) {
		if !rl.allow(req.From.Addr(), time.Now()) {
			return nil, fmt.Errorf("%w: %s from %s", ErrRateLimited, req.Method, req.From)
		}
		return next(ctx, req)
	}
}

type rateLimiter struct {
	mu    sync.Mutex
	r     rate.Limit
	burst int
	max   int
	m     map[netip.Addr]*sourceLimit
}

type sourceLimit struct {
	lim  *rate.Limiter
	seen time.Time
}

func (rl *rateLimiter) allow(a netip.Addr, now time.Time) bool {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	s := rl.m[a]
	if s == nil {
		if len(rl.m) >= rl.max {
			for k, v := range rl.m {
				if now.Sub(v.seen) > time.Minute {
					delete(rl.m, k)
				}
			}
			if len(rl.m) >= rl.max {
				clear(rl.m)
			}
		}
		s = &sourceLimit{lim: rate.NewLimiter(rl.r, rl.burst)}
		rl.m[a] = s
	}
	s.seen = now
	return s.lim.AllowN(now, 1)
}
