package rpcudp

import (
	"context"
	"net/netip"
)

// Names the external tests (package rpcudp_test) use that the package
// does not export.

// MethodsMethod is the built-in introspection method's wire name.
const MethodsMethod = methodsMethod

// Prove is the endpoint's prove.
func (e *Endpoint) Prove(ctx context.Context, addr netip.AddrPort) error { return e.prove(ctx, addr) }

// withMaxPending bounds the calls waiting for replies at once.
func withMaxPending(n int) Option { return func(c *config) { c.maxPending = n } }
