package rpcudp

import "sync/atomic"

// Stats is a snapshot of an endpoint's counters.
type Stats struct {
	DatagramsIn  uint64 // datagrams read from the socket
	DatagramsOut uint64 // datagrams written to the socket
	SendErrors   uint64 // writes the socket refused

	CallsOK       uint64 // calls that got a reply (an error reply counts as failed)
	CallsTimedOut uint64 // calls that got no reply before their deadline
	CallsFailed   uint64 // calls that failed otherwise: error reply, cancelled, closed, send error
	Retransmits   uint64 // requests resent by the retry policy

	Requests      uint64 // requests handed to a handler
	Notifications uint64 // notifications handed to a handler
	CacheHits     uint64 // repeated requests answered from the reply cache
	ErrorReplies  uint64 // error replies sent

	// Drops counts inbound datagrams dropped, by reason.
	Drops struct {
		Malformed   uint64 // too short, unknown type byte, bad msgpack, wrong shape
		Oversize    uint64 // over MaxBody bytes of body (a reply: over a UDP datagram)
		UnknownID   uint64 // a reply whose id no call is waiting for
		WrongSender uint64 // a reply from an address other than the one called
		Overload    uint64 // every handler slot was busy, or the sender's share of them (WithHandlerSlots)
		RateLimited uint64 // refused by an interceptor with ErrRateLimited
		Duplicate   uint64 // a repeated request whose first copy is still running
		// Unproven counts replies not sent: over the credit of an address that
		// has not proved it receives, which then failed to prove itself (or
		// could not be asked to). See WithAntiAmplification.
		Unproven uint64
		// Kernel counts datagrams the kernel dropped before the endpoint could
		// read them (its receive buffer was full), as Linux reports it with
		// each datagram read (SO_RXQ_OVFL): it is learnt at the next datagram
		// that arrives after a loss. Always 0 elsewhere.
		Kernel uint64
	}

	Pending int64 // calls waiting for a reply now
	Running int64 // handlers running now

	// The socket's receive and send buffer sizes as the kernel reports
	// them (Linux reports twice the size granted, its bookkeeping
	// included); 0 when unknown (not a socket, or not Linux). See
	// WithSocketBuffers.
	RecvBuffer, SendBuffer int
}

type counters struct {
	datagramsIn, datagramsOut, sendErrors       atomic.Uint64
	callsOK, callsTimedOut, callsFailed         atomic.Uint64
	retransmits                                 atomic.Uint64
	requests, notifications, cacheHits, errReps atomic.Uint64
	malformed, oversize, unknownID, wrongSender atomic.Uint64
	overload, rateLimited, duplicate, unproven  atomic.Uint64
	kernelDrops                                 atomic.Uint64
	running                                     atomic.Int64
}

// snapshot reads the counters; Pending is the pending table's to fill in.
func (c *counters) snapshot() Stats {
	s := Stats{
		DatagramsIn:   c.datagramsIn.Load(),
		DatagramsOut:  c.datagramsOut.Load(),
		SendErrors:    c.sendErrors.Load(),
		CallsOK:       c.callsOK.Load(),
		CallsTimedOut: c.callsTimedOut.Load(),
		CallsFailed:   c.callsFailed.Load(),
		Retransmits:   c.retransmits.Load(),
		Requests:      c.requests.Load(),
		Notifications: c.notifications.Load(),
		CacheHits:     c.cacheHits.Load(),
		ErrorReplies:  c.errReps.Load(),
		Running:       c.running.Load(),
	}
	d := &s.Drops
	d.Malformed, d.Oversize = c.malformed.Load(), c.oversize.Load()
	d.UnknownID, d.WrongSender = c.unknownID.Load(), c.wrongSender.Load()
	d.Overload, d.RateLimited = c.overload.Load(), c.rateLimited.Load()
	d.Duplicate, d.Unproven, d.Kernel = c.duplicate.Load(), c.unproven.Load(), c.kernelDrops.Load()
	return s
}

// setKernelDrops records the kernel's count of datagrams dropped on the
// socket, a 32-bit counter that may wrap: the counter keeps the total.
func (c *counters) setKernelDrops(n uint32) {
	for {
		old := c.kernelDrops.Load()
		if uint32(old) == n {
			return
		}
		// Advance by the 32-bit difference, so a wrap keeps counting up.
		if c.kernelDrops.CompareAndSwap(old, old+uint64(n-uint32(old))) {
			return
		}
	}
}
