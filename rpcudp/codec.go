package rpcudp

import (
	"bytes"
	"sync"
	"unicode/utf8"

	"github.com/rpcudp/go-rpcudp/rpcudp/wire"
	"github.com/vmihailenco/msgpack/v5"
)

// codec is a pooled msgpack encoder/decoder pair working on byte slices,
// set up to pack values the way Python's u-msgpack does (integers in their
// smallest form) and to decode maps as decodeMap does.
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
	if c.buf.Cap() > 4*maxDatagram {
		return // don't keep huge buffers alive
	}
	c.buf.Reset()
	c.rd.Reset(nil)
	cp.p.Put(c)
}

// encode appends the msgpack encoding of v to b. It fails with
// ErrInvalidUTF8 when a string in v is not valid UTF-8 (nothing may leave
// as a msgpack str unless it is: Python's decoder refuses the datagram). A
// msgpack.RawMessage is appended as it is: its maker vouches for it.
func (c *codec) encode(b []byte, v any) ([]byte, error) {
	if raw, ok := v.(msgpack.RawMessage); ok && raw != nil {
		return append(b, raw...), nil
	}
	if out, ok, err := appendScalar(b, v); ok {
		return out, err
	}
	c.buf.Reset()
	if err := c.enc.Encode(v); err != nil {
		return b, err
	}
	if !wire.ValidUTF8(c.buf.Bytes()) {
		return b, ErrInvalidUTF8
	}
	return append(b, c.buf.Bytes()...), nil
}

// appendScalar packs the common scalar types straight into b, byte for
// byte as vmihailenco's compact encoder would; ok is false for any other
// type.
func appendScalar(b []byte, v any) (out []byte, ok bool, err error) {
	switch v := v.(type) {
	case string:
		if !utf8.ValidString(v) {
			return b, true, ErrInvalidUTF8
		}
		return wire.AppendStr(b, v), true, nil
	case []byte:
		if v == nil {
			return wire.AppendNil(b), true, nil
		}
		return wire.AppendBin(b, v), true, nil
	case nil:
		return wire.AppendNil(b), true, nil
	case bool:
		return wire.AppendBool(b, v), true, nil
	case int:
		return wire.AppendInt(b, int64(v)), true, nil
	case int64:
		return wire.AppendInt(b, v), true, nil
	case uint64:
		return wire.AppendUint(b, v), true, nil
	case float64:
		return wire.AppendFloat(b, v), true, nil
	}
	return b, false, nil
}

// resetDecoder points the decoder at data.
func (c *codec) resetDecoder(data []byte) {
	c.rd.Reset(data)
	c.dec.ResetReader(&c.rd)
	c.dec.SetMapDecoder(decodeMap)
}
