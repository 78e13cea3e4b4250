package rpcudp

import (
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// Bin is a msgpack bin (Python bytes) used where a Go []byte cannot go: as
// a map key, since slices are not comparable. Decoding a map whose keys
// are not all str into an interface gives a map[any]any, in which a bin
// key is a Bin; a Bin encodes back as bin, never as str.
type Bin string

// EncodeMsgpack implements msgpack.CustomEncoder: a Bin packs as bin.
func (b Bin) EncodeMsgpack(enc *msgpack.Encoder) error {
	if err := enc.EncodeBytesLen(len(b)); err != nil {
		return err
	}
	_, err := enc.Writer().Write([]byte(b))
	return err
}

// DecodeMsgpack implements msgpack.CustomDecoder: a Bin takes a bin (or a
// str) as it is.
func (b *Bin) DecodeMsgpack(dec *msgpack.Decoder) error {
	p, err := dec.DecodeBytes()
	*b = Bin(p)
	return err
}

// decodeMap is the map decoder of every msgpack.Decoder this package
// uses, for values decoded into an interface (any). Python sends maps with
// keys of any hashable type; vmihailenco's default fails on int, float,
// bool and nil keys and turns bin keys into strings. A map whose keys are
// all str becomes a map[string]any; any other map becomes a map[any]any
// whose keys keep their msgpack family: string for str, Bin for bin, the
// integer, float, bool types and nil as DecodeInterface gives them. A key
// that Go cannot hash (an array or map: Python tuple keys) is an error.
func decodeMap(d *msgpack.Decoder) (any, error) {
	n, err := d.DecodeMapLen()
	if err != nil || n < 0 {
		return nil, err
	}
	strs := make(map[string]any, min(n, 64))
	var anys map[any]any
	for i := 0; i < n; i++ {
		k, err := decodeKey(d)
		if err != nil {
			return nil, err
		}
		v, err := d.DecodeInterface()
		if err != nil {
			return nil, err
		}
		if s, ok := k.(string); ok && anys == nil {
			strs[s] = v
			continue
		}
		if anys == nil {
			anys = make(map[any]any, n)
			for ks, vs := range strs {
				anys[ks] = vs
			}
		}
		anys[k] = v
	}
	if anys != nil {
		return anys, nil
	}
	return strs, nil
}

// decodeKey decodes one map key; see decodeMap.
func decodeKey(d *msgpack.Decoder) (any, error) {
	c, err := d.PeekCode()
	if err != nil {
		return nil, err
	}
	switch {
	case c == msgpcode.Bin8 || c == msgpcode.Bin16 || c == msgpcode.Bin32:
		p, err := d.DecodeBytes()
		return Bin(p), err
	case msgpcode.IsFixedArray(c) || msgpcode.IsFixedMap(c) ||
		c == msgpcode.Array16 || c == msgpcode.Array32 || c == msgpcode.Map16 || c == msgpcode.Map32:
		return nil, fmt.Errorf("msgpack: map key of code 0x%02x (an array or map) cannot be a Go map key", c)
	}
	return d.DecodeInterface()
}
