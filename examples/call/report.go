package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/rpcudp/go-rpcudp/rpcudp/jsonmsg"
)

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
