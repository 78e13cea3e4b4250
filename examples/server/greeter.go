package main

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// greeter's RPC methods are served as echo, sayhi, sayhi_quickly and
// sayhi_slowly.
type greeter struct{ slow time.Duration }

func hello(name string, from netip.AddrPort) string {
	return fmt.Sprintf("Hello %s you live at %s:%d", name, from.Addr(), from.Port())
}

// RPCSayhi answers at once.
func (g greeter) RPCSayhi(_ context.Context, from netip.AddrPort, name string) (string, error) {
	return hello(name, from), nil
}

// RPCSayhiQuickly answers at once, like Python's plain rpc_ method.
func (g greeter) RPCSayhiQuickly(_ context.Context, from netip.AddrPort, name string) (string, error) {
	return hello(name, from), nil
}

// RPCSayhiSlowly answers after a pause, like Python's coroutine example;
// other requests are served meanwhile.
func (g greeter) RPCSayhiSlowly(ctx context.Context, from netip.AddrPort, name string) (string, error) {
	select {
	case <-time.After(g.slow):
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return hello(name, from), nil
}

// RPCEcho returns its argument as it came, byte for byte.
func (g greeter) RPCEcho(_ context.Context, _ netip.AddrPort, arg msgpack.RawMessage) (msgpack.RawMessage, error) {
	return bytes.Clone(arg), nil
}
