package rpcudp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime/debug"
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
		var st cacheState
		st, ref = e.cache.begin(h.id, from, body, e)
		switch st {
		case cacheAnswered:
			e.stats.cacheHits.Add(1)
			return job{}, false
		case cacheRunning:
			e.drop(&e.stats.duplicate, from, fmt.Errorf("request %s is still running", h.id))
			return job{}, false
		}
	}
	if e.stats.running.Add(1) > int64(e.cfg.slots) {
		e.stats.running.Add(-1)
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
	return job{hf: hf, req: req, ref: ref}, true
}

// job is one request holding a handler slot.
type job struct {
	hf  HandlerFunc
	req *Request
	ref cacheRef
}

// run serves the job and gives its slot and request back.
func (e *Endpoint) run(j job) {
	e.serve(j.hf, j.req, j.ref)
	e.stats.running.Add(-1)
	if cap(j.req.args) <= MaxDatagram {
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
		c := e.codecs.get()
		b, err = c.encode(b, result)
		e.codecs.put(c)
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

func appendErrorReply(b []byte, id MsgID, code ErrorCode, method, msg string) []byte {
	b = append(b, TypeError)
	b = append(b, id[:]...)
	return appendErrorBody(b, code, method, msg)
}

// replyError sends an error reply straight from the read loop.
func (e *Endpoint) replyError(id MsgID, to netip.AddrPort, code ErrorCode, method, msg string) {
	bp := e.getBuf()
	defer e.putBuf(bp)
	if len(method) > 256 {
		method = method[:256]
	}
	b := appendErrorReply((*bp)[:0], id, code, method, msg)
	e.stats.errReps.Add(1)
	if err := e.send(b, to); err != nil {
		e.log.Debug("rpcudp: error reply not sent", "to", to, "err", err)
	}
}

// HandlerContext returns the context handlers run under: cancelled when
// Shutdown gives up waiting for them. Useful for work a handler starts in
// the background.
func (e *Endpoint) HandlerContext() context.Context { return e.baseCtx }
