package service

import (
	"context"
	"net/netip"
	"slices"
	"strings"

	"github.com/vmihailenco/msgpack/v5"
)

// inventory is what a server serves, as svc.inventory answers it (a
// msgpack map with the keys in the field tags; see the package doc). Its
// reply, like any Go handler's, must fit in rpcudp.MaxBody (8 KiB).
type inventory struct {
	Methods        []methodInfo   `msgpack:"methods"`
	Signals        []signalInfo   `msgpack:"signals"`
	Properties     []propertyInfo `msgpack:"properties"`
	ClaimTimeoutMS int64          `msgpack:"claim_timeout_ms"` // 0: no claims
}

// methodInfo describes a method. Namespace "" is the null namespace.
type methodInfo struct {
	Name      string `msgpack:"name"`
	Namespace string `msgpack:"namespace"`
	Version   string `msgpack:"version"`
	Doc       string `msgpack:"doc"`
	TimeoutMS int64  `msgpack:"timeout_ms"` // 0: none
	Claimed   bool   `msgpack:"claimed"`
}

// signalInfo describes a signal.
type signalInfo struct {
	Name        string `msgpack:"name"`
	Doc         string `msgpack:"doc"`
	Subscribers int    `msgpack:"subscribers"`
}

// propertyInfo describes a property.
type propertyInfo struct {
	Name     string `msgpack:"name"`
	Doc      string `msgpack:"doc"`
	Changed  string `msgpack:"changed"` // change signal; "" for none
	Settable bool   `msgpack:"settable"`
	Claimed  bool   `msgpack:"claimed"` // setting needs the claim token
}

// claimMethods are the claim methods a server serves once it has
// something to claim (see New).
var claimMethods = []methodInfo{
	{Name: "claim", Doc: "claim(session, cookie) -> token: take the claim; fails if claimed already; without the cookie -> [cookie]"},
	{Name: "reclaim", Doc: "reclaim(token) -> true: keep the claim alive, within the claim timeout"},
	{Name: "unclaim", Doc: "unclaim(token): end the claim"},
}

// inventory returns what s serves: its groups' methods in dispatch
// order (then the claim methods, if it serves them; ClaimTimeoutMS is 0
// otherwise), signals and properties by name.
func (s *Server) inventory() inventory {
	var inv inventory
	s.mu.Lock()
	claimOn := s.claimOn
	s.mu.Unlock()
	if claimOn {
		inv.ClaimTimeoutMS = s.claims.timeout.Milliseconds()
	}
	for _, g := range s.groupList() {
		for _, m := range g.list() {
			inv.Methods = append(inv.Methods, methodInfo{
				Name: m.name, Namespace: g.Namespace, Version: g.ver.String(), Doc: m.Doc,
				TimeoutMS: m.Timeout.Milliseconds(), Claimed: m.Claimed,
			})
		}
	}
	for _, m := range claimMethods {
		if !claimOn {
			break
		}
		m.Version = "1.0"
		inv.Methods = append(inv.Methods, m)
	}
	s.mu.Lock()
	sigs := make([]*Signal, 0, len(s.signals))
	for _, g := range s.signals {
		sigs = append(sigs, g)
	}
	for _, p := range s.props {
		inv.Properties = append(inv.Properties, p.info())
	}
	s.mu.Unlock()
	for _, g := range sigs {
		inv.Signals = append(inv.Signals, signalInfo{Name: g.name, Doc: g.doc, Subscribers: g.subscribers()})
	}
	slices.SortFunc(inv.Signals, func(a, b signalInfo) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(inv.Properties, func(a, b propertyInfo) int { return strings.Compare(a.Name, b.Name) })
	return inv
}

// handleInventory serves svc.inventory [] -> inventory.
func (s *Server) handleInventory(_ context.Context, _ netip.AddrPort, args []msgpack.RawMessage) (any, error) {
	if err := decodeArgs(args); err != nil {
		return nil, err
	}
	return s.inventory(), nil
}
