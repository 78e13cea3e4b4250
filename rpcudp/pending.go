package rpcudp

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp/wire"
)

// pending is a call waiting for its reply. The table owns it from
// register until deliver, take or closeAll takes it out; whoever takes it
// out completes it, exactly once.
type pending struct {
	id     msgID
	to     netip.AddrPort
	method string
	req    []byte        // the request datagram, kept for resends
	done   chan struct{} // capacity 1: complete sends exactly one token
	timer  *time.Timer
	reply  Reply
	err    error
}

func (p *pending) complete(r Reply, err error) {
	p.reply, p.err = r, err
	p.done <- struct{}{}
}

// pendingTable is where replies are matched to calls. It knows nothing of
// the endpoint: deliver reports why a reply was refused, and the endpoint
// counts it.
type pendingTable struct {
	mu     sync.Mutex
	m      map[msgID]*pending
	max    int
	closed bool // closeAll has run: register refuses
	pool   sync.Pool
	codes  *errorCodes // the endpoint's, for the error replies received
}

// Reasons deliver refuses a reply (besides ErrMalformed).
var (
	errUnknownID   = errors.New("rpcudp: reply with an unknown id")
	errWrongSender = errors.New("rpcudp: reply from the wrong address")
)

func (t *pendingTable) init(max int, codes *errorCodes) {
	t.m = make(map[msgID]*pending)
	t.max, t.codes = max, codes
}

func (t *pendingTable) get() *pending {
	if p, ok := t.pool.Get().(*pending); ok {
		return p
	}
	return &pending{done: make(chan struct{}, 1)}
}

// recycle returns a pending entry to the pool once its result has been
// consumed (its done token received).
func (t *pendingTable) recycle(p *pending) {
	p.reply, p.err, p.method, p.req = nil, nil, "", p.req[:0]
	t.pool.Put(p)
}

// len returns the number of calls waiting.
func (t *pendingTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// register adds p under a fresh random id. It fails when the table is full
// or closed.
func (t *pendingTable) register(p *pending) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	if len(t.m) >= t.max {
		return fmt.Errorf("%w (%d)", ErrTooManyPending, t.max)
	}
	for {
		rand.Read(p.id[:])
		if _, dup := t.m[p.id]; !dup {
			break
		}
	}
	t.m[p.id] = p
	return nil
}

// take removes and returns the pending call with id, if it is still there.
func (t *pendingTable) take(id msgID) *pending {
	t.mu.Lock()
	p := t.m[id]
	if p != nil {
		delete(t.m, id)
	}
	t.mu.Unlock()
	return p
}

// deliver matches a reply or error reply to its call: by id, and only if
// it came from the address the call was sent to, and completes the call.
// Otherwise it returns why (an error wrapping errUnknownID, errWrongSender
// or ErrMalformed) and the call keeps waiting: a garbled or forged reply
// does not end it, since the real one may follow.
func (t *pendingTable) deliver(h header, body []byte, from netip.AddrPort) error {
	t.mu.Lock()
	p := t.m[h.id]
	switch {
	case p == nil:
		t.mu.Unlock()
		return fmt.Errorf("%w: %x", errUnknownID, h.id)
	case p.to != from:
		t.mu.Unlock()
		return fmt.Errorf("%w: %x expected from %s", errWrongSender, h.id, p.to)
	}
	var rerr *RemoteError
	var err error
	if h.typ == typeError {
		if rerr, err = parseErrorBody(body); err == nil {
			rerr.registered = t.codes.sentinel(rerr.Code)
		}
	} else if err = wire.Validate(body); err != nil {
		err = malformed(err)
	}
	if err != nil {
		t.mu.Unlock()
		return err
	}
	delete(t.m, h.id)
	t.mu.Unlock()
	if rerr != nil {
		p.complete(nil, rerr)
	} else {
		p.complete(append(Reply(nil), body...), nil)
	}
	return nil
}

// closeAll completes every pending call with ErrClosed; later registers
// fail with ErrClosed.
func (t *pendingTable) closeAll() {
	t.mu.Lock()
	t.closed = true
	all := make([]*pending, 0, len(t.m))
	for id, p := range t.m {
		all = append(all, p)
		delete(t.m, id)
	}
	t.mu.Unlock()
	for _, p := range all {
		p.complete(nil, ErrClosed)
	}
}
