package service

import (
	"fmt"
	"strings"
	"sync"

	"github.com/rpcudp/go-rpcudp/rpcudp"
)

// Endpoint is a set of methods under a namespace and a version, as
// oslo.messaging's endpoints (not an rpcudp.Endpoint, which is a socket).
// The zero Namespace is the null namespace, whose methods are also served
// under their plain names; the zero Version is "1.0". Add it to a Server
// with Server.Add; methods may be added before or after.
type Endpoint struct {
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
// them, or an rpcudp.HandlerFunc. A later Handle with the same name
// replaces the earlier one.
func (e *Endpoint) Handle(name string, fn any, opts ...MethodOption) error {
	if name == "" {
		return fmt.Errorf("%w: empty method name", rpcudp.ErrBadHandler)
	}
	if e.Namespace == "" && reserved(name) {
		return fmt.Errorf("%w: %q is the server's own method", rpcudp.ErrBadHandler, name)
	}
	h, err := rpcudp.Adapt(fn)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	m := &method{name: name, h: h}
	for _, o := range opts {
		o(m)
	}
	e.mu.Lock()
	e.methods = append(slicesDeleteName(e.methods, name), m)
	srv := e.srv
	e.mu.Unlock()
	if srv != nil && m.claimed {
		srv.useClaims()
	}
	if srv != nil && e.Namespace == "" {
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

// lookup returns the endpoint's method called name, or nil.
func (e *Endpoint) lookup(name string) *method {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, m := range e.methods {
		if m.name == name {
			return m
		}
	}
	return nil
}

// list returns a copy of the endpoint's methods.
func (e *Endpoint) list() []*method {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]*method(nil), e.methods...)
}

// version is a parsed "major.minor".
type version struct{ major, minor int }

func (v version) String() string { return fmt.Sprintf("%d.%d", v.major, v.minor) }

// compatible reports whether an endpoint at v serves a call asking for
// want: the same major, a minor at least want's.
func (v version) compatible(want version) bool {
	return v.major == want.major && v.minor >= want.minor
}

// parseVersion parses "M", "M.N" (decimal digits only, at most 9 each);
// "" gives def.
func parseVersion(s string, def version) (version, error) {
	if s == "" {
		return def, nil
	}
	maj, min, hasMinor := strings.Cut(s, ".")
	var v version
	var ok bool
	if v.major, ok = parseNum(maj); ok && hasMinor {
		v.minor, ok = parseNum(min)
	}
	if !ok {
		return version{}, fmt.Errorf("%w: bad version %q (want MAJOR or MAJOR.MINOR)", rpcudp.ErrBadArgs, s)
	}
	return v, nil
}

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

// anyVersion marks a call that names no version: any endpoint version
// serves it.
var anyVersion = version{-1, -1}

// find returns the method a call names, from the first endpoint of
// namespace ns with the method at a version compatible with ver ("" for
// any), or an error saying why there is none.
func find(eps []*Endpoint, ns, ver, name string) (*method, error) {
	want, err := parseVersion(ver, anyVersion)
	if err != nil {
		return nil, err
	}
	sawNS := false
	var had []string
	for _, e := range eps {
		if e.Namespace != ns {
			continue
		}
		sawNS = true
		m := e.lookup(name)
		if m == nil {
			continue
		}
		if want == anyVersion || e.ver.compatible(want) {
			return m, nil
		}
		had = append(had, e.ver.String())
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
