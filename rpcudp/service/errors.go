package service

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/rpcudp/go-rpcudp/rpcudp"
)

// Sentinel errors. Errors returned by this package wrap them; on the
// caller's side, Client turns an error reply back into the sentinel it
// stands for, so errors.Is works across the network.
var (
	// ErrNoNamespace: no endpoint has the namespace asked for.
	ErrNoNamespace = errors.New("service: no such namespace")
	// ErrIncompatibleVersion: endpoints of the namespace have the method,
	// but none at a compatible version (same major, minor at least the
	// one asked for).
	ErrIncompatibleVersion = errors.New("service: incompatible version")
	// ErrNoSuchMethod: no endpoint of the namespace has the method.
	ErrNoSuchMethod = errors.New("service: no such method")
	// ErrClaimed: claim refused, the server is claimed already.
	ErrClaimed = errors.New("service: already claimed")
	// ErrBadToken: a claimed method, reclaim or unclaim came without the
	// token of the current claim (none given, a wrong one, or the claim
	// has lapsed).
	ErrBadToken = errors.New("service: invalid claim token")
	// ErrStopped: the server is not taking requests (not started, or
	// stopped).
	ErrStopped = errors.New("service: not serving")
	// ErrNoSuchSignal: the server declares no signal of that name.
	ErrNoSuchSignal = errors.New("service: no such signal")
	// ErrNoSuchProperty: the server declares no property of that name.
	ErrNoSuchProperty = errors.New("service: no such property")
	// ErrReadOnly: the property cannot be set remotely.
	ErrReadOnly = errors.New("service: property is read-only")
	// ErrTooManySubscribers: the signal has its maximum of subscribers
	// (1024), or of subscribers from the caller's network (32 per IPv4
	// /24 or IPv6 /48) or at its address (8; 32 at a loopback address).
	ErrTooManySubscribers = errors.New("service: too many subscribers")
	// ErrLost: a Claim or a Subscription was lost: the server refused a
	// reclaim or no longer has the signal, or acknowledged no reclaim or
	// renewal in time (see Claim.Err, Subscription.Err).
	ErrLost = errors.New("service: lost")
	// ErrClosed: the Client is closed.
	ErrClosed = errors.New("service: client closed")
)

// remoteSentinels are the sentinels an error reply may stand for, found
// by the start of its message.
var remoteSentinels = []error{
	ErrNoNamespace, ErrIncompatibleVersion, ErrNoSuchMethod, ErrClaimed, ErrBadToken,
	ErrStopped, ErrNoSuchSignal, ErrNoSuchProperty, ErrReadOnly, ErrTooManySubscribers,
}

// wireErr is an error a handler of this package returns: its text starts
// with its sentinel's, and it matches the core sentinel that picks its
// error code (rpcudp.ErrUnknownMethod gives code 2).
type wireErr struct {
	sentinel, core error
	detail         string
}

func (e *wireErr) Error() string {
	if e.detail == "" {
		return e.sentinel.Error()
	}
	return e.sentinel.Error() + ": " + e.detail
}

func (e *wireErr) Unwrap() []error {
	if e.core == nil {
		return []error{e.sentinel}
	}
	return []error{e.sentinel, e.core}
}

// maxQuoted bounds how much of a caller's string (a name it asked for,
// a session) an error reply quotes, in bytes quoted, so that an error is
// never much larger than the request that made it.
const maxQuoted = 32

// quote quotes s, or its longest prefix whose quoting fits in maxQuoted
// bytes (quotes aside) then "...".
func quote(s string) string {
	q := strconv.Quote(s)
	if len(q) <= maxQuoted+2 {
		return q
	}
	for cut := min(len(s), maxQuoted); ; cut-- {
		for cut > 0 && cut < len(s) && !utf8.RuneStart(s[cut]) {
			cut--
		}
		if q = strconv.Quote(s[:cut]); len(q) <= maxQuoted+2 {
			return q + "..."
		}
	}
}

// errf returns a wireErr for sentinel with detail.
func errf(sentinel error, detail string) error {
	var core error
	switch sentinel {
	case ErrNoNamespace, ErrIncompatibleVersion, ErrNoSuchMethod:
		core = rpcudp.ErrUnknownMethod
	}
	return &wireErr{sentinel: sentinel, core: core, detail: detail}
}

// remoteErr is an error reply recognised as one of this package's
// sentinels.
type remoteErr struct {
	sentinel error
	re       *rpcudp.RemoteError
}

func (e *remoteErr) Error() string   { return e.re.Error() }
func (e *remoteErr) Unwrap() []error { return []error{e.sentinel, e.re} }

// fromRemote maps an error reply whose message starts with one of this
// package's sentinels to an error matching it; other errors pass as they
// are.
func fromRemote(err error) error {
	var re *rpcudp.RemoteError
	if !errors.As(err, &re) {
		return err
	}
	for _, s := range remoteSentinels {
		if strings.HasPrefix(re.Message, s.Error()) {
			return &remoteErr{sentinel: s, re: re}
		}
	}
	return err
}
