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

// method is one method of an Endpoint.
type method struct {
	name    string
	doc     string
	timeout time.Duration
	claimed bool
	h       func(context.Context, *rpcudp.Request, string, []msgpack.RawMessage) (any, error) // rpcudp.Adapt's
}

// MethodOption describes a method given to Handle.
type MethodOption func(*method)

// Doc sets the method's documentation, listed by the inventory.
func Doc(s string) MethodOption { return func(m *method) { m.doc = s } }

// Timeout bounds the handler: its context ends after d. The inventory
// lists it, so that callers can size their own timeouts.
func Timeout(d time.Duration) MethodOption { return func(m *method) { m.timeout = d } }

// Claimed marks a method that only the holder of the server's claim may
// call: its first wire argument is the claim token, which is checked and
// removed before the handler sees the others.
func Claimed() MethodOption { return func(m *method) { m.claimed = true } }
