package rpcudp

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/vmihailenco/msgpack/v5"
)

// Request is an inbound request or notification as handlers and
// interceptors see it. It is valid only until the handler returns.
type Request struct {
	From   netip.AddrPort // the sender's address (IPv4-mapped addresses unmapped)
	Method string         // the wire name
	ID     [20]byte       // the message id
	Notify bool           // a notification: no reply will be sent

	nargs  int
	args   []byte // msgpack of the arguments, after the array header
	codecs *codecPool
	direct bool   // no interceptor looks at the result: packResult may pack it
	body   []byte // the result packed by packResult, or the cached reply
	cached bool   // a repeat answered from the reply cache: body is the reply
}

// NumArgs returns the number of positional arguments.
func (r *Request) NumArgs() int { return r.nargs }

// DecodeArgs decodes the positional arguments into ptrs, which must be
// exactly as many as the arguments. Errors wrap ErrBadArgs.
func (r *Request) DecodeArgs(ptrs ...any) error {
	if len(ptrs) != r.nargs {
		return fmt.Errorf("%w: %s takes %d arguments, got %d", ErrBadArgs, r.Method, len(ptrs), r.nargs)
	}
	return r.decode(func(i int, d *decoder) error { return d.Decode(ptrs[i]) })
}

// RawArgs returns each positional argument as undecoded msgpack.
func (r *Request) RawArgs() ([]msgpack.RawMessage, error) {
	out := make([]msgpack.RawMessage, r.nargs)
	err := r.decode(func(i int, d *decoder) error {
		raw, err := d.DecodeRaw()
		out[i] = raw
		return err
	})
	return out, err
}

// decode runs fn for each argument in turn and checks that nothing trails
// the arguments.
func (r *Request) decode(fn func(i int, d *decoder) error) error {
	c := r.codecs.get()
	defer r.codecs.put(c)
	c.resetDecoder(r.args)
	for i := 0; i < r.nargs; i++ {
		if err := fn(i, c.dec); err != nil {
			return fmt.Errorf("%w: %s argument %d: %w", ErrBadArgs, r.Method, i, err)
		}
	}
	if c.rd.Len() != 0 {
		return fmt.Errorf("%w: %s: %d bytes after the arguments", ErrBadArgs, r.Method, c.rd.Len())
	}
	return nil
}

// HandlerFunc serves one request. Its result is packed as the reply (nil
// packs as msgpack nil, which Python reads as None). An error is sent back
// to Go callers as an error reply; wrap ErrBadArgs to report arguments that
// do not fit.
type HandlerFunc func(ctx context.Context, req *Request) (any, error)

// Interceptor wraps every inbound request: it may inspect req, refuse it by
// returning an error without calling next, or call next and look at the
// result. Returning an error that wraps ErrRateLimited drops the request
// without any reply. A repeat answered from the reply cache passes too:
// next then returns the cached reply body, a msgpack.RawMessage (see
// WithReplyCache).
type Interceptor func(ctx context.Context, req *Request, next HandlerFunc) (any, error)

type decoder = msgpack.Decoder
