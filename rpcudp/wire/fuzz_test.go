package wire

import (
	"bytes"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// FuzzSkip checks Skip against vmihailenco/msgpack's own Decoder.Skip: on
// any input Skip never panics, and what it accepts the library skips too,
// to the same byte. ReadScalar agrees with Skip on where a scalar ends.
func FuzzSkip(f *testing.F) {
	for _, b := range [][]byte{
		{0x92, 0xa3, 's', 'a', 'y', 0x91, 0xa1, 'x'},
		{0x83, 0xa1, 'a', 0xcd, 1, 2, 0xa1, 'b', 0xc4, 1, 9, 0xa1, 'c', 0x90},
		{0xdc, 0, 2, 0xcb, 0, 0, 0, 0, 0, 0, 0, 0, 0xd4, 1, 2},
		{0xdd, 0xff, 0xff, 0xff, 0xff},
		bytes.Repeat([]byte{0x91}, MaxDepth+2),
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rest, err := Skip(b)
		if err != nil {
			return
		}
		used := len(b) - len(rest)
		rd := bytes.NewReader(b)
		if err := msgpack.NewDecoder(rd).Skip(); err != nil {
			t.Fatalf("Skip accepted %x, msgpack: %v", b[:used], err)
		}
		if n := len(b) - rd.Len(); n != used {
			t.Fatalf("Skip used %d bytes of %x, msgpack %d", used, b, n)
		}
		if _, srest, err := ReadScalar(b); err == nil && len(srest) != len(rest) {
			t.Fatalf("ReadScalar ends at %d, Skip at %d: %x", len(b)-len(srest), used, b)
		}
	})
}
