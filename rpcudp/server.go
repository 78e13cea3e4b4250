package rpcudp

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime/debug"
	"sync"
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
	notify := h.typ == typeNotify
	name, hf := e.handlers.lookup(method)
	ref := cacheRef{slot: -1}
	var cached *[]byte // a repeat's cached reply
	if !notify && e.cache != nil {
		var ok bool
		if ref, cached, ok = e.checkCache(h.id, from, body); !ok {
			return job{}, false
		}
		if cached != nil {
			defer e.putBuf(cached)
			hf = e.handlers.cached
		}
	}
	src := sourceOf(from)
	if !e.takeShare(src) {
		e.cache.abort(ref)
		e.drop(&e.stats.overload, from, fmt.Errorf("source %v holds its share of the handler slots", src.addr))
		return job{}, false
	}
	if !e.takeSlot() {
		e.fair.release(src)
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
	req.cached = cached != nil
	if req.cached {
		req.body = append(req.body[:0], *cached...)
	}
	return job{hf: hf, req: req, ref: ref, src: src}, true
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
		if !g.wait() {
			g.stalled = true
			return false
		}
	}
}

// wait waits at most slotWait for a handler to finish and reports
// whether one did. Only the read loop calls it.
func (g *slotGate) wait() bool {
	if g.timer == nil {
		g.timer = time.NewTimer(slotWait)
	} else {
		g.timer.Reset(slotWait)
	}
	select {
	case <-g.freed:
		g.timer.Stop()
		return true
	case <-g.timer.C:
		return false
	}
}

// takeShare counts a slot against src's share (see sourceSlots). A source
// over its share while half the slots are busy waits, as takeSlot does,
// for a handler to finish, at most slotWait: in a burst of fast handlers
// one does at once. After a wait in vain (its slow handlers hold its
// share) the source is stalled, and its requests over its share are
// dropped at once, without holding up the read loop, until it holds fewer
// than its share. Only the read loop calls it.
func (e *Endpoint) takeShare(src sourceKey) bool {
	for {
		switch e.fair.take(src, e.stats.running.Load()) {
		case shareTaken:
			return true
		case shareRefused:
			return false
		}
		if !e.gate.wait() {
			e.fair.stall(src)
			return false
		}
	}
}

// checkCache looks a request up in the reply cache. A repeat of an
// answered request returns the cached reply (in a buffer of getBuf's), to
// be answered again in a handler slot, after the interceptors (so that a
// rate limit or a reply budget applies to repeats too); a repeat of a
// running one is dropped (ok false). A new request gets a reserved slot.
func (e *Endpoint) checkCache(id msgID, from netip.AddrPort, body []byte) (ref cacheRef, cached *[]byte, ok bool) {
	bp := e.getBuf()
	st, ref, reply := e.cache.begin(id, from, body, *bp)
	switch st {
	case cacheAnswered:
		*bp = reply
		return ref, bp, true
	case cacheRunning:
		e.drop(&e.stats.duplicate, from, fmt.Errorf("request %x is still running", id))
		e.putBuf(bp)
		return ref, nil, false
	}
	e.putBuf(bp)
	return ref, nil, true
}

// job is one request holding a handler slot.
type job struct {
	hf  HandlerFunc
	req *Request
	ref cacheRef
	src sourceKey // whose share of the slots it holds
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
	e.fair.release(j.src)
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
	switch {
	case req.Notify:
		e.stats.notifications.Add(1)
	case !req.cached:
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
	if req.cached && err == nil {
		e.stats.cacheHits.Add(1)
		if err := e.sendReply(req.body, req.From); err != nil {
			e.log.Debug("rpcudp: cached reply not sent", "to", req.From, "err", err)
		}
		return
	}
	bp := e.getBuf()
	defer e.putBuf(bp)
	b := *bp
	if err == nil {
		b = append(b, typeResponse)
		b = append(b, req.ID[:]...)
		b, err = e.encodeResult(b, req, result)
		switch {
		case err != nil:
			err = fmt.Errorf("%w: encode reply (%T): %w", ErrHandler, result, err)
		case len(b)-headerLen > MaxBody:
			err = fmt.Errorf("%w: %s reply body is %d bytes (limit %d)", ErrMessageTooLarge, req.Method, len(b)-headerLen, MaxBody)
		}
	}
	if err != nil {
		e.log.Debug("rpcudp: handler failed", "from", req.From, "method", req.Method, "err", err)
		b = appendErrorReply(b[:0], req.ID, e.codeOf(err), req.Method, err.Error())
		e.stats.errReps.Add(1)
	}
	e.cache.finish(ref, b)
	if err := e.sendReply(b, req.From); err != nil {
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

// sourceSlots shares the handler slots fairly between sources: while half
// the slots are busy, a source that holds its share, max(4, slots/8), gets
// no more, so that one source's slow requests leave at least half the
// slots to the others.
type sourceSlots struct {
	mu    sync.Mutex
	held  map[sourceKey]sourceUse // sources holding no slot are absent
	share int32
	half  int64
}

type sourceUse struct {
	n       int32 // slots held
	stalled bool  // over its share after a wait in vain (takeShare)
}

// sourceKey is a source for the slots' shares: an IPv4 address, an IPv6
// /64 (one host's addresses), or on loopback an address and port (local
// processes are distinct clients, and cannot be forged).
type sourceKey struct {
	addr netip.Addr
	port uint16
}

func sourceOf(ap netip.AddrPort) sourceKey {
	a := ap.Addr()
	switch {
	case a.IsLoopback():
		return sourceKey{a, ap.Port()}
	case a.Is6():
		p, _ := a.WithZone("").Prefix(64)
		return sourceKey{addr: p.Addr()}
	}
	return sourceKey{addr: a}
}

func (s *sourceSlots) init(slots int) {
	s.held = make(map[sourceKey]sourceUse)
	s.share = int32(max(4, slots/8))
	s.half = int64(slots / 2)
}

type shareState int

const (
	shareTaken   shareState = iota // a slot is counted for the source
	shareWait                      // over its share: wait for a handler to finish
	shareRefused                   // over its share and stalled: drop
)

// take counts a slot for src unless src holds its share and running (the
// slots busy) is at least half of them.
func (s *sourceSlots) take(src sourceKey, running int64) shareState {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.held[src]
	switch {
	case u.n < s.share:
		u.stalled = false
	case running < s.half:
	case u.stalled:
		return shareRefused
	default:
		return shareWait
	}
	u.n++
	s.held[src] = u
	return shareTaken
}

// stall marks src as stalled (see takeShare).
func (s *sourceSlots) stall(src sourceKey) {
	s.mu.Lock()
	if u, ok := s.held[src]; ok {
		u.stalled = true
		s.held[src] = u
	}
	s.mu.Unlock()
}

// release gives back a slot taken for src.
func (s *sourceSlots) release(src sourceKey) {
	s.mu.Lock()
	if u := s.held[src]; u.n > 1 {
		u.n--
		s.held[src] = u
	} else {
		delete(s.held, src)
	}
	s.mu.Unlock()
}
