package kademlia

import "net/netip"

// Defaults of IPLimits.
const (
	defaultIPPerBucket = 2
	defaultIPPerTable  = 10
	defaultIPv4Prefix  = 24
	defaultIPv6Prefix  = 32
)

// IPLimits bounds how many contacts from one IP network the routing table
// holds, so that one operator with many addresses in one network cannot
// fill it (an eclipse attack), and how many candidates of one network a
// lookup keeps (PerBucket, among all its candidates), so that they cannot
// fill the K closest to a key either. The limits follow go-ethereum's
// table: at most 2 contacts of one network per bucket and 10 in the whole
// table (replacement caches included).
//
// A network is an IPv4 /24 or an IPv6 /32 by default. A /24 is the
// longest IPv4 prefix routed on the public internet, so the smallest block
// one operator can announce. In IPv6 the end site's /48 plays that role
// in routing, but it costs nothing: hosters and tunnel brokers hand out
// /48s by the dozen from their own /32, and ids are free to choose (Python
// nodes choose random ones, so ids cannot be tied to addresses as BEP 42
// does). 20 ids chosen around one key, two in each of ten /48s of one /32,
// took all K copies of it when the unit was a /48 (issue 18). A /32 is
// the smallest block a registry allocates to an ISP or hoster: ten /48s
// of one hoster count as one network. The price is paid by honest IPv6
// nodes of one provider, held to the limits together as IPv4 nodes of one
// /24 are (go-ethereum counts IPv6 by /24 bits, coarser still); a network
// of few providers can set IPv6Prefix to 48, or 56 or 64 where every
// site is trusted.
//
// The zero value means the defaults, with loopback addresses exempt (so
// that local demos and tests work). Negative PerBucket or PerTable turn
// that limit off; Exempt lifts both for the addresses it accepts.
type IPLimits struct {
	// PerBucket is the most contacts of one network in one bucket and its
	// replacement cache (default 2; negative: no limit).
	PerBucket int
	// PerTable is the most contacts of one network in the whole table
	// (default 10; negative: no limit).
	PerTable int
	// IPv4Prefix and IPv6Prefix are the prefix lengths that define a
	// network (default 24 and 32).
	IPv4Prefix, IPv6Prefix int
	// Exempt reports addresses the limits do not apply to. nil exempts
	// loopback addresses only; func(netip.Addr) bool { return true } turns
	// the limits off (a simulated network, say).
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
