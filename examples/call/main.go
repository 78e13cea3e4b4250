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
	"os"
	"os/signal"
	"syscall"

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

// main runs the command until SIGINT or SIGTERM (ending -watch); a second signal kills at once.
func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
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
