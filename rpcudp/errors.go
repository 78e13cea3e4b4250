package rpcudp

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// Sentinel errors. Use errors.Is to test for them; the errors returned by
// this package wrap them with detail.
var (
	// ErrTimeout: no reply arrived before the call's deadline. When the
	// deadline came from the caller's context, the error also matches
	// context.DeadlineExceeded.
	ErrTimeout = errors.New("rpcudp: call timed out")
	// ErrClosed: the endpoint is closed (or closing); the call was not sent
	// or its pending reply was abandoned.
	ErrClosed = errors.New("rpcudp: endpoint closed")
	// ErrMessageTooLarge: a request or reply body is over MaxBody bytes;
	// nothing was sent.
	ErrMessageTooLarge = errors.New("rpcudp: message too large")
	// ErrInvalidUTF8: a string to be sent (a call's argument or method
	// name, a handler's result) is not valid UTF-8. msgpack's str must be,
	// and a Python peer's decoder drops the whole datagram otherwise; send
	// arbitrary bytes as []byte (msgpack bin) instead. A call fails with it
	// before anything is sent; a handler's result with it becomes an error
	// reply. (A msgpack.RawMessage argument or result is sent as it is,
	// unchecked.)
	ErrInvalidUTF8 = errors.New("rpcudp: string is not valid UTF-8 (send bytes as []byte)")
	// ErrTooManyPending: the endpoint already has its maximum number of
	// calls (65536) waiting for replies; nothing was sent.
	ErrTooManyPending = errors.New("rpcudp: too many pending calls")
	// ErrRateLimited is returned by an interceptor (such as RateLimit) to
	// have a request dropped without a reply; it is counted in
	// Stats.Drops.RateLimited.
	ErrRateLimited = errors.New("rpcudp: rate limited")

	// ErrUnknownMethod: the peer has no handler under that name.
	ErrUnknownMethod = errors.New("rpcudp: unknown method")
	// ErrBadArgs: the arguments did not fit the remote handler.
	ErrBadArgs = errors.New("rpcudp: bad arguments")
	// ErrHandler: the remote handler returned an error.
	ErrHandler = errors.New("rpcudp: handler error")
	// ErrHandlerPanic: the remote handler panicked.
	ErrHandlerPanic = errors.New("rpcudp: handler panic")
	// ErrMalformed: a datagram or reply body could not be decoded.
	ErrMalformed = errors.New("rpcudp: malformed message")
	// ErrBadHandler: a handler passed to Handle or Register has a
	// signature this package cannot serve.
	ErrBadHandler = errors.New("rpcudp: bad handler")
)

// ErrorCode classifies an error reply on the wire. Codes 1 to 99 are this
// package's own, standing for ErrHandler, ErrUnknownMethod, ErrBadArgs,
// ErrHandlerPanic and ErrMessageTooLarge; a layer or an application
// registers codes of its own with Endpoint.RegisterError (kademlia uses
// 100-199, rpcudp/service 200-299, applications 1000 and up).
type ErrorCode int

// The error codes of this package (type byte 0x02).
const (
	codeHandlerError  ErrorCode = 1 // the handler returned an error
	codeUnknownMethod ErrorCode = 2 // no handler is registered under the name
	codeBadArgs       ErrorCode = 3 // the arguments did not fit the handler
	codePanic         ErrorCode = 4 // the handler panicked
	codeReplyTooLarge ErrorCode = 5 // the handler's reply was over MaxBody bytes

	maxOwnCode  ErrorCode = 99        // the last code reserved for this package
	maxWireCode ErrorCode = 1<<31 - 1 // the largest code an error reply carries
)

func (c ErrorCode) sentinel() error {
	switch c {
	case codeUnknownMethod:
		return ErrUnknownMethod
	case codeBadArgs:
		return ErrBadArgs
	case codePanic:
		return ErrHandlerPanic
	case codeReplyTooLarge:
		return ErrMessageTooLarge
	default:
		return ErrHandler
	}
}

// RemoteError is the error a call returns when the peer answered with an
// error reply (only Go peers do; Python peers stay silent and the call
// times out). It matches (errors.Is) the sentinel for its Code:
// ErrUnknownMethod, ErrBadArgs, ..., ErrHandler for a code this package
// does not know; and for a code registered with RegisterError on the
// calling endpoint, the registered sentinel as well as ErrHandler.
type RemoteError struct {
	Code    ErrorCode
	Method  string
	Message string

	registered error // the sentinel registered for Code, if any
}

