package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/rpcudp/go-rpcudp/rpcudp/jsonmsg"
)

// Exit statuses of the call subcommand, as examples/call's.
const (
	callOK         = 0 // a reply
	callErrorReply = 1 // an error reply
	callNoReply    = 2 // no reply, or no live server to ask
	callUsage      = 3 // bad usage or a local failure (joining the DHT included)
)

// callOptions are the call subcommand, parsed.
type callOptions struct {
	common
	server string // call this announced server only
	fanout bool   // call every announced server
	method string
	args   []any
	// order returns the order in which to try n servers; nil means a
	// random permutation. Tests fix it.
	order func(n int) []int
}

// parseCall parses the call subcommand's arguments (after "call").
func parseCall(args []string, stderr io.Writer) (callOptions, int, bool) {
	var o callOptions
	fs := flag.NewFlagSet("registry call", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o.register(fs)
	fs.StringVar(&o.server, "server", "", "call this server of NAME (one of its live announcements)")
	fs.BoolVar(&o.fanout, "fanout", false, "call every live server of NAME, one JSON line each")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, callOK, false
		}
		return o, callUsage, false
	}
	err := o.check()
	switch {
	case err != nil:
	case fs.NArg() == 0:
		err = errors.New("METHOD is required")
	case o.fanout && o.server != "":
		err = errors.New("-server and -fanout exclude each other")
	}
	if err != nil {
		fmt.Fprintln(stderr, "registry:", err)
		return o, callUsage, false
	}
	o.method = fs.Arg(0)
	for i, a := range fs.Args()[1:] {
		v, err := jsonmsg.Parse(a)
		if err != nil {
			fmt.Fprintf(stderr, "registry: argument %d: %v\n", i+1, err)
			return o, callUsage, false
		}
		o.args = append(o.args, v)
	}
	return o, 0, true
}

// callService is the call subcommand: it looks NAME up on the DHT and
// calls one of its live servers (or the one given, or all of them).
func callService(ctx context.Context, o callOptions, stdout, stderr io.Writer) int {
	node, reg, err := start(ctx, o.common, false, stderr)
	if err != nil {
		return fail(stderr, callUsage, err)
	}
	defer node.Close()
	addrs, err := reg.lookup(ctx, o.name)
	if err != nil {
		return fail(stderr, callUsage, err)
	}
	if o.server != "" {
		addrs = matching(addrs, o.server)
	}
	if len(addrs) == 0 {
		what := fmt.Sprintf("no live server of %q", o.name)
		if o.server != "" {
			what = fmt.Sprintf("%s is not a live server of %q", o.server, o.name)
		}
		fmt.Fprintln(stderr, "registry:", what)
		return callNoReply
	}
	cs := &callers{timeout: o.timeout}
	defer cs.close()
	if o.fanout {
		return cs.fanout(ctx, o, addrs, stdout, stderr)
	}
	return cs.first(ctx, o, addrs, stdout, stderr)
}

// matching keeps the announced addresses equal to server (as written, or
// as the same IP and port).
func matching(addrs []string, server string) []string {
	want, werr := netip.ParseAddrPort(server)
	for _, a := range addrs {
		if a == server {
			return []string{a}
		}
		if got, err := netip.ParseAddrPort(a); werr == nil && err == nil && got == want {
			return []string{a}
		}
	}
	return nil
}

// callers makes the service calls from one rpcudp endpoint per address
// family, opened on first use.
type callers struct {
	timeout time.Duration
	mu      sync.Mutex
	eps     map[bool]*rpcudp.Endpoint // by "is IPv4"
}

// call calls addr (an announced address) once.
func (cs *callers) call(ctx context.Context, addr string, method string, args []any) (rpcudp.Reply, error) {
	to, err := resolve(addr)
	if err != nil {
		return nil, fmt.Errorf("announced address %q: %w", addr, err)
	}
	ep, err := cs.endpoint(ctx, to)
	if err != nil {
		return nil, err
	}
	return ep.Call(ctx, to, method, args...)
}

func (cs *callers) endpoint(ctx context.Context, to netip.AddrPort) (*rpcudp.Endpoint, error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	is4 := to.Addr().Unmap().Is4()
	if ep, ok := cs.eps[is4]; ok {
		return ep, nil
	}
	listen := "[::]:0"
	if is4 {
		listen = "0.0.0.0:0"
	}
	ep, err := rpcudp.Listen(ctx, listen, rpcudp.WithTimeout(cs.timeout))
	if err != nil {
		return nil, err
	}
	ep.Unhandle("rpcudp.methods") // a client: nothing to introspect
	if cs.eps == nil {
		cs.eps = map[bool]*rpcudp.Endpoint{}
	}
	cs.eps[is4] = ep
	return ep, nil
}

