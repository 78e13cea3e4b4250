package rpcudp

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/rpcudp/go-rpcudp/rpcudp/wire"
)

// Handle serves the functions of the commonest shapes without reflection:
// fastHandler returns the HandlerFunc for fn when fn is one of them, nil
// otherwise. Such a handler, when the endpoint has no interceptors, packs
// a result of a common scalar type itself and returns an opaque value
// standing for it, which the endpoint sends as it is.
func fastHandler(fn any) HandlerFunc {
	switch f := fn.(type) {
	case func(context.Context, netip.AddrPort) (string, error):
		return func0(f)
	case func(context.Context, netip.AddrPort) ([]byte, error):
		return func0(f)
	case func(context.Context, netip.AddrPort) (bool, error):
		return func0(f)
	case func(context.Context, netip.AddrPort) (int, error):
		return func0(f)
	case func(context.Context, netip.AddrPort) (int64, error):
		return func0(f)
	case func(context.Context, netip.AddrPort) (any, error):
		return func0(f)
	}
	return fastHandler1(fn)
}

// fastHandler1 is fastHandler for functions of one argument.
func fastHandler1(fn any) HandlerFunc {
	switch f := fn.(type) {
	case func(context.Context, netip.AddrPort, string) (string, error):
		return func1(f)
	case func(context.Context, netip.AddrPort, string) ([]byte, error):
		return func1(f)
	case func(context.Context, netip.AddrPort, string) (any, error):
		return func1(f)
	case func(context.Context, netip.AddrPort, []byte) ([]byte, error):
		return func1(f)
	case func(context.Context, netip.AddrPort, []byte) (string, error):
		return func1(f)
	case func(context.Context, netip.AddrPort, []byte) (any, error):
		return func1(f)
	case func(context.Context, netip.AddrPort, int) (int, error):
		return func1(f)
	case func(context.Context, netip.AddrPort, int) ([]byte, error):
		return func1(f)
	case func(context.Context, netip.AddrPort, any) (any, error):
		return func1(f)
	}
	return nil
}

// func0 adapts a typed function of no arguments to a HandlerFunc.
func func0[R any](fn func(ctx context.Context, from netip.AddrPort) (R, error)) HandlerFunc {
	return func(ctx context.Context, req *Request) (any, error) {
		if err := req.DecodeArgs(); err != nil {
			return nil, err
		}
		r, err := fn(ctx, req.From)
		if err != nil {
			return r, err
		}
		return packResult(req, r)
	}
}

// func1 adapts a typed function of one argument to a HandlerFunc.
func func1[A, R any](fn func(ctx context.Context, from netip.AddrPort, a A) (R, error)) HandlerFunc {
	return func(ctx context.Context, req *Request) (any, error) {
		a, err := decodeArg[A](req)
		if err != nil {
			return nil, err
		}
		r, err := fn(ctx, req.From, a)
		if err != nil {
			return r, err
		}
		return packResult(req, r)
	}
}

// decodeArg decodes a request's one argument into an A: a str into a
// string, a bin into a []byte without the general decoder, anything else
// through DecodeArgs.
func decodeArg[A any](req *Request) (A, error) {
	var a A
	if req.nargs == 1 && decodeScalar(any(&a), req.args) {
		return a, nil
	}
	var b A // on the heap: DecodeArgs takes it as an interface
	err := req.DecodeArgs(&b)
	return b, err
}

// decodeScalar decodes a value that is exactly b into *string from a
// str, or into *[]byte from a bin, and reports whether it did.
func decodeScalar(p any, b []byte) bool {
	if len(b) == 0 {
		return false
	}
	switch p := p.(type) {
	case *string:
		if wire.KindOf(b[0]) != wire.Str {
			return false
		}
		s, rest, err := wire.ReadStr(b)
		if err != nil || len(rest) != 0 {
			return false
		}
		*p = string(s)
		return true
	case *[]byte:
		if wire.KindOf(b[0]) != wire.Bin {
			return false
		}
		s, rest, err := wire.ReadBin(b)
		if err != nil || len(rest) != 0 {
			return false
		}
		*p = append(make([]byte, 0, len(s)), s...)
		return true
	}
	return false
}

// packedResult stands for a result packed into its request by packResult.
type packedResult struct{}

// packResult packs a typed handler's result of a common scalar type into
// req, when no interceptor is to see it, and returns packedResult; it
// returns the result itself otherwise.
func packResult[R any](req *Request, r R) (any, error) {
	if !req.direct {
		return r, nil
	}
	b, ok, err := appendScalar(req.body[:0], any(r))
	if !ok {
		return r, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: encode reply (%T): %w", ErrHandler, r, err)
	}
	req.body = b
	return packedResult{}, nil
}

// Invoke calls method on addr as Call does and decodes the reply into an
// R. A reply that does not fit R (a str for an int) fails with an error
// saying so, as Reply.Decode does, not with ErrMalformed.
func Invoke[R any](ctx context.Context, e *Endpoint, addr netip.AddrPort, method string, args ...any) (R, error) {
	var r R
	reply, err := e.Call(ctx, addr, method, args...)
	if err != nil {
		return r, err
	}
	err = reply.Decode(&r)
	return r, err
}
