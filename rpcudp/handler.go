package rpcudp

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	"github.com/vmihailenco/msgpack/v5"
)

// methodsMethod is the wire name of the built-in introspection method (see
// Endpoint.Methods). No Python rpc_ method can have this name, since it
// holds a dot.
const methodsMethod = "rpcudp.methods"

// methodPrefix is the prefix of the methods that Register exposes.
const methodPrefix = "RPC"

// handlerTable maps wire names to handlers. Reads are lock-free: writers
// copy the map.
type handlerTable struct {
	mu           sync.Mutex
	m            atomic.Pointer[map[string]handlerEntry]
	interceptors []Interceptor
	direct       bool // no interceptors: typed handlers may pack their results

	// The built-ins for names not in m, wrapped by the interceptors like
	// any handler: pingMethod's, the unknown method's, and the reply
	// cache's, which answers a repeat with its cached reply.
	ping, unknown, cached HandlerFunc
}

func (t *handlerTable) init(in []Interceptor) {
	t.interceptors = in
	t.direct = len(in) == 0
	m := map[string]handlerEntry{}
	t.m.Store(&m)
	t.ping = t.wrap(func(context.Context, *Request) (any, error) { return nil, nil })
	t.unknown = t.wrap(func(context.Context, *Request) (any, error) { return nil, unknownMethodError{} })
	t.cached = t.wrap(func(_ context.Context, req *Request) (any, error) {
		return msgpack.RawMessage(req.body[headerLen:]), nil
	})
}

// unknownMethodError is the unknown-method handler's error: it matches
// ErrUnknownMethod, and its text is the error reply's message as it
// always was.
type unknownMethodError struct{}

func (unknownMethodError) Error() string        { return "unknown method" }
func (unknownMethodError) Is(target error) bool { return target == ErrUnknownMethod }

// handlerEntry keeps the wire name with its handler, so that requests use
// the table's copy of the name instead of allocating one.
type handlerEntry struct {
	name string
	h    HandlerFunc
}

// lookup returns the handler for a method name and the name as the
// request carries it. A name not registered gets pingMethod's built-in or
// the unknown method's, which passes the interceptors like any method (a
// rate limit sees it too) and answers with an error reply; its name is
// cut at maxErrorMethod bytes.
func (t *handlerTable) lookup(name []byte) (string, HandlerFunc) {
	if he, ok := (*t.m.Load())[string(name)]; ok {
		return he.name, he.h
	}
	if string(name) == pingMethod {
		return pingMethod, t.ping
	}
	name = name[:min(len(name), maxErrorMethod+utf8.UTFMax)]
	return validUTF8(string(name), maxErrorMethod), t.unknown
}

// wrap wraps h in the interceptors, the first one outermost.
func (t *handlerTable) wrap(h HandlerFunc) HandlerFunc {
	for i := len(t.interceptors) - 1; i >= 0; i-- {
		ic, next := t.interceptors[i], h
		h = func(ctx context.Context, req *Request) (any, error) { return ic(ctx, req, next) }
	}
	return h
}

func (t *handlerTable) register(name string, h HandlerFunc) {
	h = t.wrap(h)
	t.update(func(m map[string]handlerEntry) bool {
		m[name] = handlerEntry{name, h}
		return true
	})
}

// unregister removes name's handler and reports whether there was one.
func (t *handlerTable) unregister(name string) bool {
	return t.update(func(m map[string]handlerEntry) bool {
		_, ok := m[name]
		delete(m, name)
		return ok
	})
}

// update applies change to a copy of the table and publishes the copy if
// change reports a change (readers never lock: the map is copied on write).
func (t *handlerTable) update(change func(map[string]handlerEntry) bool) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := maps.Clone(*t.m.Load())
	if !change(m) {
		return false
	}
	t.m.Store(&m)
	return true
}

