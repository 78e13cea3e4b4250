package kademlia

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/rpcudp/go-rpcudp/rpcudp/simnet"
	"github.com/rpcudp/go-rpcudp/rpcudp/wire"
	"github.com/vmihailenco/msgpack/v5"
)

// TestReplyCacheKeepsBudget (issue 19): with rpcudp's reply cache turned
// back on (WithReplyCache in Config.RPCOptions), a repeated request (same
// message id, same claimed source) is answered from the cache only within
// the source's reply budget, as a fresh one is: the cache must not answer
// repeats past the budget. On simnet, from a non-loopback address (loopback
// is exempt from the budget), in virtual time.
func TestReplyCacheKeepsBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := simnet.New(simnet.Config{Seed: 19, Latency: time.Millisecond})
		defer net.Close()
		conn, err := net.Listen(simAddr(0))
		if err != nil {
			t.Fatal(err)
		}
		n, err := Serve(conn, Config{ReplyBytesPerSecond: 1, ReplyBurst: 1,
			RPCOptions: []rpcudp.Option{rpcudp.WithReplyCache(1024, time.Minute)}})
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		attacker, err := net.Listen(simAddr(1))
		if err != nil {
			t.Fatal(err)
		}
		answers := make(chan int)
		go func() {
			got := 0
			for {
				if _, _, err := attacker.ReadPacket(); err != nil {
					answers <- got
					return
				}
				got++
			}
		}()
		// One ping, sent again and again: 43-byte answers against a burst
		// of one datagram's worth (ReplyBurst is at least 8213 bytes).
		var sender ID
		body, _ := msgpack.Marshal([]any{methodPing, []any{sender[:]}})
		ping := append(append([]byte{wire.TypeRequest}, make([]byte, 20)...), body...)
		const repeats = 400
		for range repeats {
			if _, err := attacker.WriteToUDPAddrPort(ping, n.Addr()); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Millisecond)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		attacker.Close()
		got := <-answers
		budget := (maxDatagram + 42) / 43 // the burst, in ping answers
		if got > budget {
			t.Errorf("%d of %d repeats answered, budget %d: the reply cache answers past the reply budget", got, repeats, budget)
		}
		if got == 0 || n.Metrics().Replies.Dropped == 0 {
			t.Errorf("%d answered, %d dropped: want some of each", got, n.Metrics().Replies.Dropped)
		}
		if s := n.ep.Stats(); s.CacheHits == 0 {
			t.Errorf("no cache hits (%+v): the repeats never reached the cache", s)
		}
	})
}
