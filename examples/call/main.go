// Command call is a generic rpcudp client, as grpcurl is for gRPC: it calls
// any method of an rpcudp server (Go or Python) with arguments written as
// JSON and prints the reply as JSON.
//
//	call [flags] HOST:PORT METHOD [ARG...]
//	call -list HOST:PORT
//	call -watch SIGNAL [-for D] HOST:PORT
//
// Each ARG is one JSON value, packed as Python's u-msgpack packs the
// matching Python value: a string as str, a whole number as an integer,
// a number with a fraction or exponent as a float, true/false, null (None),
// an array as an array, an object as a map with str keys. Other values are
// written as small objects, the notation of the project's recorded Python
// values (rpcudp/testdata/python-values.json):
//
//	{"bin": "00ff62696e"}           bytes (bin), in hex
//	{"float": "3"}                  a float written as a string: "3", "-0.0", "inf", "nan"
//	{"map": [[1, "a"], ["b", 2]]}   a map with keys of any type
//
// The reply is printed the same way on one line: a bin as {"bin": hex}, a
// map whose keys are not all strings as {"map": [[key, value], ...]}, a
// float always with a decimal point (or as {"float": "inf"}).
//
// -list prints the methods a Go server serves, one a line (Python servers
// do not answer it). Exit status: 0 for a reply, 1 for an error reply (its
// code and message are printed), 2 when no reply came ("No response
// received."), 3 for bad usage or a local failure.
//
// A Go server built with package rpcudp/service may hold methods in
// namespaces and versions: -namespace NS and -version V (as "2.0"; "2" is
// "2.0") name them, and the server answers with an error reply when it has
// no such namespace or no compatible version (same major, minor at least
// V's). -watch SIGNAL subscribes to one of its signals (renewing the lease
// in the background) and prints each emission as a JSON line,
//
//	{"signal":"gain_changed","seq":1,"args":[30.5]}
//
// ("missed":N when N emissions were lost before this one) until
// interrupted (SIGINT or SIGTERM) or, with -for D, for D; it then exits 0.
//
//	go run ./examples/call 127.0.0.1:8468 find_node '{"bin":"0123456789abcdef0123456789abcdef01234567"}' '{"bin":"00112233445566778899aabbccddeeff00112233"}'
//	go run ./examples/call -timeout 1s -retry 200ms 127.0.0.1:1234 sayhi '"Snake Plissken"'
//	go run ./examples/call -list 127.0.0.1:1234
//	go run ./examples/call -namespace control -version 2.0 127.0.0.1:1234 stop
//	go run ./examples/call -watch gain_changed -for 1m 127.0.0.1:1235
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/rpcudp/go-rpcudp/rpcudp/jsonmsg"
	"github.com/rpcudp/go-rpcudp/rpcudp/service"
)

// Exit statuses.
const (
	exitOK         = 0
	exitErrorReply = 1
	exitNoResponse = 2
	exitUsage      = 3
)