func (t *handlerTable) names() []string {
	m := *t.m.Load()
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

func (t *handlerTable) methodsHandler() HandlerFunc {
	return func(_ context.Context, req *Request) (any, error) {
		if err := req.DecodeArgs(); err != nil {
			return nil, err
		}
		return t.names(), nil
	}
}

// Methods returns the sorted wire names of every method the endpoint
// serves. Peers get the same list from the built-in method
// "rpcudp.methods", which the endpoint serves until it is removed with
// Unhandle("rpcudp.methods").
func (e *Endpoint) Methods() []string { return e.handlers.names() }

// Handle registers fn under the wire name. fn is a HandlerFunc (or a func
// of that signature), or a typed function
//
//	func(ctx context.Context, from netip.AddrPort, arg1 T1, ..., argN TN) (R, error)
//
// whose arguments are decoded from the request's positional arguments (the
// last may be variadic) and whose result is packed as the reply. The
// results may also be (R), (error) or none. A later Handle with the same
// name replaces the earlier one.
//
// Handle fails with ErrBadHandler on any other fn, and on an argument or
// result type that msgpack cannot carry: a channel, a function, an
// unsafe.Pointer or a complex number, also inside a pointer, slice, array,
// map or struct field (a type with its own msgpack methods is trusted).
// Functions of the commonest shapes (no argument or one string, []byte,
// int or any; a string, []byte, bool, int, int64 or any result) are
// called without reflection.
func (e *Endpoint) Handle(name string, fn any) error {
	if name == "" {
		return fmt.Errorf("%w: empty method name", ErrBadHandler)
	}
	h, err := toHandler(name, fn)
	if err != nil {
		return err
	}
	e.handlers.register(name, h)
	return nil
}

// Unhandle removes the handler registered under the wire name and reports
// whether there was one. From then on requests for it get the unknown
// method error reply, as if it had never been registered; a request
// already running finishes.
func (e *Endpoint) Unhandle(name string) bool { return e.handlers.unregister(name) }

// Adapt returns fn, a function Handle accepts, as a function that runs it
// on a request that a layer unwraps itself (rpcudp/service serves its
// methods so): method and args, each one msgpack value, stand for those
// of req, the request that carried them, whose From, ID and Notify the
// handler sees (req may be nil: a request from nowhere, for a test). The
// endpoint's interceptors are not part of it. It fails as Handle does on
// a function Handle refuses.
func Adapt(fn any) (func(ctx context.Context, req *Request, method string, args []msgpack.RawMessage) (any, error), error) {
	h, err := toHandler("", fn)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, outer *Request, method string, args []msgpack.RawMessage) (any, error) {
		return h(ctx, innerRequest(outer, method, args))
	}, nil
}

// innerRequest returns the request that Adapt's function hands its
// handler.
func innerRequest(outer *Request, method string, args []msgpack.RawMessage) *Request {
	r := &Request{Method: method, nargs: len(args)}
	if outer != nil {
		r.From, r.ID, r.Notify, r.codecs = outer.From, outer.ID, outer.Notify, outer.codecs
	}
	if r.codecs == nil {
		r.codecs = &codecPool{}
	}
	for _, a := range args {
		r.args = append(r.args, a...)
	}
	return r
}

// Register exposes every exported method of rcvr whose name starts with
// "RPC" (Python's rpc_ prefix) and has a signature Handle accepts. The
// wire name is the rest of the Go name in snake case: RPCFindNode is
// served as "find_node", RPCSayhi as "sayhi", RPCGetHTTPStatus as
// "get_http_status". A method with the prefix but an unusable signature is
// an error, so that a typo does not silently leave a method unserved.
func (e *Endpoint) Register(rcvr any) error {
	v := reflect.ValueOf(rcvr)
	t := v.Type()
	var found int
	for i := 0; i < t.NumMethod(); i++ {
		m := t.Method(i)
		if !strings.HasPrefix(m.Name, methodPrefix) || len(m.Name) == len(methodPrefix) {
			continue
		}
		name := wireName(m.Name)
		if err := e.Handle(name, v.Method(i).Interface()); err != nil {
			return fmt.Errorf("rpcudp: register %s.%s: %w", t, m.Name, err)
		}
		found++
	}
	if found == 0 {
		return fmt.Errorf("%w: %s has no exported %s methods", ErrBadHandler, t, methodPrefix)
	}
	return nil
}

