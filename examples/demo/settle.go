package main

import (
	"context"
	"fmt"
	"io"
	"time"
)

// settle waits, at most cfg.Settle, until every node that joined has run
// its self-lookup a second time (kademlia repeats it a few seconds after
// Bootstrap, when the nodes of the same join wave have become known and
// verified), and says on stdout what it waits for. The lookups it sees
// are reported as the "settle" phase.
func (d *demo) settle(ctx context.Context, stdout io.Writer) {
	want := countTrue(d.joined)
	if d.cfg.Settle <= 0 || want == 0 {
		return
	}
	d.lookups.setPhase("settle")
	fmt.Fprintf(stdout, "demo: waiting (at most -settle %v) for the %d joined nodes to repeat their self-lookup, which finds the nodes that joined with them ...\n",
		d.cfg.Settle, want)
	d.sum.SettleWanted = want
	start := time.Now()
	defer func() { d.sum.Settle = time.Since(start) }()
	t := time.NewTimer(d.cfg.Settle)
	defer t.Stop()
	for {
		if d.sum.Settled = d.lookups.repeatedSelfLookups(d.joined); d.sum.Settled == want {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			return
		case <-d.lookups.selfLookup:
		}
	}
}

// countTrue counts the true elements of bs.
func countTrue(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}
