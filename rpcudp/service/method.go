package service

import (
	"context"
	"net/netip"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/vmihailenco/msgpack/v5"
)

// handlerFunc serves one of the server's own methods on its arguments,
// undecoded.
type handlerFunc func(ctx context.Context, from netip.AddrPort, args []msgpack.RawMessage) (any, error)

// Method describes a method given to Handle; every field is optional.
type Method struct {
	// Doc documents the method; the inventory lists it.
	Doc string
	// Timeout, if not 0, bounds the handler: its context ends after it.
	// The inventory lists it, so that callers can size their own
	// timeouts.
	Timeout time.Duration
	// Claimed marks a method that only the holder of the server's claim
	// may call: its first wire argument is the claim token, which is
	// checked and removed before the handler sees the others.
	Claimed bool
}

// method is one method of a Group.
type method struct {
	Method
	name string
	h    func(context.Context, *rpcudp.Request, string, []msgpack.RawMessage) (any, error) // rpcudp.Adapt's
}
