package wire_test

import (
	"fmt"

	"github.com/rpcudp/go-rpcudp/rpcudp/wire"
)

// Build a request body [method, [args...]] the way Python packs it, then
// check and take it apart as a receiver of an untrusted datagram does.
func Example() {
	b := wire.AppendArrayLen(nil, 2)
	b = wire.AppendStr(b, "sayhi")
	b = wire.AppendArrayLen(b, 2)
	b = wire.AppendStr(b, "Snake")
	b = wire.AppendInt(b, -200)
	fmt.Printf("% x\n", b)

	if err := wire.Validate(b); err != nil {
		fmt.Println(err)
		return
	}
	_, rest, _ := wire.ReadArrayLen(b)
	method, rest, _ := wire.ReadStr(rest)
	nargs, rest, _ := wire.ReadArrayLen(rest)
	fmt.Println(string(method), nargs)
	for range nargs {
		var v any
		v, rest, _ = wire.ReadScalar(rest)
		fmt.Printf("%T %v\n", v, v)
	}

	// A length that overruns the data is refused before anything reads it.
	fmt.Println(wire.Validate([]byte{0xdd, 0xff, 0xff, 0xff, 0xff}))
	// Output:
	// 92 a5 73 61 79 68 69 92 a5 53 6e 61 6b 65 d1 ff 38
	// sayhi 2
	// string Snake
	// int64 -200
	// wire: malformed msgpack: 4294967295 items overrun the data
}

func ExampleKindOf() {
	for _, c := range []byte{0x93, 0xa5, 0xc4, 0xcd, 0xe0, 0xcb, 0xc1} {
		fmt.Printf("0x%02x %s\n", c, wire.KindOf(c))
	}
	// Output:
	// 0x93 array
	// 0xa5 str
	// 0xc4 bin
	// 0xcd int
	// 0xe0 int
	// 0xcb float
	// 0xc1 invalid
}
