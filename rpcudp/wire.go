package rpcudp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// Wire layout constants (see the package documentation and PROTOCOL.md).
const (
	// IDLen is the length of a message id.
	IDLen = 20
	// HeaderLen is the length of the datagram header: type byte and id.
	HeaderLen = 1 + IDLen
	// MaxBody is the largest msgpack body this package sends or accepts.
	MaxBody = 8192
	// MaxDatagram is the largest datagram this package sends or accepts.
	MaxDatagram = HeaderLen + MaxBody
	// minDatagram: Python drops anything shorter (a header and at least one
	// byte of body).
	minDatagram = HeaderLen + 1
)

// Datagram type bytes. 0x00 and 0x01 are Python rpcudp's; the others are
// extensions that Python peers ignore.
const (
	TypeRequest  byte = 0x00
	TypeResponse byte = 0x01
	TypeError    byte = 0x02
	TypeNotify   byte = 0x03
)

// MsgID identifies a call; a reply carries the id of its request.
type MsgID [IDLen]byte

// String returns the id in hex.
func (id MsgID) String() string { return fmt.Sprintf("%x", id[:]) }

// header is the decoded fixed part of a datagram.
type header struct {
	typ byte
	id  MsgID
}

// parseHeader splits a datagram into header and body. It fails on short
// datagrams; the type byte is not checked here.
func parseHeader(b []byte) (header, []byte, error) {
	var h header
	if len(b) < minDatagram {
		return h, nil, fmt.Errorf("%w: datagram of %d bytes is shorter than %d", ErrMalformed, len(b), minDatagram)
	}
	h.typ = b[0]
	copy(h.id[:], b[1:HeaderLen])
	return h, b[HeaderLen:], nil
}

// parseRequest splits a request body [method, [args...]] into the method
// name (a msgpack str, as Python sends it) and the args array, returning
// the number of arguments and the bytes that encode them.
func parseRequest(body []byte) (method []byte, nargs int, args []byte, err error) {
	n, rest, err := readArrayLen(body)
	if err != nil {
		return nil, 0, nil, err
	}
	if n != 2 {
		return nil, 0, nil, fmt.Errorf("%w: request is an array of %d, want [method, args]", ErrMalformed, n)
	}
	method, rest, err = readStr(rest)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("%w (method name)", err)
	}
	nargs, args, err = readArrayLen(rest)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("%w (args)", err)
	}
	rest, err = skipN(args, nargs, 1)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("%w (args)", err)
	}
	if len(rest) != 0 {
		return nil, 0, nil, fmt.Errorf("%w: %d bytes after the request", ErrMalformed, len(rest))
	}
	return method, nargs, args, nil
}

// readArrayLen reads a msgpack array header.
func readArrayLen(b []byte) (int, []byte, error) {
	if len(b) == 0 {
		return 0, nil, fmt.Errorf("%w: want array, got end of data", ErrMalformed)
	}
	c := b[0]
	switch {
	case c >= 0x90 && c <= 0x9f:
		return int(c & 0x0f), b[1:], nil
	case c == 0xdc && len(b) >= 3:
		return int(binary.BigEndian.Uint16(b[1:])), b[3:], nil
	case c == 0xdd && len(b) >= 5:
		return int(binary.BigEndian.Uint32(b[1:])), b[5:], nil
	}
	return 0, nil, fmt.Errorf("%w: want array, got code 0x%02x", ErrMalformed, c)
}

// readStr reads a msgpack str without copying.
func readStr(b []byte) ([]byte, []byte, error) {
	if len(b) == 0 {
		return nil, nil, fmt.Errorf("%w: want str, got end of data", ErrMalformed)
	}
	c := b[0]
	var n, h int
	switch {
	case c >= 0xa0 && c <= 0xbf:
		n, h = int(c&0x1f), 1
	case c == 0xd9 && len(b) >= 2:
		n, h = int(b[1]), 2
	case c == 0xda && len(b) >= 3:
		n, h = int(binary.BigEndian.Uint16(b[1:])), 3
	case c == 0xdb && len(b) >= 5:
		n, h = int(binary.BigEndian.Uint32(b[1:])), 5
	default:
		return nil, nil, fmt.Errorf("%w: want str, got code 0x%02x", ErrMalformed, c)
	}
	if n > len(b)-h {
		return nil, nil, fmt.Errorf("%w: str of %d bytes overruns the datagram", ErrMalformed, n)
	}
	return b[h : h+n], b[h+n:], nil
}

// appendArrayLen appends a msgpack array header.
func appendArrayLen(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x90|byte(n))
	case n <= 0xffff:
		return append(b, 0xdc, byte(n>>8), byte(n))
	default:
		return append(b, 0xdd, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

// appendStr appends a msgpack str, in the smallest form (as u-msgpack and
// msgpack-python do).
func appendStr(b []byte, s string) []byte {
	n := len(s)
	switch {
	case n < 32:
		b = append(b, 0xa0|byte(n))
	case n <= 0xff:
		b = append(b, 0xd9, byte(n))
	case n <= 0xffff:
		b = append(b, 0xda, byte(n>>8), byte(n))
	default:
		b = append(b, 0xdb, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, s...)
}

// codec is a pooled msgpack encoder/decoder pair working on byte slices,
// set up to pack values the way Python's u-msgpack does (integers in their
// smallest form).
type codec struct {
	buf bytes.Buffer
	enc *msgpack.Encoder
	rd  bytes.Reader
	dec *msgpack.Decoder
}

type codecPool struct{ p sync.Pool }

func (cp *codecPool) get() *codec {
	if c, ok := cp.p.Get().(*codec); ok {
		return c
	}
	c := &codec{}
	c.enc = msgpack.NewEncoder(&c.buf)
	c.enc.UseCompactInts(true)
	c.dec = msgpack.NewDecoder(&c.rd)
	return c
}

func (cp *codecPool) put(c *codec) {
	if c.buf.Cap() > 4*MaxDatagram {
		return // don't keep huge buffers alive
	}
	c.buf.Reset()
	c.rd.Reset(nil)
	cp.p.Put(c)
}

// encode appends the msgpack encoding of v to b.
func (c *codec) encode(b []byte, v any) ([]byte, error) {
	c.buf.Reset()
	if err := c.enc.Encode(v); err != nil {
		return b, err
	}
	return append(b, c.buf.Bytes()...), nil
}

// resetDecoder points the decoder at data.
func (c *codec) resetDecoder(data []byte) {
	c.rd.Reset(data)
	c.dec.ResetReader(&c.rd)
}

// errorBody is the body of an error reply: [code, method, message].
func appendErrorBody(b []byte, code ErrorCode, method, msg string) []byte {
	if len(msg) > 1024 {
		msg = msg[:1024]
	}
	b = appendArrayLen(b, 3)
	b = append(b, byte(code&0x7f)) // positive fixint
	b = appendStr(b, method)
	return appendStr(b, msg)
}

// parseErrorBody decodes an error reply body.
func parseErrorBody(body []byte) (*RemoteError, error) {
	n, rest, err := readArrayLen(body)
	if err != nil {
		return nil, err
	}
	if n != 3 || len(rest) == 0 || rest[0] > 0x7f {
		return nil, fmt.Errorf("%w: error reply is not [code, method, message]", ErrMalformed)
	}
	code := ErrorCode(rest[0])
	method, rest, err := readStr(rest[1:])
	if err != nil {
		return nil, err
	}
	msg, rest, err := readStr(rest)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes after error reply", ErrMalformed, len(rest))
	}
	return &RemoteError{Code: code, Method: string(method), Message: string(msg)}, nil
}
