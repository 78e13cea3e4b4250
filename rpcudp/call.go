package rpcudp

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rpcudp/go-rpcudp/rpcudp/wire"
	"github.com/vmihailenco/msgpack/v5"
)

// Reply is the msgpack body of a response, not yet decoded.
type Reply []byte

// Decode unpacks the reply into v, which must be a pointer (or implement
// msgpack.CustomDecoder). Integers decode into any Go integer type that
// holds them; a msgpack nil leaves v at its zero value. Decoded into an
// interface, maps follow the package's mapping (see the package
// documentation): every value a Python peer sends decodes and encodes back
// to the same msgpack.
//
// A reply that is good msgpack but does not fit v (a str decoded into an
// int) fails with an error saying so, which wraps the decoder's error and
// no sentinel of this package; only a reply that is not one well-formed
// msgpack value fails with ErrMalformed. (Replies an endpoint hands over
// were checked on arrival, so that is a Reply made by hand.)
func (r Reply) Decode(v any) error {
	d := msgpack.GetDecoder()
	defer msgpack.PutDecoder(d)
	d.Reset(bytes.NewReader(r))
	d.UsePreallocateValues(true) // as msgpack.Unmarshal
	d.SetMapDecoder(decodeMap)
	err := d.Decode(v)
	switch {
	case err == nil:
		return nil
	case wire.Validate(r) != nil:
		return fmt.Errorf("%w: reply: %w", ErrMalformed, err)
	}
	return fmt.Errorf("rpcudp: reply (msgpack %s) does not decode into %s: %w",
		wire.KindOf(r[0]), strings.TrimPrefix(fmt.Sprintf("%T", v), "*"), err)
}

// Call is a call in progress, made with Endpoint.Go. Its Reply and Err are
// valid once Done is closed.
type Call struct {
	Addr   netip.AddrPort  // where the request went
	Method string          // the remote method
	Reply  Reply           // the answer; nil on error
	Err    error           // why the call failed; nil on success
	Done   <-chan struct{} // closed when the call has finished
}

// Call calls method on the peer at addr with args and waits for the
// reply. It fails with an error wrapping ErrTimeout when no reply comes
// in time, with a *RemoteError when a Go peer answers with an error, and
// with ctx's error when ctx is cancelled. The call waits for the
// endpoint's timeout (WithTimeout) or until ctx's deadline, whichever
// comes first, and resends on the endpoint's retry policy (WithRetry); a
// ctx made by WithCallOptions sets both for the calls made with it. A nil
// ctx is context.Background().
func (e *Endpoint) Call(ctx context.Context, addr netip.AddrPort, method string, args ...any) (Reply, error) {
	ctx = orBackground(ctx)
	return e.callWith(ctx, e.callOptions(ctx), addr, method, args)
}

// callWith is Call with o, filled in, as the options.
func (e *Endpoint) callWith(ctx context.Context, o CallOptions, addr netip.AddrPort, method string, args []any) (Reply, error) {
	p := e.pending.get()
	r, err := e.call(ctx, p, o, addr, method, args)
	e.pending.recycle(p)
	return r, err
}

// Go starts a call as Call does and returns at once; the returned Call's
// Done channel is closed when it finishes. Use it to have many calls in
// flight. The arguments are encoded before Go returns, so the caller may
// reuse them at once.
func (e *Endpoint) Go(ctx context.Context, addr netip.AddrPort, method string, args ...any) *Call {
	done := make(chan struct{})
	c := &Call{Addr: normalize(addr), Method: method, Done: done}
	if e.closing.Load() {
		c.Err = ErrClosed
		e.stats.callsFailed.Add(1)
		close(done)
		return c
	}
	ctx = orBackground(ctx)
	p := e.pending.get()
	o := e.callOptions(ctx)
	if err := e.start(p, o, addr, method, args); err != nil {
		e.stats.callsFailed.Add(1)
		e.pending.recycle(p)
		c.Err = err
		close(done)
		return c
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.await(ctx, p, o)
		c.Reply, c.Err = p.reply, p.err
		e.pending.recycle(p)
		close(done)
	}()
	return c
}

// orBackground returns ctx, or context.Background() for a nil ctx.
func orBackground(ctx context.Context) context.Context {
	if ctx == nil {
		return context.Background()
	}
	return ctx
}

// call runs one synchronous call on p.
func (e *Endpoint) call(ctx context.Context, p *pending, o CallOptions, addr netip.AddrPort, method string, args []any) (Reply, error) {
	if err := ctx.Err(); err != nil {
		e.stats.callsFailed.Add(1)
		return nil, fmt.Errorf("rpcudp: %s to %s: %w", method, addr, err)
	}
	if err := e.start(p, o, addr, method, args); err != nil {
		e.stats.callsFailed.Add(1)
		return nil, err
	}
	e.await(ctx, p, o)
	return p.reply, p.err
}

// callOptions returns the options of a call made with ctx: those
// WithCallOptions put in ctx, filled in from the endpoint's defaults.
func (e *Endpoint) callOptions(ctx context.Context) CallOptions {
	o, _ := ctx.Value(callOptionsKey{}).(CallOptions)
	return e.withDefaults(o)
}

