package rpcudp

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime/debug"
	"time"
)

// dispatch hands an inbound request or notification to a handler slot. It
// runs on the read loop, so it only parses the envelope, checks the reply
// cache and the slots, and copies what the handler needs.
func (e *Endpoint) dispatch(h header, body []byte, from netip.AddrPort) (job, bool) {
	method, nargs, args, err := parseRequest(body)
	if err != nil {
		e.drop(&e.stats.malformed, from, err)
		return job{}, false
	}
	notify := h.typ == TypeNotify
	name, hf := e.handlers.lookup(method)
	if hf == nil {
		e.log.Debug("rpcudp: unknown method", "from", from, "method", string(method))
		if !notify {
			e.replyError(h.id, from, CodeUnknownMethod, string(method), "unknown method")
		}
		return job{}, false
	}
	ref := cacheRef{slot: -1}
	if !notify && e.cache != nil {
		var ok bool
		if ref, ok = e.checkCache(h.id, from, body); !ok {
			return job{}, false
		}
	}
	if !e.takeSlot() {
		e.cache.abort(ref)
		e.drop(&e.stats.overload, from, fmt.Errorf("all %d handler slots busy", e.cfg.slots))
		return job{}, false
	}
	req, _ := e.reqs.Get().(*Request)
	if req == nil {
		req = &Request{codecs: &e.codecs}
	}
	req.From, req.ID, req.Notify, req.nargs = from, h.id, notify, nargs
	req.Method = name
	req.args = append(req.args[:0], args...)
	req.direct = e.handlers.direct
	return job{hf: hf, req: req, ref: ref}, true
}

// slotWait bounds how long the read loop waits for a handler slot.
const slotWait = 100 * time.Millisecond

// slotGate is the read loop's wait for a free handler slot: in a burst,
// a request that finds every slot busy waits (in the socket's buffer, and
// the read loop with it) for a handler to finish instead of being dropped.
// After one wait in vain (slow handlers hold every slot), requests are
// dropped at once until a slot frees up.
type slotGate struct {
	freed   chan struct{} // capacity 1: a handler finished
	timer   *time.Timer   // the read loop's, made on first use
	stalled bool          // the last wait ran out
}

// release signals that a slot was given back.
func (g *slotGate) release() {
	select {
	case g.freed <- struct{}{}:
	default:
	}
}

// takeSlot takes a handler slot, waiting for one as slotGate describes.
// Only the read loop calls it.
func (e *Endpoint) takeSlot() bool {
	g := &e.gate
	for {
		if e.stats.running.Add(1) <= int64(e.cfg.slots) {
			g.stalled = false
			return true
		}
		e.stats.running.Add(-1)
		if g.stalled {
			return false
		}
		if g.timer == nil {
			g.timer = time.NewTimer(slotWait)
		} else {
			g.timer.Reset(slotWait)
		}
		select {
		case <-g.freed:
			g.timer.Stop()
		case <-g.timer.C:
			g.stalled = true
			return false
		}
	}
}

// checkCache looks a request up in the reply cache: a repeat of an
// answered request is answered again from it, a repeat of a running one
// dropped; either way ok is false. A new request gets a reserved slot.
func (e *Endpoint) checkCache(id MsgID, from netip.AddrPort, body []byte) (ref cacheRef, ok bool) {
	bp := e.getBuf()
	defer e.putBuf(bp)
	st, ref, reply := e.cache.begin(id, from, body, *bp)
	switch st {
	case cacheAnswered:
		e.stats.cacheHits.Add(1)
		if err := e.send(reply, from); err != nil {
			e.log.Debug("rpcudp: cached reply not sent", "to", from, "err", err)
		}
		return ref, false
	case cacheRunning:
		e.drop(&e.stats.duplicate, from, fmt.Errorf("request %s is still running", id))
		return ref, false
	}
	return ref, true
}

// job is one request holding a handler slot.
type job struct {
	hf  HandlerFunc
	req *Request
	ref cacheRef
}

// handOver hands a job to an idle runner, or starts a runner for it. It
// runs on the read loop.
func (e *Endpoint) handOver(j job) {
	select {
	case e.jobs <- j:
	default:
		e.wg.Add(1) // the read loop's own count keeps the group above zero
		go e.runner(j)
	}
}

// runnerIdle is how long a runner waits for its next job before it ends.
const runnerIdle = time.Second