// Error implements error.
func (e *RemoteError) Error() string {
	return fmt.Sprintf("rpcudp: remote %s: %s", e.Method, e.Message)
}

// Unwrap returns the sentinels e matches: the one for e.Code, and the
// one registered for it, if any.
func (e *RemoteError) Unwrap() []error {
	if e.registered != nil {
		return []error{e.Code.sentinel(), e.registered}
	}
	return []error{e.Code.sentinel()}
}

// codedError is a code registered with RegisterError and its sentinel.
type codedError struct {
	code     ErrorCode
	sentinel error
}

// errorCodes is an endpoint's registered codes, sorted by code; readers
// load it without locking (it is copied on write).
type errorCodes struct {
	mu   sync.Mutex
	list atomic.Pointer[[]codedError]
}

// RegisterError makes error replies for handler errors that match
// sentinel (errors.Is) carry code, and makes a RemoteError received with
// code match sentinel (errors.Is), besides ErrHandler. Both ends of a call
// register the same pairs on their endpoints (a layer does it on the
// endpoint it is given). Codes 1 to 99 are this package's own; layers use
// their own range (kademlia 100-199, rpcudp/service 200-299, applications
// 1000 and up, up to 2^31-1). Registering a code or a sentinel twice with
// different partners is an error; registering the same pair again is not.
//
// A handler error that matches a registered sentinel carries its code
// (the lowest, if it matches several), before the codes of this package:
// an error wrapping ErrBadArgs and a registered sentinel carries the
// registered code, and its caller sees the sentinel and ErrHandler. A
// panic is always ErrHandlerPanic. The wire form of an error reply is
// unchanged ([code, method, message]); a code over 127 is packed as a
// msgpack uint, which Go endpoints of earlier versions drop (their call
// times out).
func (e *Endpoint) RegisterError(code ErrorCode, sentinel error) error {
	switch {
	case code <= maxOwnCode || code > maxWireCode:
		return fmt.Errorf("rpcudp: register error code %d: codes must be in %d..%d (1..%d are rpcudp's)", code, maxOwnCode+1, maxWireCode, maxOwnCode)
	case sentinel == nil:
		return fmt.Errorf("rpcudp: register error code %d: nil sentinel", code)
	}
	return e.codes.add(code, sentinel)
}

func (c *errorCodes) add(code ErrorCode, sentinel error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var old []codedError
	if p := c.list.Load(); p != nil {
		old = *p
	}
	for _, ce := range old {
		switch {
		case ce.code == code && ce.sentinel == sentinel:
			return nil
		case ce.code == code:
			return fmt.Errorf("rpcudp: register error code %d for %q: it stands for %q", code, sentinel, ce.sentinel)
		case ce.sentinel == sentinel:
			return fmt.Errorf("rpcudp: register error code %d for %q: it has code %d", code, sentinel, ce.code)
		}
	}
	list := append(slices.Clone(old), codedError{code, sentinel})
	slices.SortFunc(list, func(a, b codedError) int { return cmp.Compare(a.code, b.code) })
	c.list.Store(&list)
	return nil
}

// codeOf returns the code of the first registered sentinel err matches,
// or false.
func (c *errorCodes) codeOf(err error) (ErrorCode, bool) {
	if p := c.list.Load(); p != nil {
		for _, ce := range *p {
			if errors.Is(err, ce.sentinel) {
				return ce.code, true
			}
		}
	}
	return 0, false
}

// sentinel returns the sentinel registered for code, or nil.
func (c *errorCodes) sentinel(code ErrorCode) error {
	if p := c.list.Load(); p != nil {
		for _, ce := range *p {
			if ce.code == code {
				return ce.sentinel
			}
		}
	}
	return nil
}

// codeOf returns the code an error reply carries for a handler's error.
func (e *Endpoint) codeOf(err error) ErrorCode {
	if errors.Is(err, ErrHandlerPanic) {
		return codePanic
	}
	if c, ok := e.codes.codeOf(err); ok {
		return c
	}
	switch {
	case errors.Is(err, ErrBadArgs):
		return codeBadArgs
	case errors.Is(err, ErrMessageTooLarge):
		return codeReplyTooLarge
	case errors.Is(err, ErrUnknownMethod):
		return codeUnknownMethod
	default:
		return codeHandlerError
	}
}
