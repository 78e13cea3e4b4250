package rpcudp

import (
	"encoding/binary"
	"fmt"
)

// maxDepth bounds the nesting of arrays and maps in a message.
const maxDepth = 64

// skipValue checks that b starts with one well-formed msgpack value and
// returns what follows it. It allocates nothing, and refuses any length
// that overruns the data, so that no decoder is ever asked to allocate for
// a size the datagram cannot hold.
func skipValue(b []byte, depth int) ([]byte, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("%w: nested deeper than %d", ErrMalformed, maxDepth)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: value cut short", ErrMalformed)
	}
	c := b[0]
	switch {
	case c <= 0x7f || c >= 0xe0: // fixint
		return b[1:], nil
	case c <= 0x8f: // fixmap
		return skipN(b[1:], 2*int(c&0x0f), depth)
	case c <= 0x9f: // fixarray
		return skipN(b[1:], int(c&0x0f), depth)
	case c <= 0xbf: // fixstr
		return skipBytes(b[1:], int(c&0x1f))
	}
	switch c {
	case 0xc0, 0xc2, 0xc3: // nil, false, true
		return b[1:], nil
	case 0xcc, 0xd0:
		return skipBytes(b[1:], 1)
	case 0xcd, 0xd1:
		return skipBytes(b[1:], 2)
	case 0xca, 0xce, 0xd2:
		return skipBytes(b[1:], 4)
	case 0xcb, 0xcf, 0xd3:
		return skipBytes(b[1:], 8)
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1..16, plus the type byte
		return skipBytes(b[1:], 1+1<<(c-0xd4))
	case 0xc4, 0xd9: // bin8, str8
		n, rest, err := length(b[1:], 1)
		if err != nil {
			return nil, err
		}
		return skipBytes(rest, n)
	case 0xc5, 0xda: // bin16, str16
		n, rest, err := length(b[1:], 2)
		if err != nil {
			return nil, err
		}
		return skipBytes(rest, n)
	case 0xc6, 0xdb: // bin32, str32
		n, rest, err := length(b[1:], 4)
		if err != nil {
			return nil, err
		}
		return skipBytes(rest, n)
	case 0xc7, 0xc8, 0xc9: // ext8/16/32: length, type, data
		n, rest, err := length(b[1:], 1<<(c-0xc7))
		if err != nil {
			return nil, err
		}
		return skipBytes(rest, n+1)
	case 0xdc, 0xdd: // array16/32
		n, rest, err := length(b[1:], 2<<(c-0xdc))
		if err != nil {
			return nil, err
		}
		return skipN(rest, n, depth)
	case 0xde, 0xdf: // map16/32
		n, rest, err := length(b[1:], 2<<(c-0xde))
		if err != nil {
			return nil, err
		}
		return skipN(rest, 2*n, depth)
	}
	return nil, fmt.Errorf("%w: invalid msgpack code 0xc1", ErrMalformed)
}

// skipN skips n values nested one level below depth.
func skipN(b []byte, n, depth int) ([]byte, error) {
	if n > len(b) { // every value takes at least a byte
		return nil, fmt.Errorf("%w: %d items overrun the data", ErrMalformed, n)
	}
	var err error
	for range n {
		if b, err = skipValue(b, depth+1); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func skipBytes(b []byte, n int) ([]byte, error) {
	if n < 0 || n > len(b) {
		return nil, fmt.Errorf("%w: %d bytes overrun the data", ErrMalformed, n)
	}
	return b[n:], nil
}

// length reads a big-endian length of size bytes.
func length(b []byte, size int) (int, []byte, error) {
	if len(b) < size {
		return 0, nil, fmt.Errorf("%w: length cut short", ErrMalformed)
	}
	switch size {
	case 1:
		return int(b[0]), b[1:], nil
	case 2:
		return int(binary.BigEndian.Uint16(b)), b[2:], nil
	default:
		return int(binary.BigEndian.Uint32(b)), b[4:], nil
	}
}

// checkOne checks that body is exactly one well-formed msgpack value.
func checkOne(body []byte) error {
	rest, err := skipValue(body, 0)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: %d bytes after the value", ErrMalformed, len(rest))
	}
	return nil
}
