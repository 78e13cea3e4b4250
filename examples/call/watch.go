package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"

	"github.com/rpcudp/go-rpcudp/rpcudp/jsonmsg"
	"github.com/rpcudp/go-rpcudp/rpcudp/service"
)

// emission is one line of -watch's output.
type emission struct {
	Signal string          `json:"signal"`
	Seq    uint64          `json:"seq"`
	Missed uint64          `json:"missed,omitempty"`
	Args   json.RawMessage `json:"args"`
}

// watch subscribes to o.watch at to and prints each emission until ctx is
// done or o.watchD has passed; it returns the exit status.
func watch(ctx context.Context, c *service.Client, to netip.AddrPort, o options, stdout, stderr io.Writer) int {
	if o.watchD > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.watchD)
		defer cancel()
	}
	sub, err := c.Subscribe(ctx, to, o.watch, 0)
	if err != nil {
		return report(o, nil, err, stdout, stderr)
	}
	defer sub.Close()
	for {
		select {
		case <-ctx.Done():
			return exitOK
		case em, ok := <-sub.C():
			if !ok {
				fmt.Fprintf(stderr, "call: the server no longer has the signal %q\n", o.watch)
				return exitErrorReply
			}
			line, err := formatEmission(em)
			if err != nil {
				fmt.Fprintln(stderr, "call: emission:", err)
				return exitUsage
			}
			fmt.Fprintln(stdout, line)
		}
	}
}

// formatEmission writes em as one JSON line.
func formatEmission(em service.Emission) (string, error) {
	vs, err := em.Values()
	if err != nil {
		return "", err
	}
	args, err := jsonmsg.Format(vs)
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(emission{Signal: em.Signal, Seq: em.Seq, Missed: em.Missed, Args: json.RawMessage(args)})
	return string(b), err
}