// withDefaults fills in a call's options from the endpoint's defaults.
func (e *Endpoint) withDefaults(o CallOptions) CallOptions {
	if o.Timeout <= 0 {
		o.Timeout = e.cfg.timeout
	}
	if o.Retry == nil {
		o.Retry = &e.cfg.retry
	}
	return o
}

// Notify sends a one-way message: the peer runs method's handler and sends
// nothing back. Python peers ignore notifications. ctx only stops a
// notification from being sent when it is already done (a nil ctx is
// context.Background()).
func (e *Endpoint) Notify(ctx context.Context, addr netip.AddrPort, method string, args ...any) error {
	if err := orBackground(ctx).Err(); err != nil {
		return err
	}
	if e.closing.Load() {
		return ErrClosed
	}
	bp := e.getBuf()
	defer e.putBuf(bp)
	var id msgID
	rand.Read(id[:])
	b, err := e.encodeRequest((*bp)[:0], typeNotify, id, method, args)
	if err != nil {
		return err
	}
	return e.sendCall(b, normalize(addr))
}

// start encodes the request, registers p and sends the datagram. The
// pending entry is registered before anything is sent, so that even an
// instant reply finds it.
func (e *Endpoint) start(p *pending, o CallOptions, addr netip.AddrPort, method string, args []any) error {
	if e.closing.Load() {
		return ErrClosed
	}
	addr = normalize(addr)
	if !addr.IsValid() || addr.Port() == 0 {
		return fmt.Errorf("rpcudp: call %s: invalid address %s", method, addr)
	}
	p.to, p.method = addr, method
	bp := e.getBuf()
	defer e.putBuf(bp)
	// The id is filled in after encoding: an oversize request must fail
	// before it takes a slot in the pending table.
	b, err := e.encodeRequest((*bp)[:0], typeRequest, msgID{}, method, args)
	if err != nil {
		return err
	}
	if err := e.pending.register(p); err != nil {
		return err
	}
	copy(b[1:headerLen], p.id[:])
	if o.Retry.enabled() {
		p.req = append(p.req[:0], b...)
	}
	if err := e.sendCall(b, addr); err != nil {
		if e.pending.take(p.id) == nil {
			// Close failed it meanwhile: consume its token so p stays
			// reusable.
			<-p.done
		}
		return err
	}
	return nil
}

// encodeRequest appends a whole request datagram to b.
func (e *Endpoint) encodeRequest(b []byte, typ byte, id msgID, method string, args []any) ([]byte, error) {
	if !utf8.ValidString(method) {
		return nil, fmt.Errorf("%w: method name %q", ErrInvalidUTF8, method)
	}
	b = appendRequestHeader(b, typ, id, method, len(args))
	c := e.codecs.get()
	defer e.codecs.put(c)
	for i, a := range args {
		var err error
		if b, err = c.encode(b, a); err != nil {
			return nil, fmt.Errorf("rpcudp: call %s: encode argument %d (%T): %w", method, i, a, err)
		}
		if len(b)-headerLen > MaxBody {
			break
		}
	}
	if n := len(b) - headerLen; n > MaxBody {
		return nil, fmt.Errorf("%w: %s request body is over %d bytes (limit %d)", ErrMessageTooLarge, method, n, MaxBody)
	}
	return b, nil
}

// await waits for p's reply, resending on the retry policy, until the
// call's deadline or ctx ends it. On return p is complete and out of the
// table.
func (e *Endpoint) await(ctx context.Context, p *pending, o CallOptions) {
	if p.timer == nil {
		p.timer = time.NewTimer(o.Timeout)
	} else {
		p.timer.Reset(o.Timeout)
	}
	defer p.timer.Stop()
	var resend <-chan time.Time // nil, so never ready, without retries
	var rt *time.Timer
	var backoff time.Duration
	if o.Retry.enabled() {
		backoff = o.Retry.next(0)
		rt = time.NewTimer(backoff)
		defer rt.Stop()
		resend = rt.C
	}
	for {
		select {
		case <-p.done:
			e.count(p.err)
			return
		case <-p.timer.C:
			e.abandon(p, fmt.Errorf("%w: %s to %s after %v", ErrTimeout, p.method, p.to, o.Timeout))
			return
		case <-ctx.Done():
			e.abandon(p, ctxErr(ctx, p))
			return
		case <-resend:
			if err := e.sendCall(p.req, p.to); err == nil {
				e.stats.retransmits.Add(1)
			}
			backoff = o.Retry.next(backoff)
			rt.Reset(backoff)
		}
	}
}

// ctxErr is the error of a call that ctx ended: a deadline is also a
// timeout.
func ctxErr(ctx context.Context, p *pending) error {
	err := ctx.Err()
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %s to %s: %w", ErrTimeout, p.method, p.to, err)
	}
	return fmt.Errorf("rpcudp: %s to %s: %w", p.method, p.to, err)
}

// abandon takes p out of the table and completes it with err, unless a
// reply (or Close) got there first, in which case that result stands.
func (e *Endpoint) abandon(p *pending, err error) {
	if e.pending.take(p.id) != nil {
		p.complete(nil, err)
	}
	<-p.done
	e.count(p.err)
}

func (e *Endpoint) count(err error) {
	switch {
	case err == nil:
		e.stats.callsOK.Add(1)
	case errors.Is(err, ErrTimeout):
		e.stats.callsTimedOut.Add(1)
	default:
		e.stats.callsFailed.Add(1)
	}
}
