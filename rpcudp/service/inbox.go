package service

import (
	"sync"
	"time"
)

const (
	// reorderWindow is how many emissions an inbox holds back while it
	// waits for a missing one; beyond, it gives the missing one up.
	reorderWindow = 16
	// reorderWait is how long an inbox waits for a missing emission.
	reorderWait = 100 * time.Millisecond
)

// inbox puts a subscription's emissions back in order (an endpoint runs
// notifications concurrently, and the network may reorder them), drops
// repeats, counts gaps, and hands the emissions to the reader's channel.
type inbox struct {
	mu     sync.Mutex
	ch     chan Emission
	closed bool
	next   uint64 // the number expected next; 0 until the first renewal
	epoch  uint32 // the server's signal instance
	held   map[uint64]Emission
	missed uint64 // not reported yet: gaps, and emissions the full channel refused
	timer  *time.Timer
}

func newInbox() *inbox {
	return &inbox{ch: make(chan Emission, emissionBuffer), held: map[uint64]Emission{}}
}

// restartLocked expects next from now on.
func (b *inbox) restartLocked(next uint64) {
	b.next = next
	for s := range b.held {
		if s < next {
			delete(b.held, s)
		}
	}
	b.settleLocked()
}

// add takes an emission in.
func (b *inbox) add(em Emission) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || em.Seq == 0 || (b.next != 0 && em.Seq < b.next) {
		return // a repeat or one given up
	}
	if _, dup := b.held[em.Seq]; dup {
		return
	}
	if b.next == 0 && len(b.held) >= reorderWindow {
		return // before the first renewal, hold no more than the window
	}
	b.held[em.Seq] = em
	if b.next != 0 {
		b.settleLocked()
	}
}

// renewed takes a renewal in. The first one, or one from a server that
// started afresh (another epoch), sets the number expected next; a later
// one reports whether emissions after the last one received are missing
// (or still in flight). A reply to an early copy of a renewal may carry
// an older count: it reports nothing.
func (b *inbox) renewed(rn renewal) (behind bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.next == 0 || rn.epoch != b.epoch {
		b.epoch = rn.epoch
		b.restartLocked(rn.seq + 1)
		return false
	}
	return rn.seq >= b.next
}

// settleLocked hands on the emissions in order, gives up a gap when too
// many wait behind it, and otherwise waits for it a while.
func (b *inbox) settleLocked() {
	for {
		b.drainLocked()
		if len(b.held) <= reorderWindow {
			break
		}
		b.skipLocked()
	}
	switch {
	case len(b.held) == 0 && b.timer != nil:
		b.timer.Stop()
		b.timer = nil
	case len(b.held) > 0 && b.timer == nil && !b.closed:
		b.timer = time.AfterFunc(reorderWait, b.expire)
	}
}

// expire gives up the gap the inbox has waited for.
func (b *inbox) expire() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.timer = nil
	if b.closed {
		return
	}
	b.skipLocked()
	b.settleLocked()
}

// skipLocked gives up the numbers up to the lowest one held.
func (b *inbox) skipLocked() {
	lowest := uint64(0)
	for s := range b.held {
		if lowest == 0 || s < lowest {
			lowest = s
		}
	}
	if lowest > b.next {
		b.missed += lowest - b.next
		b.next = lowest
	}
	b.drainLocked()
}

// drainLocked hands on the held emissions that come next in order.
func (b *inbox) drainLocked() {
	for {
		em, ok := b.held[b.next]
		if !ok {
			return
		}
		delete(b.held, b.next)
		b.next++
		em.Missed = b.missed
		select {
		case b.ch <- em:
			b.missed = 0
		default:
			b.missed++
		}
	}
}

// isClosed reports whether close has been called.
func (b *inbox) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// close closes the channel; later emissions are dropped.
func (b *inbox) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.closed = true
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	close(b.ch)
}
