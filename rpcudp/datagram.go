package rpcudp

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/rpcudp/go-rpcudp/rpcudp/wire"
)

// Wire layout constants (see PROTOCOL.md in this directory).
const (
	// MaxBody is the largest msgpack body of a request or notification,
	// and of a reply this package sends (a reply received may fill a UDP
	// datagram). A value that does not fit fails with ErrMessageTooLarge.
	MaxBody = 8192
	// headerLen is the length of the datagram header: the type byte and
	// the 20-byte message id.
	headerLen = wire.HeaderLen
	// maxDatagram is the largest datagram this package sends or accepts.
	maxDatagram = headerLen + MaxBody
	// idLen is the length of a message id.
	idLen = 20
	// minDatagram: Python drops anything shorter (a header and at least one
	// byte of body).
	minDatagram = headerLen + 1
)

// Datagram type bytes (wire.TypeRequest ...).
const (
	typeRequest  = wire.TypeRequest
	typeResponse = wire.TypeResponse
	typeError    = wire.TypeError
	typeNotify   = wire.TypeNotify
)

// msgID identifies a call; a reply carries the id of its request.
type msgID = [idLen]byte

// header is the decoded fixed part of a datagram.
type header struct {
	typ byte
	id  msgID
}

// malformed wraps an error from package wire (or a description) as
// ErrMalformed.
func malformed(err error) error { return fmt.Errorf("%w: %w", ErrMalformed, err) }

// parseHeader splits a datagram into header and body. It fails on short
// datagrams; the type byte is not checked here.
func parseHeader(b []byte) (header, []byte, error) {
	var h header
	if len(b) < minDatagram {
		return h, nil, fmt.Errorf("%w: datagram of %d bytes is shorter than %d", ErrMalformed, len(b), minDatagram)
	}
	h.typ = b[0]
	copy(h.id[:], b[1:headerLen])
	return h, b[headerLen:], nil
}

// parseRequest checks that a request body is exactly one well-formed
// msgpack value of the shape [method, [args...]] and splits it into the
// method name (a msgpack str, as Python sends it), the number of arguments
// and the bytes that encode them.
func parseRequest(body []byte) (method []byte, nargs int, args []byte, err error) {
	if err := wire.Validate(body); err != nil {
		return nil, 0, nil, malformed(err)
	}
	n, rest, err := wire.ReadArrayLen(body)
	if err != nil {
		return nil, 0, nil, malformed(err)
	}
	if n != 2 {
		return nil, 0, nil, fmt.Errorf("%w: request is an array of %d, want [method, args]", ErrMalformed, n)
	}
	if method, rest, err = wire.ReadStr(rest); err != nil {
		return nil, 0, nil, fmt.Errorf("%w (method name)", malformed(err))
	}
	if nargs, args, err = wire.ReadArrayLen(rest); err != nil {
		return nil, 0, nil, fmt.Errorf("%w (args)", malformed(err))
	}
	return method, nargs, args, nil
}

// appendRequestHeader appends the start of a request (or notification)
// datagram: header, method name and the header of an array of nargs
// arguments, which the caller appends.
func appendRequestHeader(b []byte, typ byte, id msgID, method string, nargs int) []byte {
	b = append(b, typ)
	b = append(b, id[:]...)
	b = wire.AppendArrayLen(b, 2)
	b = wire.AppendStr(b, method)
	return wire.AppendArrayLen(b, nargs)
}

// maxErrorMessage and maxErrorMethod bound the message and the method
// name of an error reply: the method name echoes what a stranger sent, so
// an unknown-method reply stays about as small as its request.
const (
	maxErrorMessage = 1024
	maxErrorMethod  = 64
)

// validUTF8 returns s with every invalid byte sequence replaced by U+FFFD,
// cut to at most max bytes without splitting a character.
func validUTF8(s string, max int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) <= max {
		return s
	}
	for max > 0 && !utf8.RuneStart(s[max]) {
		max--
	}
	return s[:max]
}

// appendErrorReply appends an error reply datagram; its body is
// [code, method, message], both strings made valid UTF-8 (a method name
// as a peer sent it, a message quoting anything) and the message cut at
// maxErrorMessage bytes.
func appendErrorReply(b []byte, id msgID, code ErrorCode, method, msg string) []byte {
	method = validUTF8(method, maxErrorMethod)
	msg = validUTF8(msg, maxErrorMessage)
	b = append(b, typeError)
	b = append(b, id[:]...)
	b = wire.AppendArrayLen(b, 3)
	b = wire.AppendUint(b, uint64(code)) // a positive fixint for rpcudp's own codes
	b = wire.AppendStr(b, method)
	return wire.AppendStr(b, msg)
}

// parseErrorBody decodes an error reply body; its code is a positive
// msgpack integer.
func parseErrorBody(body []byte) (*RemoteError, error) {
	n, rest, err := wire.ReadArrayLen(body)
	if err != nil {
		return nil, malformed(err)
	}
	if n != 3 || len(rest) == 0 || wire.KindOf(rest[0]) != wire.Int {
		return nil, fmt.Errorf("%w: error reply is not [code, method, message]", ErrMalformed)
	}
	v, rest, err := wire.ReadScalar(rest)
	if err != nil {
		return nil, malformed(err)
	}
	code, ok := v.(int64)
	if !ok || code <= 0 || code > int64(maxWireCode) {
		return nil, fmt.Errorf("%w: error reply code %v", ErrMalformed, v)
	}
	method, rest, err := wire.ReadStr(rest)
	if err != nil {
		return nil, malformed(err)
	}
	msg, rest, err := wire.ReadStr(rest)
	if err != nil {
		return nil, malformed(err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes after error reply", ErrMalformed, len(rest))
	}
	return &RemoteError{Code: ErrorCode(code), Method: string(method), Message: string(msg)}, nil
}