// runner is a handler goroutine: it serves its job, then waits a while
// for another one (so that a busy endpoint does not start a goroutine per
// request), and ends once idle, or when the endpoint shuts down. Every job
// still runs on a goroutine of its own: a slow handler holds up nothing
// else.
func (e *Endpoint) runner(j job) {
	defer e.wg.Done()
	idle := time.NewTimer(runnerIdle)
	defer idle.Stop()
	for {
		e.run(j)
		idle.Reset(runnerIdle)
		select {
		case j = <-e.jobs:
		case <-idle.C:
			return
		case <-e.quit:
			return
		}
	}
}

// run serves a job and gives its slot and request back.
func (e *Endpoint) run(j job) {
	e.serve(j.hf, j.req, j.ref)
	e.stats.running.Add(-1)
	e.gate.release()
	j.req.direct = false
	if cap(j.req.args) <= maxDatagram && cap(j.req.body) <= maxDatagram {
		e.reqs.Put(j.req)
	}
}

// serve runs one handler in its slot and sends its answer: the reply, or
// for Go callers an error reply.
func (e *Endpoint) serve(hf HandlerFunc, req *Request, ref cacheRef) {
	if req.Notify {
		e.stats.notifications.Add(1)
	} else {
		e.stats.requests.Add(1)
	}
	result, err := e.invoke(hf, req)
	if errors.Is(err, ErrRateLimited) {
		e.cache.abort(ref)
		e.drop(&e.stats.rateLimited, req.From, err)
		return
	}
	if req.Notify {
		if err != nil {
			e.log.Debug("rpcudp: notification handler failed", "from", req.From, "method", req.Method, "err", err)
		}
		return
	}
	bp := e.getBuf()
	defer e.putBuf(bp)
	b := *bp
	if err == nil {
		b = append(b, TypeResponse)
		b = append(b, req.ID[:]...)
		b, err = e.encodeResult(b, req, result)
		switch {
		case err != nil:
			err = fmt.Errorf("%w: encode reply (%T): %w", ErrHandler, result, err)
		case len(b)-HeaderLen > MaxBody:
			err = fmt.Errorf("%w: %s reply body is %d bytes (limit %d)", ErrMessageTooLarge, req.Method, len(b)-HeaderLen, MaxBody)
		}
	}
	if err != nil {
		e.log.Debug("rpcudp: handler failed", "from", req.From, "method", req.Method, "err", err)
		b = appendErrorReply(b[:0], req.ID, codeOf(err), req.Method, err.Error())
		e.stats.errReps.Add(1)
	}
	e.cache.finish(ref, b)
	if err := e.send(b, req.From); err != nil {
		e.log.Debug("rpcudp: reply not sent", "to", req.From, "err", err)
	}
}

// encodeResult appends a handler's result: packed now, or already packed
// into req by a typed handler (see packResult).
func (e *Endpoint) encodeResult(b []byte, req *Request, result any) ([]byte, error) {
	if _, ok := result.(packedResult); ok {
		return append(b, req.body...), nil
	}
	c := e.codecs.get()
	defer e.codecs.put(c)
	return c.encode(b, result)
}

// invoke runs the handler, turning a panic into an error.
func (e *Endpoint) invoke(hf HandlerFunc, req *Request) (result any, err error) {
	defer func() {
		if r := recover(); r != nil {
			e.log.Error("rpcudp: handler panicked", "method", req.Method, "from", req.From, "panic", r, "stack", string(debug.Stack()))
			result, err = nil, fmt.Errorf("%w: %v", ErrHandlerPanic, r)
		}
	}()
	return hf(e.baseCtx, req)
}

func codeOf(err error) ErrorCode {
	switch {
	case errors.Is(err, ErrHandlerPanic):
		return CodePanic
	case errors.Is(err, ErrBadArgs):
		return CodeBadArgs
	case errors.Is(err, ErrMessageTooLarge):
		return CodeReplyTooLarge
	case errors.Is(err, ErrUnknownMethod):
		return CodeUnknownMethod
	default:
		return CodeHandlerError
	}
}

// replyError sends an error reply straight from the read loop.
func (e *Endpoint) replyError(id MsgID, to netip.AddrPort, code ErrorCode, method, msg string) {
	bp := e.getBuf()
	defer e.putBuf(bp)
	b := appendErrorReply((*bp)[:0], id, code, method, msg)
	e.stats.errReps.Add(1)
	if err := e.send(b, to); err != nil {
		e.log.Debug("rpcudp: error reply not sent", "to", to, "err", err)
	}
}
