package kademlia

import "net/netip"

// Defaults of IPLimits.
const (
	defaultIPPerBucket = 2
	defaultIPPerTable  = 10
	defaultIPv4Prefix  = 24
	defaultIPv6Prefix  = 32
)

// IPLimits bounds how many contacts of one IP network the routing table
// holds (an eclipse defence, as go-ethereum's table) and how many
// candidates of one network a lookup keeps (PerBucket). The zero value
// means the defaults (loopback exempt); why an IPv6 network is a /32:
// PROTOCOL.md.
type IPLimits struct {
	// PerBucket and PerTable are the most contacts of one network in one
	// bucket (with its replacement cache) and in the table (default 2 and
	// 10; negative: no limit).
	PerBucket, PerTable int
	// IPv4Prefix and IPv6Prefix define a network (default 24 and 32).
	IPv4Prefix, IPv6Prefix int
	// Exempt reports the addresses the limits spare (nil: loopback).
	Exempt func(netip.Addr) bool
}

// withDefaults fills in the zero fields of l.
func (l IPLimits) withDefaults() IPLimits {
	if l.PerBucket == 0 {
		l.PerBucket = defaultIPPerBucket
	}
	if l.PerTable == 0 {
		l.PerTable = defaultIPPerTable
	}
	if l.IPv4Prefix <= 0 || l.IPv4Prefix > 32 {
		l.IPv4Prefix = defaultIPv4Prefix
	}
	if l.IPv6Prefix <= 0 || l.IPv6Prefix > 128 {
		l.IPv6Prefix = defaultIPv6Prefix
	}
	if l.Exempt == nil {
		l.Exempt = netip.Addr.IsLoopback
	}
	return l
}

// network returns the network of a, or false if a is exempt or the limits
// are off.
func (l IPLimits) network(a netip.Addr) (netip.Prefix, bool) {
	a = a.Unmap()
	if l.Exempt == nil || l.Exempt(a) || !a.IsValid() || (l.PerBucket < 0 && l.PerTable < 0) {
		return netip.Prefix{}, false
	}
	bits := l.IPv6Prefix
	if a.Is4() {
		bits = l.IPv4Prefix
	}
	p, err := a.Prefix(bits)
	return p, err == nil
}

// ipAllowed reports whether c may enter bucket b (or its replacement
// cache) under the IP limits, not counting the contact with id except
// (when c moves address). The caller holds t.mu.
func (t *table) ipAllowed(b *kbucket, c Contact, except ID) bool {
	lim := t.cfg.IPLimits
	net, limited := lim.network(c.Addr.Addr())
	if !limited {
		return true
	}
	count := func(b *kbucket) int {
		n := 0
		for _, list := range [][]tableEntry{b.entries, b.replacements} {
			for _, e := range list {
				if e.c.ID != except && e.c.ID != c.ID && net.Contains(e.c.Addr.Addr().Unmap()) {
					n++
				}
			}
		}
		return n
	}
	if lim.PerBucket >= 0 && count(b) >= lim.PerBucket {
		return false
	}
	if lim.PerTable < 0 {
		return true
	}
	n := 0
	for _, o := range t.buckets {
		n += count(o)
		if n >= lim.PerTable {
			return false
		}
	}
	return true
}