func main() {
	// The context ends on SIGINT or SIGTERM (ending -watch); a second
	// signal kills at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options are the command line, parsed.
type options struct {
	timeout time.Duration
	retry   time.Duration
	listen  string
	list    bool
	target  service.Target // -namespace, -version
	watch   string
	watchD  time.Duration // -for
	addr    string
	method  string
	args    []string
}

func parseArgs(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("call", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.timeout, "timeout", 5*time.Second, "how long to wait for the reply")
	fs.DurationVar(&o.retry, "retry", 0, "resend the request after this long, doubling (0: never, as Python)")
	fs.StringVar(&o.listen, "listen", "", "local UDP address to call from (default: any, of the server's family)")
	fs.BoolVar(&o.list, "list", false, "print the methods a Go server serves")
	fs.StringVar(&o.target.Namespace, "namespace", "", "the method's namespace (a rpcudp/service server's)")
	fs.StringVar(&o.target.Version, "version", "", "the version the method must be compatible with, as 2.0")
	fs.StringVar(&o.watch, "watch", "", "subscribe to this signal and print each emission as a JSON line")
	fs.DurationVar(&o.watchD, "for", 0, "with -watch: stop after this long (0: when interrupted)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: call [flags] HOST:PORT METHOD [ARG...]\n       call -list HOST:PORT\n       call -watch SIGNAL [-for D] HOST:PORT\n\n"+
			"Each ARG is JSON; bytes are {\"bin\":\"<hex>\"}, a float {\"float\":\"3\"}, a map with any keys {\"map\":[[k,v],...]}.\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	rest := fs.Args()
	if err := checkModes(o, len(rest)); err != nil {
		fs.Usage()
		return o, err
	}
	switch {
	case o.list && len(rest) != 1:
		fs.Usage()
		return o, errors.New("-list takes HOST:PORT alone")
	case !o.list && o.watch == "" && len(rest) < 2:
		fs.Usage()
		return o, errors.New("HOST:PORT and METHOD are required")
	case o.timeout <= 0 || o.retry < 0:
		return o, errors.New("-timeout must be positive, -retry not negative")
	}
	o.addr = rest[0]
	switch {
	case o.list:
		o.method = "rpcudp.methods" // the built-in introspection method
	case o.watch == "":
		o.method, o.args = rest[1], rest[2:]
	}
	return o, nil
}

// checkModes checks that the flags of -list, -watch and -namespace/-version
// go together, with nargs positional arguments.
func checkModes(o options, nargs int) error {
	named := o.target != service.Target{}
	switch {
	case o.watch != "" && (o.list || named):
		return errors.New("-watch takes neither -list nor -namespace/-version")
	case o.watch != "" && nargs != 1:
		return errors.New("-watch takes HOST:PORT alone")
	case o.watch == "" && o.watchD != 0:
		return errors.New("-for goes with -watch")
	case o.watchD < 0:
		return errors.New("-for must not be negative")
	case o.list && named:
		return errors.New("-list takes no -namespace/-version")
	}
	return nil
}

// run is the whole command; it returns the exit status. -watch runs until
// ctx is done.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseArgs(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "call:", err)
		}
		return exitUsage
	}
	callArgs := make([]any, len(o.args))
	for i, a := range o.args {
		if callArgs[i], err = jsonmsg.Parse(a); err != nil {
			fmt.Fprintf(stderr, "call: argument %d: %v\n", i+1, err)
			return exitUsage
		}
	}
	to, err := resolve(o.addr)
	if err != nil {
		fmt.Fprintln(stderr, "call:", err)
		return exitUsage
	}
	ep, err := rpcudp.Listen(ctx, listenAddr(o.listen, to), rpcudp.WithTimeout(o.timeout),
		rpcudp.WithRetry(rpcudp.RetryPolicy{Initial: o.retry}))
	if err != nil {
		fmt.Fprintln(stderr, "call:", err)
		return exitUsage
	}
	defer ep.Close()
	ep.Unhandle("rpcudp.methods") // a client: nothing to introspect
	if o.watch == "" && o.target == (service.Target{}) {
		reply, err := ep.Call(ctx, to, o.method, callArgs...)
		return report(o, reply, err, stdout, stderr)
	}
	c, err := service.NewClient(ep)
	if err != nil {
		fmt.Fprintln(stderr, "call:", err)
		return exitUsage
	}
	defer c.Close()
	if o.watch != "" {
		return watch(ctx, c, to, o, stdout, stderr)
	}
	reply, err := c.Call(ctx, to, o.target, o.method, callArgs...)
	return report(o, reply, err, stdout, stderr)
}

// report prints the outcome of the call and returns the exit status.
func report(o options, reply rpcudp.Reply, err error, stdout, stderr io.Writer) int {
	var rerr *rpcudp.RemoteError
	switch {
	case errors.As(err, &rerr):
		fmt.Fprintf(stderr, "error %d: %s\n", rerr.Code, rerr.Message)
		return exitErrorReply
	case errors.Is(err, rpcudp.ErrTimeout):
		fmt.Fprintln(stdout, "No response received.")
		return exitNoResponse
	case err != nil:
		fmt.Fprintln(stderr, "call:", err)
		return exitUsage
	}
	if o.list {
		var names []string
		if err := reply.Decode(&names); err != nil {
			fmt.Fprintln(stderr, "call: -list: the reply is not a list of names:", err)
			return exitUsage
		}
		for _, n := range names {
			fmt.Fprintln(stdout, n)
		}
		return exitOK
	}
	out, err := jsonmsg.FormatReply(reply)
	if err != nil {
		fmt.Fprintln(stderr, "call: reply:", err)
		return exitUsage
	}
	fmt.Fprintln(stdout, out)
	return exitOK
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

// listenAddr is -listen, or any address of the server's family.
func listenAddr(listen string, to netip.AddrPort) string {
	switch {
	case listen != "":
		return listen
	case to.Addr().Unmap().Is4():
		return "0.0.0.0:0"
	}
	return "[::]:0"
}
