package rpcudp

import (
	"context"
	"net/netip"

	"golang.org/x/sync/errgroup"
)

// Result is the outcome of one call made by CallAll.
type Result struct {
	Addr  netip.AddrPort
	Reply Reply
	Err   error
}

// CallAll calls method with the same args on every address concurrently
// (at most limit calls in flight; all at once when limit <= 0) and returns
// one Result per address, in the order given. One peer's failure does not
// stop the others.
func (e *Endpoint) CallAll(ctx context.Context, addrs []netip.AddrPort, limit int, method string, args ...any) []Result {
	out := make([]Result, len(addrs))
	var g errgroup.Group
	if limit > 0 {
		g.SetLimit(limit)
	}
	for i, a := range addrs {
		g.Go(func() error {
			r, err := e.Call(ctx, a, method, args...)
			out[i] = Result{Addr: a, Reply: r, Err: err}
			return nil
		})
	}
	g.Wait()
	return out
}
