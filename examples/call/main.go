// Command call is a generic rpcudp client, as grpcurl is for gRPC: it calls
// any method of an rpcudp server (Go or Python) with arguments written as
// JSON and prints the reply as JSON.
//
//	call [flags] HOST:PORT METHOD [ARG...]
//	call -list HOST:PORT
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
//	go run ./examples/call 127.0.0.1:8468 find_node '{"bin":"0123456789abcdef0123456789abcdef01234567"}' '{"bin":"00112233445566778899aabbccddeeff00112233"}'
//	go run ./examples/call -timeout 1s -retry 200ms 127.0.0.1:1234 sayhi '"Snake Plissken"'
//	go run ./examples/call -list 127.0.0.1:1234
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
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/rpcudp/go-rpcudp/rpcudp/jsonmsg"
)

// Exit statuses.
const (
	exitOK         = 0
	exitErrorReply = 1
	exitNoResponse = 2
	exitUsage      = 3
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// options are the command line, parsed.
type options struct {
	timeout time.Duration
	retry   time.Duration
	listen  string
	list    bool
	addr    string
	method  string
	args    []string
}

func parseArgs(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("call", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.timeout, "timeout", rpcudp.DefaultTimeout, "how long to wait for the reply")
	fs.DurationVar(&o.retry, "retry", 0, "resend the request after this long, doubling (0: never, as Python)")
	fs.StringVar(&o.listen, "listen", "", "local UDP address to call from (default: any, of the server's family)")
	fs.BoolVar(&o.list, "list", false, "print the methods a Go server serves")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: call [flags] HOST:PORT METHOD [ARG...]\n       call -list HOST:PORT\n\n"+
			"Each ARG is JSON; bytes are {\"bin\":\"<hex>\"}, a float {\"float\":\"3\"}, a map with any keys {\"map\":[[k,v],...]}.\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	rest := fs.Args()
	switch {
	case o.list && len(rest) != 1:
		fs.Usage()
		return o, errors.New("-list takes HOST:PORT alone")
	case !o.list && len(rest) < 2:
		fs.Usage()
		return o, errors.New("HOST:PORT and METHOD are required")
	case o.timeout <= 0 || o.retry < 0:
		return o, errors.New("-timeout must be positive, -retry not negative")
	}
	o.addr = rest[0]
	if o.list {
		o.method = rpcudp.MethodsMethod
	} else {
		o.method, o.args = rest[1], rest[2:]
	}
	return o, nil
}

// run is the whole command; it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
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
	ctx := context.Background()
	ep, err := rpcudp.Listen(ctx, listenAddr(o.listen, to), rpcudp.WithTimeout(o.timeout),
		rpcudp.WithRetry(rpcudp.RetryPolicy{Initial: o.retry}), rpcudp.WithoutIntrospection())
	if err != nil {
		fmt.Fprintln(stderr, "call:", err)
		return exitUsage
	}
	defer ep.Close()
	reply, err := ep.Call(ctx, to, o.method, callArgs...)
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
