package rpcudp

import (
	"errors"
	"fmt"
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
	// calls waiting for replies; nothing was sent.
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

// ErrorCode classifies an error reply on the wire.
type ErrorCode int

// Error codes carried by error replies (type byte 0x02).
const (
	CodeHandlerError  ErrorCode = 1 // the handler returned an error
	CodeUnknownMethod ErrorCode = 2 // no handler is registered under the name
	CodeBadArgs       ErrorCode = 3 // the arguments did not fit the handler
	CodePanic         ErrorCode = 4 // the handler panicked
	CodeReplyTooLarge ErrorCode = 5 // the handler's reply was over MaxBody bytes
)

func (c ErrorCode) sentinel() error {
	switch c {
	case CodeUnknownMethod:
		return ErrUnknownMethod
	case CodeBadArgs:
		return ErrBadArgs
	case CodePanic:
		return ErrHandlerPanic
	case CodeReplyTooLarge:
		return ErrMessageTooLarge
	default:
		return ErrHandler
	}
}

// RemoteError is the error a call returns when the peer answered with an
// error reply (only Go peers do; Python peers stay silent and the call
// times out). Unwrap yields the sentinel for its Code, so
// errors.Is(err, ErrUnknownMethod) works as well as errors.As.
type RemoteError struct {
	Code    ErrorCode
	Method  string
	Message string
}

// Error implements error.
func (e *RemoteError) Error() string {
	return fmt.Sprintf("rpcudp: remote %s: %s", e.Method, e.Message)
}

// Unwrap returns the sentinel error matching e.Code.
func (e *RemoteError) Unwrap() error { return e.Code.sentinel() }
