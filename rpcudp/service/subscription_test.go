package service_test

import (
	"errors"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/rpcudp/go-rpcudp/rpcudp/service"
	"github.com/rpcudp/go-rpcudp/rpcudp/simnet"
)

// closedWithin waits up to d for sub's channel to close (emissions
// aside) and reports whether it did.
func closedWithin(sub *service.Subscription, d time.Duration) bool {
	timeout := time.After(d)
	for {
		select {
		case _, ok := <-sub.C():
			if !ok {
				return true
			}
		case <-timeout:
			return false
		}
	}
}

// TestSubscriptionLost: a subscription whose renewals fail past the lease
// granted (1 s) says so: its channel closes and Err wraps ErrLost and
// the cause; within the lease it holds on, so that a server stopped
// briefly keeps its subscribers.
func TestSubscriptionLost(t *testing.T) {
	tests := []struct {
		name  string
		kill  func(r *rig)
		cause error // nil: the subscription lives on
	}{
		{"server closed", func(r *rig) { r.srv.Close() }, service.ErrStopped},
		{"server stopped", func(r *rig) { r.srv.Stop() }, service.ErrStopped},
		{"server out of reach", func(r *rig) {
			r.net.Partition([]netip.Addr{r.addr.Addr()}, []netip.Addr{r.cliEP.LocalAddr().Addr()})
		}, rpcudp.ErrTimeout},
		{"server stopped briefly", func(r *rig) {
			r.srv.Stop()
			time.Sleep(400 * time.Millisecond)
			r.srv.Start()
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newRig(t, simnet.Config{Latency: time.Millisecond})
				sig, err := r.srv.Signal("tick", "")
				must(t, err)
				r.srv.Start()
				sub, err := r.client.Subscribe(bg, r.addr, "tick", time.Second)
				must(t, err)
				defer sub.Close()
				time.Sleep(500 * time.Millisecond) // a renewal acknowledged at 333 ms
				tc.kill(r)
				if closedWithin(sub, 500*time.Millisecond) {
					t.Fatalf("closed within the lease: %v", sub.Err())
				}
				if tc.cause == nil {
					if closedWithin(sub, 5*time.Second) || sub.Err() != nil {
						t.Fatalf("lost after a brief stop: %v", sub.Err())
					}
					if n := sig.Emit(bg, 1); n != 1 {
						t.Fatalf("emitted to %d subscribers after the restart", n)
					}
					return
				}
				if !closedWithin(sub, time.Second) {
					t.Fatal("still open a second past the lease")
				}
				if err := sub.Err(); !errors.Is(err, service.ErrLost) || !errors.Is(err, tc.cause) {
					t.Fatalf("Err() = %v, want %v and %v", err, service.ErrLost, tc.cause)
				}
			})
		})
	}
}

// TestSubscriptionEnds: Err says who ended a subscription: nil after its
// own Close, ErrClosed after the client's.
func TestSubscriptionEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, simnet.Config{Latency: time.Millisecond})
		_, err := r.srv.Signal("tick", "")
		must(t, err)
		r.srv.Start()
		own, err := r.client.Subscribe(bg, r.addr, "tick", time.Second)
		must(t, err)
		byClient, err := r.client.Subscribe(bg, r.addr, "tick", time.Second)
		must(t, err)
		if own.Err() != nil {
			t.Fatalf("live: %v", own.Err())
		}
		must(t, own.Close())
		if !closedWithin(own, time.Millisecond) || own.Err() != nil {
			t.Fatalf("after Close: %v", own.Err())
		}
		must(t, r.client.Close())
		if !closedWithin(byClient, time.Millisecond) || !errors.Is(byClient.Err(), service.ErrClosed) {
			t.Fatalf("after the client's Close: %v", byClient.Err())
		}
	})
}

// TestClosedClient: a closed client's Subscribe, Claim and NewProxy fail
// with ErrClosed and send nothing: the server holds no subscriber and no
// claim.
func TestClosedClient(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, simnet.Config{Latency: time.Millisecond}, service.WithClaims(0, nil))
		sig, err := r.srv.Signal("tick", "")
		must(t, err)
		_, err = service.AddProperty(r.srv, service.PropertyDef[int]{Name: "gain", Changed: "gain_changed"})
		must(t, err)
		r.srv.Start()
		must(t, r.client.Close())
		before := r.srvEP.Stats().DatagramsIn
		if _, err := r.client.Subscribe(bg, r.addr, "tick", time.Second); !errors.Is(err, service.ErrClosed) {
			t.Errorf("Subscribe: %v, want %v", err, service.ErrClosed)
		}
		if _, err := r.client.Claim(bg, r.addr, "me", service.ClaimOptions{}); !errors.Is(err, service.ErrClosed) {
			t.Errorf("Claim: %v, want %v", err, service.ErrClosed)
		}
		if _, err := service.NewProxy[int](bg, r.client, r.addr, "gain", 0); !errors.Is(err, service.ErrClosed) {
			t.Errorf("NewProxy: %v, want %v", err, service.ErrClosed)
		}
		synctest.Wait()
		if n := r.srvEP.Stats().DatagramsIn - before; n != 0 || sig.Subscribers() != 0 {
			t.Errorf("the server got %d datagrams and holds %d subscribers", n, sig.Subscribers())
		}
		if s, ok := r.srv.Claimed(); ok {
			t.Errorf("claimed by %q", s)
		}
	})
}
