package rpcudp

import (
	"context"
	"net/netip"
)

// Func0 adapts a typed function of no arguments to a HandlerFunc without
// reflection. Func1, Func2 and Func3 take one, two and three arguments.
// Handle accepts the plain functions too (through reflection); the
// adapters are the faster path for hot methods.
func Func0[R any](fn func(ctx context.Context, from netip.AddrPort) (R, error)) HandlerFunc {
	return func(ctx context.Context, req *Request) (any, error) {
		if err := req.DecodeArgs(); err != nil {
			return nil, err
		}
		return fn(ctx, req.From)
	}
}

// Func1 adapts a typed function of one argument; see Func0.
func Func1[A, R any](fn func(ctx context.Context, from netip.AddrPort, a A) (R, error)) HandlerFunc {
	return func(ctx context.Context, req *Request) (any, error) {
		var a A
		if err := req.DecodeArgs(&a); err != nil {
			return nil, err
		}
		return fn(ctx, req.From, a)
	}
}

// Func2 adapts a typed function of two arguments; see Func0.
func Func2[A, B, R any](fn func(ctx context.Context, from netip.AddrPort, a A, b B) (R, error)) HandlerFunc {
	return func(ctx context.Context, req *Request) (any, error) {
		var a A
		var b B
		if err := req.DecodeArgs(&a, &b); err != nil {
			return nil, err
		}
		return fn(ctx, req.From, a, b)
	}
}

// Func3 adapts a typed function of three arguments; see Func0.
func Func3[A, B, C, R any](fn func(ctx context.Context, from netip.AddrPort, a A, b B, c C) (R, error)) HandlerFunc {
	return func(ctx context.Context, req *Request) (any, error) {
		var a A
		var b B
		var c C
		if err := req.DecodeArgs(&a, &b, &c); err != nil {
			return nil, err
		}
		return fn(ctx, req.From, a, b, c)
	}
}

// Invoke calls method on addr and decodes the reply into an R.
func Invoke[R any](ctx context.Context, e *Endpoint, addr netip.AddrPort, method string, args ...any) (R, error) {
	var r R
	reply, err := e.Call(ctx, addr, method, args...)
	if err != nil {
		return r, err
	}
	err = reply.Decode(&r)
	return r, err
}