func (cs *callers) close() {
	for _, ep := range cs.eps {
		ep.Close()
	}
}

// first calls the servers one after another, in o.order (random by
// default), until one answers; it prints the answer as examples/call does.
func (cs *callers) first(ctx context.Context, o callOptions, addrs []string, stdout, stderr io.Writer) int {
	order := o.order
	if order == nil {
		order = rand.Perm
	}
	for n, i := range order(len(addrs)) {
		reply, err := cs.call(ctx, addrs[i], o.method, o.args)
		var rerr *rpcudp.RemoteError
		switch {
		case errors.Is(err, rpcudp.ErrTimeout) && ctx.Err() == nil:
			if n < len(addrs)-1 {
				fmt.Fprintf(stderr, "registry: no response from %s; trying the next server\n", addrs[i])
			}
			continue
		case errors.As(err, &rerr):
			fmt.Fprintf(stderr, "error %d: %s\n", rerr.Code, rerr.Message)
			return callErrorReply
		case err != nil:
			fmt.Fprintln(stderr, "registry:", err)
			return callUsage
		}
		out, err := jsonmsg.FormatReply(reply)
		if err != nil {
			fmt.Fprintln(stderr, "registry: reply:", err)
			return callUsage
		}
		fmt.Fprintln(stdout, out)
		return callOK
	}
	fmt.Fprintln(stdout, "No response received.")
	return callNoReply
}

// fanoutLine is one server's answer under -fanout.
type fanoutLine struct {
	Server string          `json:"server"`
	Reply  json.RawMessage `json:"reply,omitempty"`
	Error  *fanoutError    `json:"error,omitempty"`
}

// fanoutError is an error reply (with its code) or a missing reply (code 0).
type fanoutError struct {
	Code    rpcudp.ErrorCode `json:"code,omitempty"`
	Message string           `json:"message"`
}

// fanout calls every server at once and prints one JSON line per server,
// in address order. The exit status is the worst of the answers: 0 when
// all replied, 2 when one did not answer, else 1 when one sent an error.
func (cs *callers) fanout(ctx context.Context, o callOptions, addrs []string, stdout, stderr io.Writer) int {
	// Open the endpoints first, so the calls below only share them.
	for _, a := range addrs {
		if to, err := resolve(a); err == nil {
			if _, err := cs.endpoint(ctx, to); err != nil {
				fmt.Fprintln(stderr, "registry:", err)
				return callUsage
			}
		}
	}
	lines := make([]fanoutLine, len(addrs))
	codes := make([]int, len(addrs))
	var wg sync.WaitGroup
	for i, a := range addrs {
		wg.Go(func() {
			reply, err := cs.call(ctx, a, o.method, o.args)
			lines[i], codes[i] = fanoutAnswer(a, reply, err)
		})
	}
	wg.Wait()
	code := callOK
	for i, l := range lines {
		b, err := json.Marshal(l)
		if err != nil {
			fmt.Fprintln(stderr, "registry:", err)
			return callUsage
		}
		fmt.Fprintln(stdout, string(b))
		code = max(code, codes[i]) // 3 local > 2 no reply > 1 error reply > 0
	}
	return code
}

// fanoutAnswer turns one call's outcome into its line and exit status.
func fanoutAnswer(addr string, reply rpcudp.Reply, err error) (fanoutLine, int) {
	l := fanoutLine{Server: addr}
	var rerr *rpcudp.RemoteError
	switch {
	case errors.As(err, &rerr):
		l.Error = &fanoutError{Code: rerr.Code, Message: rerr.Message}
		return l, callErrorReply
	case errors.Is(err, rpcudp.ErrTimeout):
		l.Error = &fanoutError{Message: "No response received."}
		return l, callNoReply
	case err != nil:
		l.Error = &fanoutError{Message: err.Error()}
		return l, callUsage
	}
	out, err := jsonmsg.FormatReply(reply)
	if err != nil {
		l.Error = &fanoutError{Message: "reply: " + err.Error()}
		return l, callUsage
	}
	l.Reply = json.RawMessage(out)
	return l, callOK
}

// resolve accepts "host:port" with a literal IP or a resolvable name.
func resolve(addr string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return ap, nil
	}
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return ua.AddrPort(), nil
}
