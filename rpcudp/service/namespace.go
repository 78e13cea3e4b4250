package service

import (
	"fmt"
	"strings"
	"sync"

	"github.com/rpcudp/go-rpcudp/rpcudp"
)

// Group is a set of methods under a namespace and a version, as
// oslo.messaging's endpoints. The zero Namespace is the null namespace,
// whose methods are also served under their plain names; the zero
// Version is "1.0". Add it to a Server with Server.Add; methods may be
// added before or after.
type Group struct {
	Namespace string
	Version   string // "major.minor" ("2" means "2.0")

	mu      sync.Mutex
	methods []*method
	srv     *Server // set by Server.Add
	ver     version
}

// Handle adds a method. fn is any function rpcudp.Endpoint.Handle
// accepts: a typed function
//
//	func(ctx context.Context, from netip.AddrPort, a1 T1, ..., aN TN) (R, error)
//
// (results (R), (error) or none also do; the last argument may be
// variadic), its arguments decoded from the call's as rpcudp decodes
// them, or an rpcudp.HandlerFunc. md, at most one, describes the method.
// A later Handle with the same name replaces the earlier one.
func (g *Group) Handle(name string, fn any, md ...Method) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty method name", rpcudp.ErrBadHandler)
	case g.Namespace == "" && reserved(name):
		return fmt.Errorf("%w: %q is the server's own method", rpcudp.ErrBadHandler, name)
	case len(md) > 1:
		return fmt.Errorf("%w: %s: more than one Method", rpcudp.ErrBadHandler, name)
	}
	h, err := rpcudp.Adapt(fn)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	m := &method{name: name, h: h}
	if len(md) == 1 {
		m.Method = md[0]
	}
	g.mu.Lock()
	g.methods = append(slicesDeleteName(g.methods, name), m)
	srv := g.srv
	g.mu.Unlock()
	if srv != nil && m.Claimed {
		srv.useClaims()
	}
	if srv != nil && g.Namespace == "" {
		return srv.servePlain(name)
	}
	return nil
}

// reserved reports whether name is one of the server's own methods,
// which the null namespace cannot have.
func reserved(name string) bool {
	switch name {
	case "claim", "reclaim", "unclaim":
		return true
	}
	return strings.HasPrefix(name, "svc.")
}

func slicesDeleteName(ms []*method, name string) []*method {
	out := ms[:0:0]
	for _, m := range ms {
		if m.name != name {
			out = append(out, m)
		}
	}
	return out
}

// lookup returns the group's method called name, or nil.
func (g *Group) lookup(name string) *method {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, m := range g.methods {
		if m.name == name {
			return m
		}
	}
	return nil
}

// list returns a copy of the group's methods.
func (g *Group) list() []*method {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]*method(nil), g.methods...)
}

// version is a parsed "major.minor".
type version struct{ major, minor int }

func (v version) String() string { return fmt.Sprintf("%d.%d", v.major, v.minor) }

// compatible reports whether a group at v serves a call asking for
// want: the same major, a minor at least want's.
func (v version) compatible(want version) bool {
	return v.major == want.major && v.minor >= want.minor
}

// parseVersion parses "M", "M.N" (decimal digits only, at most 9 each);
// "" gives def.
func parseVersion(s string, def version) (version, bool) {
	if s == "" {
		return def, true
	}
	maj, min, hasMinor := strings.Cut(s, ".")
	var v version
	var ok bool
	if v.major, ok = parseNum(maj); ok && hasMinor {
		v.minor, ok = parseNum(min)
	}
	return v, ok
}

// versionForm is what parseVersion takes, for error messages.
const versionForm = "(want MAJOR or MAJOR.MINOR)"

// parseNum parses 1 to 9 decimal digits (no sign, no space).
func parseNum(s string) (int, bool) {
	if len(s) == 0 || len(s) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// anyVersion marks a call that names no version: a group at any
// version serves it.
var anyVersion = version{-1, -1}

// find returns the method a call names, from the first group of
// namespace ns with the method at a version compatible with ver ("" for
// any), or an error saying why there is none.
func find(groups []*Group, ns, ver, name string) (*method, error) {
	want, ok := parseVersion(ver, anyVersion)
	if !ok {
		return nil, fmt.Errorf("%w: bad version %q %s", rpcudp.ErrBadArgs, ver, versionForm)
	}
	sawNS := false
	var had []string
	for _, g := range groups {
		if g.Namespace != ns {
			continue
		}
		sawNS = true
		m := g.lookup(name)
		if m == nil {
			continue
		}
		if want == anyVersion || g.ver.compatible(want) {
			return m, nil
		}
		had = append(had, g.ver.String())
	}
	label := "the null namespace"
	if ns != "" {
		label = "namespace " + quote(ns)
	}
	switch {
	case !sawNS && ns != "":
		return nil, errf(ErrNoNamespace, quote(ns))
	case len(had) > 0:
		return nil, errf(ErrIncompatibleVersion, fmt.Sprintf("%s has %s at %s, asked %s", label, name, strings.Join(had, ", "), want))
	}
	return nil, errf(ErrNoSuchMethod, quote(name)+" in "+label)
}
