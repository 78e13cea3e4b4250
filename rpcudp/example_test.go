package rpcudp_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
)

// A server and a client on loopback: the Go version of Python rpcudp's
// README example.
func Example() {
	ctx := context.Background()
	server, _ := rpcudp.Listen(ctx, "127.0.0.1:0")
	defer server.Close()
	server.Handle("sayhi", func(_ context.Context, from netip.AddrPort, name string) (string, error) {
		return "Hello " + name, nil
	})
	client, _ := rpcudp.Listen(ctx, "127.0.0.1:0")
	defer client.Close()
	answer, err := rpcudp.Invoke[string](ctx, client, server.LocalAddr(), "sayhi", "Snake Plissken")
	fmt.Println(answer, err)
	// Output: Hello Snake Plissken <nil>
}

// Methods named RPC... on a value are served under snake-case names, as
// Python serves rpc_... methods.
type calculator struct{}

func (calculator) RPCAdd(_ context.Context, _ netip.AddrPort, a, b int) (int, error) {
	return a + b, nil
}

func ExampleEndpoint_Register() {
	ctx := context.Background()
	server, _ := rpcudp.Listen(ctx, "127.0.0.1:0")
	defer server.Close()
	if err := server.Register(calculator{}); err != nil {
		panic(err)
	}
	client, _ := rpcudp.Listen(ctx, "127.0.0.1:0")
	defer client.Close()

	reply, err := client.Call(ctx, server.LocalAddr(), "add", 2, 3)
	var sum int
	if err == nil {
		err = reply.Decode(&sum)
	}
	fmt.Println(sum, err, server.Methods())
	// Output: 5 <nil> [add rpcudp.methods]
}

// Go starts many calls at once; each Call's Done channel closes when it
// finishes.
func ExampleEndpoint_Go() {
	ctx := context.Background()
	server, _ := rpcudp.Listen(ctx, "127.0.0.1:0")
	defer server.Close()
	server.Handle("square", func(_ context.Context, _ netip.AddrPort, x int) (int, error) { return x * x, nil })
	client, _ := rpcudp.Listen(ctx, "127.0.0.1:0")
	defer client.Close()

	var calls []*rpcudp.Call
	for i := 1; i <= 3; i++ {
		calls = append(calls, client.Go(ctx, server.LocalAddr(), "square", i))
	}
	for _, c := range calls {
		<-c.Done
		var v int
		err := c.Err
		if err == nil {
			err = c.Reply.Decode(&v)
		}
		fmt.Println(v, err)
	}
	// Output:
	// 1 <nil>
	// 4 <nil>
	// 9 <nil>
}

// A Go peer answers a failing call at once with an error reply; errors.Is
// and errors.As tell what went wrong.
func ExampleRemoteError() {
	ctx := context.Background()
	server, _ := rpcudp.Listen(ctx, "127.0.0.1:0")
	defer server.Close()
	client, _ := rpcudp.Listen(ctx, "127.0.0.1:0")
	defer client.Close()

	_, err := client.Call(ctx, server.LocalAddr(), "no_such_method")
	var re *rpcudp.RemoteError
	fmt.Println(errors.Is(err, rpcudp.ErrUnknownMethod), errors.As(err, &re) && re.Method == "no_such_method")
	// Output: true true
}

// Retries resend the same message id; the server answers a repeat from its
// reply cache, so the handler runs once per call.
func ExampleWithRetry() {
	ctx := context.Background()
	client, _ := rpcudp.Listen(ctx, "127.0.0.1:0",
		rpcudp.WithTimeout(2*time.Second),
		rpcudp.WithRetry(rpcudp.RetryPolicy{Initial: 100 * time.Millisecond, Max: time.Second}))
	defer client.Close()
	fmt.Println(client.Stats().Retransmits)
	// Output: 0
}

// WithCallOptions sets the timeout and the retry policy of the calls made
// with its context: here one try of 100 ms at a peer that never answers.
func ExampleWithCallOptions() {
	ctx := context.Background()
	client, _ := rpcudp.Listen(ctx, "127.0.0.1:0", rpcudp.WithRetry(rpcudp.RetryPolicy{Initial: 10 * time.Millisecond}))
	defer client.Close()
	silent, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer silent.Close()

	once := rpcudp.WithCallOptions(ctx, rpcudp.CallOptions{Timeout: 100 * time.Millisecond, Retry: &rpcudp.RetryPolicy{}})
	_, err := client.Call(once, silent.LocalAddr().(*net.UDPAddr).AddrPort(), "ping")
	fmt.Println(errors.Is(err, rpcudp.ErrTimeout), client.Stats().Retransmits)
	// Output: true 0
}

// A Python peer may answer with a map whose keys are not all strings,
// bytes keys included: decoded into an interface it becomes a map[any]any,
// bytes keys as rpcudp.Bin, and packs back to the same msgpack.
func ExampleReply_Decode() {
	// What Python's umsgpack.packb({1: 'a', b'k': True}) gives.
	reply := rpcudp.Reply{0x82, 0x01, 0xa1, 'a', 0xc4, 0x01, 'k', 0xc3}
	var v any
	if err := reply.Decode(&v); err != nil {
		fmt.Println(err)
		return
	}
	m := v.(map[any]any)
	fmt.Println(m[int8(1)], m[rpcudp.Bin("k")])
	// Output: a true
}
