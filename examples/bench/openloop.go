package main

import (
	"context"
	"time"
)

// lateSlack is how far behind its scheduled time an open-loop call may be
// sent and still count as on time: the timer's and scheduler's jitter.
const lateSlack = time.Millisecond

// earlySlack is how far ahead of its scheduled time an open-loop call may
// be sent. Timers are coarse (on Linux a sleep under a millisecond often
// lasts one), so a pacer that slept until each scheduled time would send
// late by as much, and that would count in every latency. Instead it
// sleeps until up to earlySlack before, and a call sent early counts its
// latency from when it was sent: the round trip, with no credit taken.
const earlySlack = time.Millisecond

// pacer is the open loop's clock: one goroutine handing each call of the
// schedule, at its time, to one of the -c load goroutines waiting for
// work. When none is free the pacer waits, and the calls it holds back
// count their wait in their latencies, as wrk2 does: no coordinated
// omission. Its counters are read once run has returned.
type pacer struct {
	l   *load
	due chan time.Time // unbuffered: a call goes out only to a free goroutine

	sent, late, heldBack uint64
	maxLag               time.Duration
	catchingUp           bool // late since a call waited for a free goroutine
}

// scheduled returns the calls the schedule holds: -n, or -d times the
// rate.
func (l *load) scheduled() int64 {
	if l.cfg.Duration > 0 {
		return int64(l.cfg.Duration.Seconds() * l.rate)
	}
	return int64(l.cfg.N)
}

// due returns the scheduled send time of call i.
func (l *load) due(i int64) time.Time {
	return l.start.Add(time.Duration(float64(i) / l.rate * float64(time.Second)))
}

// run hands out the schedule until it is done, the run's time is up, or
// ctx is cancelled, then closes p.due.
func (p *pacer) run(ctx context.Context) {
	defer close(p.due)
	n := p.l.scheduled()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for i := int64(0); i < n && !p.l.stop.Load(); i++ {
		t := p.l.due(i)
		if wait := time.Until(t) - earlySlack; wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		}
		blocked := false
		select {
		case p.due <- t:
		default:
			blocked = true // every load goroutine is busy
			select {
			case p.due <- t:
			case <-ctx.Done():
				return
			}
		}
		p.count(t, blocked)
	}
}

// count records a call handed out, scheduled at t. A late call was held
// back when it, or a call before it since the schedule was last kept,
// waited for a free goroutine (the backlog of a stall); else the pacer
// itself was late (its timer, or the CPU).
func (p *pacer) count(t time.Time, blocked bool) {
	lag := time.Since(t)
	p.sent++
	p.maxLag = max(p.maxLag, lag)
	p.catchingUp = p.catchingUp || blocked
	if lag <= lateSlack {
		p.catchingUp = false
		return
	}
	p.late++
	if p.catchingUp {
		p.heldBack++
	}
}

// result adds the pacer's counts to res: the calls of the schedule never
// sent (the run's time was up) were held back too, unless interrupted.
func (p *pacer) result(res *RunResult, interrupted bool) {
	res.Scheduled = uint64(p.l.scheduled())
	if interrupted {
		res.Scheduled = p.sent
	}
	res.Late, res.HeldBack = p.late, p.heldBack
	if res.Scheduled > p.sent {
		res.Late += res.Scheduled - p.sent
		res.HeldBack += res.Scheduled - p.sent
	}
	res.MaxLagUs = p.maxLag.Microseconds()
}

// workOpen is one open-loop goroutine, one of the -c slots: it makes the
// calls the pacer hands it, and counts each latency from the call's
// scheduled time (or from when it went out, if early).
func (l *load) workOpen(ctx context.Context, call callFunc, ws *workerStats, hs *histShard) {
	for t := range l.pacer.due {
		if l.stop.Load() || ctx.Err() != nil {
			continue // the run is over: let the pacer finish
		}
		if now := time.Now(); now.Before(t) {
			t = now // sent early: its latency counts from now
		}
		o, err := call(ctx)
		l.record(ctx, ws, hs, o, err, t)
	}
}
