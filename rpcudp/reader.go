package rpcudp

import (
	"sync/atomic"
	"time"
)

// inlineBudget is how long a handler may run on the read loop's goroutine
// before another goroutine takes over reading.
const inlineBudget = 200 * time.Microsecond

// reader is one goroutine's turn at the read loop. Handlers run on the
// reading goroutine itself, which saves a goroutine hand-off per request
// (the largest cost after the system calls). A watchdog timer guards each
// such run: if the handler is still busy after inlineBudget, the watchdog
// starts a new reader, and the old goroutine, once its handler returns,
// ends instead of reading again. So a slow or blocking handler never holds
// up other requests or the replies to the endpoint's own calls for longer
// than the budget, and handlers still run concurrently, up to the handler
// slots (Stats.Running).
type reader struct {
	e     *Endpoint
	state atomic.Int32
	watch *time.Timer
}

const (
	readerReading  int32 = iota // in the read loop
	readerInline                // running a handler, still the reader
	readerDetached              // running a handler; another goroutine reads now
)

// startReader starts a goroutine on the read loop.
func (e *Endpoint) startReader() {
	r := &reader{e: e}
	r.watch = time.AfterFunc(time.Hour, r.detach)
	r.watch.Stop()
	e.wg.Add(1)
	go e.readLoop(r)
}

// serveInline runs j on the reading goroutine. It reports whether this
// goroutine is still the reader afterwards.
func (r *reader) serveInline(j job) bool {
	r.state.Store(readerInline)
	r.watch.Reset(inlineBudget)
	r.e.run(j)
	if r.state.CompareAndSwap(readerInline, readerReading) {
		r.watch.Stop()
		return true
	}
	return false
}

// detach runs when a handler overstays its budget: another goroutine takes
// over the read loop. (The WaitGroup cannot be at zero here: the detached
// goroutine still counts.)
func (r *reader) detach() {
	if r.state.CompareAndSwap(readerInline, readerDetached) {
		r.e.startReader()
	}
}
