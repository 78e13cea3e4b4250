package service

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
)

// ClaimOptions tune a Claim.
type ClaimOptions struct {
	// Timeout is the server's claim timeout (default 5 s): with no
	// reclaim acknowledged for that long, the claim counts as lost.
	Timeout time.Duration
	// Every is the reclaim period (default Timeout/4).
	Every time.Duration
}

// Claim is a claim a Client holds on a server. It reclaims in the
// background until Unclaim, the client's Close, or its loss.
type Claim struct {
	c     *Client
	addr  netip.AddrPort
	token string
	o     ClaimOptions

	cancel context.CancelFunc // stops the reclaim loop
	done   chan struct{}      // closed when the loop has ended
	lost   chan struct{}

	mu  sync.Mutex
	err error
}

// Claim claims the server at addr for session (a round trip more than
// the claim itself: see the claim cookie in the package doc) and reclaims
// it in the background. It fails with ErrClaimed if the server is claimed
// already, and with ErrClosed, sending nothing, after the client's Close.
func (c *Client) Claim(ctx context.Context, addr netip.AddrPort, session string, o ClaimOptions) (*Claim, error) {
	if err := c.open(); err != nil {
		return nil, err
	}
	if o.Timeout <= 0 {
		o.Timeout = defaultClaimTimeout
	}
	if o.Every <= 0 {
		o.Every = o.Timeout / 4
	}
	tok, err := c.claim(ctx, addr, session)
	if err != nil {
		return nil, err
	}
	cl := &Claim{c: c, addr: addr, token: tok, o: o, done: make(chan struct{}), lost: make(chan struct{})}
	lctx, cancel := context.WithCancel(c.ctx)
	cl.cancel = cancel
	if err := c.goBackground(func() { cl.loop(lctx) }); err != nil {
		cancel()
		return nil, err
	}
	return cl, nil
}

// claim takes the claim and returns its token. A server answers the
// first claim with a cookie, sent back with the second from the same
// address; an older server, which needs none, with the token at once.
func (c *Client) claim(ctx context.Context, addr netip.AddrPort, session string) (string, error) {
	args := []any{session}
	for range 2 {
		r, err := c.Call(ctx, addr, Target{}, claimMethod, args...)
		if err != nil {
			return "", err
		}
		var v any
		if err := r.Decode(&v); err != nil {
			return "", err
		}
		switch v := v.(type) {
		case string:
			return v, nil
		case []any:
			if len(v) != 1 {
				break
			}
			if cookie, ok := v[0].(string); ok && cookie != "" && len(args) == 1 {
				args = []any{session, cookie}
				continue
			}
		}
		return "", fmt.Errorf("%w: claim reply %x", rpcudp.ErrMalformed, []byte(r))
	}
	return "", fmt.Errorf("%w: the server refused its own claim cookie", rpcudp.ErrMalformed)
}

// Token returns the claim's token.
func (cl *Claim) Token() string { return cl.token }

// Lost is closed when the claim is lost: a reclaim was refused (the
// claim had lapsed), or none was acknowledged within the claim timeout.
func (cl *Claim) Lost() <-chan struct{} { return cl.lost }

// Err returns why the claim was lost (wrapping ErrLost), or nil.
func (cl *Claim) Err() error {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.err
}

// Unclaim stops reclaiming and ends the claim on the server.
func (cl *Claim) Unclaim(ctx context.Context) error {
	cl.cancel()
	<-cl.done
	if err := cl.Err(); err != nil {
		return err
	}
	_, err := cl.c.Call(ctx, cl.addr, Target{}, "unclaim", cl.token)
	return err
}

// loop reclaims every o.Every until ctx ends or the claim is lost.
func (cl *Claim) loop(ctx context.Context) {
	defer close(cl.done)
	t := time.NewTicker(cl.o.Every)
	defer t.Stop()
	acked := time.Now() // when the last acknowledged (re)claim was sent, or about
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sent := time.Now()
		opts := rpcudp.CallOptions{Timeout: cl.o.Every, Retry: &rpcudp.RetryPolicy{Initial: cl.o.Every / 8}}
		_, err := cl.c.callWith(ctx, opts, cl.addr, Target{}, "reclaim", cl.token)
		var re *rpcudp.RemoteError
		switch {
		case err == nil:
			acked = sent
		case ctx.Err() != nil:
			return
		case errors.As(err, &re):
			cl.lose(err)
			return
		case time.Since(acked) >= cl.o.Timeout:
			cl.lose(fmt.Errorf("no reclaim acknowledged for %v: %w", cl.o.Timeout, err))
			return
		}
	}
}

func (cl *Claim) lose(err error) {
	cl.mu.Lock()
	cl.err = fmt.Errorf("%w: claim: %w", ErrLost, err)
	cl.mu.Unlock()
	close(cl.lost)
}
