package service

import (
	"context"
	"net/netip"

	"github.com/rpcudp/go-rpcudp/rpcudp"
)

// What the tests look into, unexported in the package.
type (
	Inventory    = inventory
	MethodInfo   = methodInfo
	SignalInfo   = signalInfo
	PropertyInfo = propertyInfo
)

// Inventory asks the server at addr for its inventory (svc.inventory).
func (c *Client) Inventory(ctx context.Context, addr netip.AddrPort) (Inventory, error) {
	return c.inventory(ctx, addr)
}

// Inventory returns what s serves.
func (s *Server) Inventory() Inventory { return s.inventory() }

// Claimed returns the session holding the server's claim, if any.
func (s *Server) Claimed() (session string, ok bool) { return s.claims.current() }

// Subscribers returns how many subscribers hold a live lease.
func (g *Signal) Subscribers() int { return g.subscribers() }

// WireCodes are the error codes of the sentinels a server sends.
func WireCodes() map[error]rpcudp.ErrorCode {
	m := map[error]rpcudp.ErrorCode{}
	for _, w := range wireErrors {
		m[w.err] = w.code
	}
	return m
}
