package service_test

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp/service"
	"github.com/rpcudp/go-rpcudp/rpcudp/simnet"
)

// TestSubscribeNeedsCookie: a subscribe that does not carry the cookie
// the server gave to its address subscribes nothing, so that one from a
// spoofed address cannot make the server send emissions to a victim; the
// cookie sent back subscribes.
func TestSubscribeNeedsCookie(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, simnet.Config{Latency: time.Millisecond})
		sig, err := r.srv.Signal("tick", "")
		must(t, err)
		r.srv.Start()
		for _, args := range [][]any{
			{"tick", 60000, "svc.emit.x", "id1"},
			{"tick", 60000, "svc.emit.x", "id1", ""},
			{"tick", 60000, "svc.emit.x", "id1", "0123456789abcdef01234567"},
		} {
			var got []any
			reply, err := r.cliEP.Call(bg, r.addr, "svc.subscribe", args...)
			must(t, err)
			must(t, reply.Decode(&got))
			if len(got) != 4 || sig.Subscribers() != 0 || sig.Emit(bg, 1) != 0 {
				t.Fatalf("subscribe %v without the cookie: reply %v, %d subscribers", args, got, sig.Subscribers())
			}
		}
		var got []any
		reply, err := r.cliEP.Call(bg, r.addr, "svc.subscribe", "tick", 60000, "svc.emit.x", "id1")
		must(t, err)
		must(t, reply.Decode(&got))
		cookie, _ := got[3].(string)
		_, err = r.cliEP.Call(bg, r.addr, "svc.subscribe", "tick", 60000, "svc.emit.x", "id2", cookie)
		must(t, err)
		if n := sig.Subscribers(); n != 0 {
			t.Fatalf("another id's cookie subscribed: %d", n)
		}
		reply, err = r.cliEP.Call(bg, r.addr, "svc.subscribe", "tick", 60000, "svc.emit.x", "id1", cookie)
		must(t, err)
		got = nil
		must(t, reply.Decode(&got))
		if len(got) != 3 || sig.Subscribers() != 1 {
			t.Fatalf("with the cookie: reply %v, %d subscribers", got, sig.Subscribers())
		}
	})
}

// TestSubscribersPerHost: one host cannot take all of a signal's
// subscriber slots.
func TestSubscribersPerHost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, simnet.Config{Latency: time.Millisecond})
		sig, err := r.srv.Signal("tick", "")
		must(t, err)
		r.srv.Start()
		var err33 error
		for range 33 {
			var sub *service.Subscription
			if sub, err33 = r.client.Subscribe(bg, r.addr, "tick", time.Minute); err33 == nil {
				defer sub.Close()
			}
		}
		if !errors.Is(err33, service.ErrTooManySubscribers) || sig.Subscribers() != 32 {
			t.Fatalf("33rd subscription from one host: %v; %d subscribers", err33, sig.Subscribers())
		}
	})
}

// TestRenewAcrossCookieRotation: subscribe cookies expire (5 to 10
// minutes); a subscriber renewing with a stale one is given a new one and
// keeps its subscription.
func TestRenewAcrossCookieRotation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, simnet.Config{Latency: time.Millisecond})
		sig, err := r.srv.Signal("tick", "")
		must(t, err)
		r.srv.Start()
		sub, err := r.client.Subscribe(bg, r.addr, "tick", time.Minute)
		must(t, err)
		defer sub.Close()
		for i := range 4 {
			time.Sleep(8 * time.Minute)
			if n := sig.Emit(bg, i); n != 1 {
				t.Fatalf("after %d minutes: emitted to %d", 8*(i+1), n)
			}
			if em := <-sub.C(); em.Missed != 0 {
				t.Fatalf("emission %+v", em)
			}
		}
	})
}
