package service

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/rpcudp/go-rpcudp/rpcudp"
)

// Sentinel errors. Errors returned by this package wrap them; those a
// server sends (all but ErrLost and ErrClosed) cross the wire under an
// error code each (see the package doc), so errors.Is works on the
// caller's side too. ErrNoNamespace, ErrIncompatibleVersion and
// ErrNoSuchMethod also match rpcudp.ErrUnknownMethod.
var (
	// ErrNoNamespace: no group has the namespace asked for.
	ErrNoNamespace error = &unknownMethod{"service: no such namespace"}
	// ErrIncompatibleVersion: groups of the namespace have the method,
	// but none at a compatible version (same major, minor at least the
	// one asked for).
	ErrIncompatibleVersion error = &unknownMethod{"service: incompatible version"}
	// ErrNoSuchMethod: no group of the namespace has the method.
	ErrNoSuchMethod error = &unknownMethod{"service: no such method"}
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

// unknownMethod is a sentinel that is a kind of rpcudp.ErrUnknownMethod.
type unknownMethod struct{ msg string }

func (e *unknownMethod) Error() string { return e.msg }
func (e *unknownMethod) Unwrap() error { return rpcudp.ErrUnknownMethod }

// wireErrors are the sentinels a server's error replies carry, by error
// code (rpcudp/service's range is 200-299). The codes are wire protocol:
// never change or reuse one.
var wireErrors = [...]struct {
	code rpcudp.ErrorCode
	err  error
}{
	{200, ErrNoNamespace}, {201, ErrIncompatibleVersion}, {202, ErrNoSuchMethod},
	{203, ErrClaimed}, {204, ErrBadToken}, {205, ErrStopped}, {206, ErrNoSuchSignal},
	{207, ErrNoSuchProperty}, {208, ErrReadOnly}, {209, ErrTooManySubscribers},
}

// registerErrors registers wireErrors on ep, the endpoint of a Server
// (its error replies carry the codes) or a Client (the error replies it
// gets match the sentinels). Registering them twice on one endpoint, for
// a server and a client, is fine.
func registerErrors(ep *rpcudp.Endpoint) error {
	for _, w := range wireErrors {
		if err := ep.RegisterError(w.code, w.err); err != nil {
			return fmt.Errorf("service: error code %d: %w", w.code, err)
		}
	}
	return nil
}

// wireErr is an error a handler of this package returns: its text starts
// with its sentinel's, which picks its error code.
type wireErr struct {
	sentinel error
	detail   string
}

func (e *wireErr) Error() string {
	if e.detail == "" {
		return e.sentinel.Error()
	}
	return e.sentinel.Error() + ": " + e.detail
}

func (e *wireErr) Unwrap() error { return e.sentinel }

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
	return &wireErr{sentinel: sentinel, detail: detail}
}