// wireName returns the wire name Register gives a Go method name:
// the RPC prefix removed and the rest in snake case.
func wireName(goName string) string {
	s := []rune(strings.TrimPrefix(goName, methodPrefix))
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			prevLower := i > 0 && (unicode.IsLower(s[i-1]) || unicode.IsDigit(s[i-1]))
			nextLower := i > 0 && i+1 < len(s) && unicode.IsLower(s[i+1]) && unicode.IsUpper(s[i-1])
			if prevLower || nextLower {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

var (
	ctxType      = reflect.TypeFor[context.Context]()
	addrPortType = reflect.TypeFor[netip.AddrPort]()
	errType      = reflect.TypeFor[error]()
	requestType  = reflect.TypeFor[*Request]()
)

// toHandler adapts fn to a HandlerFunc; name labels its errors.
func toHandler(name string, fn any) (HandlerFunc, error) {
	if name != "" {
		name += ": "
	}
	switch f := fn.(type) {
	case nil:
		return nil, fmt.Errorf("%w: %snil handler", ErrBadHandler, name)
	case HandlerFunc:
		return f, nil
	case func(context.Context, *Request) (any, error):
		return f, nil
	}
	if h := fastHandler(fn); h != nil {
		return h, nil
	}
	v := reflect.ValueOf(fn)
	t := v.Type()
	if t.Kind() != reflect.Func {
		return nil, fmt.Errorf("%w: %s%T is not a function", ErrBadHandler, name, fn)
	}
	if t.NumIn() < 2 || t.In(0) != ctxType || t.In(1) != addrPortType {
		return nil, fmt.Errorf("%w: %s%s must take (context.Context, netip.AddrPort, args...)", ErrBadHandler, name, t)
	}
	for i := 2; i < t.NumIn(); i++ {
		if t.In(i) == requestType {
			return nil, fmt.Errorf("%w: %s*Request is only for HandlerFunc", ErrBadHandler, name)
		}
		if err := carriable(t.In(i)); err != nil {
			return nil, fmt.Errorf("%w: %sargument %d of %s: %w", ErrBadHandler, name, i-2, t, err)
		}
	}
	hasResult, hasErr := false, false
	switch t.NumOut() {
	case 0:
	case 1:
		if t.Out(0) == errType {
			hasErr = true
		} else {
			hasResult = true
		}
	case 2:
		if t.Out(1) != errType {
			return nil, fmt.Errorf("%w: %s%s: second result must be error", ErrBadHandler, name, t)
		}
		hasResult, hasErr = true, true
	default:
		return nil, fmt.Errorf("%w: %s%s returns too many results", ErrBadHandler, name, t)
	}
	if hasResult {
		if err := carriable(t.Out(0)); err != nil {
			return nil, fmt.Errorf("%w: %sresult of %s: %w", ErrBadHandler, name, t, err)
		}
	}
	return reflectHandler(v, t, hasResult, hasErr), nil
}

func reflectHandler(fn reflect.Value, t reflect.Type, hasResult, hasErr bool) HandlerFunc {
	fixed := t.NumIn() - 2
	variadic := t.IsVariadic()
	if variadic {
		fixed--
	}
	return func(ctx context.Context, req *Request) (any, error) {
		n := req.NumArgs()
		if n < fixed || (!variadic && n > fixed) {
			want := fmt.Sprint(fixed)
			if variadic {
				want = fmt.Sprintf("at least %d", fixed)
			}
			return nil, fmt.Errorf("%w: %s takes %s arguments, got %d", ErrBadArgs, req.Method, want, n)
		}
		in := make([]reflect.Value, 2, t.NumIn())
		in[0] = reflect.ValueOf(ctx)
		if ctx == nil {
			in[0] = reflect.Zero(ctxType)
		}
		in[1] = reflect.ValueOf(req.From)
		var rest reflect.Value
		if variadic {
			rest = reflect.MakeSlice(t.In(t.NumIn()-1), n-fixed, n-fixed)
		}
		err := req.decode(func(i int, d *decoder) error {
			if i < fixed {
				v := reflect.New(t.In(i + 2)).Elem()
				if err := d.DecodeValue(v); err != nil {
					return err
				}
				in = append(in, v)
				return nil
			}
			return d.DecodeValue(rest.Index(i - fixed))
		})
		if err != nil {
			return nil, err
		}
		var out []reflect.Value
		if variadic {
			in = append(in, rest)
			out = fn.CallSlice(in)
		} else {
			out = fn.Call(in)
		}
		var result any
		var rerr error
		if hasResult {
			result = out[0].Interface()
		}
		if hasErr {
			if e := out[len(out)-1]; !e.IsNil() {
				rerr = e.Interface().(error)
			}
		}
		return result, rerr
	}
}

var (
	customEncoder = reflect.TypeFor[msgpack.CustomEncoder]()
	customDecoder = reflect.TypeFor[msgpack.CustomDecoder]()
	marshaler     = reflect.TypeFor[msgpack.Marshaler]()
	unmarshaler   = reflect.TypeFor[msgpack.Unmarshaler]()
)

// carriable reports, as an error, a part of t that msgpack can neither
// encode nor decode, so that Handle refuses a handler whose every call
// would fail.
func carriable(t reflect.Type) error { return carriableIn(t, map[reflect.Type]bool{}) }

func carriableIn(t reflect.Type, seen map[reflect.Type]bool) error {
	if seen[t] {
		return nil // a recursive type: checked further up
	}
	seen[t] = true
	if pt := reflect.PointerTo(t); t.Implements(customEncoder) || pt.Implements(customDecoder) ||
		t.Implements(marshaler) || pt.Implements(unmarshaler) {
		return nil
	}
	switch t.Kind() {
	case reflect.Chan, reflect.Func, reflect.UnsafePointer, reflect.Complex64, reflect.Complex128:
		return fmt.Errorf("msgpack cannot carry %s", t)
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return carriableIn(t.Elem(), seen)
	case reflect.Map:
		if err := carriableIn(t.Key(), seen); err != nil {
			return err
		}
		return carriableIn(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() || f.Tag.Get("msgpack") == "-" {
				continue
			}
			if err := carriableIn(f.Type, seen); err != nil {
				return fmt.Errorf("field %s: %w", f.Name, err)
			}
		}
	}
	return nil
}
