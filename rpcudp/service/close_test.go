package service_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp/service"
	"github.com/rpcudp/go-rpcudp/rpcudp/simnet"
)

// closeWatch is a release hook that fails the test if it runs after
// Server.Close returned, and may be held up to test that Close waits.
type closeWatch struct {
	t      *testing.T
	closed atomic.Bool   // Close has returned
	hold   chan struct{} // if not nil, the hook waits for it
	ran    chan string
}

func (w *closeWatch) hook(session string, lapsed bool) {
	if w.hold != nil {
		<-w.hold
	}
	if w.closed.Load() {
		w.t.Errorf("release hook for %q ran after Close", session)
	}
	how := "unclaimed"
	if lapsed {
		how = "lapsed"
	}
	w.ran <- session + " " + how
}

func (w *closeWatch) close(s *service.Server) {
	must(w.t, s.Close())
	w.closed.Store(true)
}

func TestServerClose(t *testing.T) {
	tests := []struct {
		name string
		hold bool // the hook waits for the test
		run  func(t *testing.T, r *rig, w *closeWatch)
	}{
		{"claim ends in Close, no hook after", false, func(t *testing.T, r *rig, w *closeWatch) {
			tok := mustClaim(t, r, "a")
			w.close(r.srv)
			if got := <-w.ran; got != "a unclaimed" {
				t.Fatalf("hook in Close: %q", got)
			}
			time.Sleep(time.Minute) // well past the claim timeout
			synctest.Wait()
			if _, ok := r.srv.Claimed(); ok {
				t.Error("still claimed after Close")
			}
			r.srv.Start() // no effect after Close
			for _, c := range [][]any{{"claim", "b"}, {"reclaim", tok}, {"get_gain"}, {"svc.inventory"}} {
				if _, err := r.call(c[0].(string), c[1:]...); !errors.Is(err, service.ErrStopped) {
					t.Errorf("%v after Close: %v, want ErrStopped", c, err)
				}
			}
			w.close(r.srv) // twice is fine
		}},
		{"Close waits for a lapse's hook", true, func(t *testing.T, r *rig, w *closeWatch) {
			mustClaim(t, r, "a")
			time.Sleep(6 * time.Second) // the timer fires; its hook waits
			synctest.Wait()
			done := make(chan struct{})
			go func() {
				w.close(r.srv)
				close(done)
			}()
			synctest.Wait()
			select {
			case <-done:
				t.Fatal("Close returned while the release hook ran")
			default:
			}
			close(w.hold)
			if got := <-w.ran; got != "a lapsed" {
				t.Fatalf("hook: %q", got)
			}
			<-done
		}},
		{"no claim: no hook", false, func(t *testing.T, r *rig, w *closeWatch) {
			w.close(r.srv)
			w.close(r.srv)
			synctest.Wait()
			if len(w.ran) != 0 {
				t.Fatalf("hook ran: %q", <-w.ran)
			}
		}},
		{"subscribers dropped", false, func(t *testing.T, r *rig, w *closeWatch) {
			g, err := r.srv.Signal("tick", "")
			must(t, err)
			sub, err := r.client.Subscribe(bg, r.addr, "tick", time.Minute)
			must(t, err)
			defer sub.Close()
			if n := g.Subscribers(); n != 1 {
				t.Fatalf("%d subscribers", n)
			}
			w.close(r.srv)
			if n := g.Subscribers(); n != 0 {
				t.Errorf("%d subscribers after Close", n)
			}
			if n := g.Emit(bg, 1); n != 0 {
				t.Errorf("Emit after Close sent %d", n)
			}
			if _, err := r.client.Subscribe(bg, r.addr, "tick", time.Minute); !errors.Is(err, service.ErrStopped) {
				t.Errorf("Subscribe after Close: %v, want ErrStopped", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := &closeWatch{t: t, ran: make(chan string, 8)}
				if tc.hold {
					w.hold = make(chan struct{})
				}
				r := newRig(t, simnet.Config{Latency: time.Millisecond}, service.WithClaims(0, w.hook))
				must(t, r.srv.Handle("get_gain", func(context.Context, netip.AddrPort) (float64, error) { return 1, nil }))
				r.srv.Start()
				tc.run(t, r, w)
			})
		})
	}
}

// TestClientCloseUnhandles: Client.Close removes its emission method from
// the endpoint, which goes on serving.
func TestClientCloseUnhandles(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, simnet.Config{})
		sinks := func() (n int) {
			for _, m := range r.cliEP.Methods() {
				if strings.HasPrefix(m, "svc.emit.") {
					n++
				}
			}
			return n
		}
		c2, err := service.NewClient(r.cliEP)
		must(t, err)
		if n := sinks(); n != 2 {
			t.Fatalf("%d sinks with two clients", n)
		}
		must(t, c2.Close())
		must(t, c2.Close())
		if n := sinks(); n != 1 {
			t.Fatalf("%d sinks after one Close", n)
		}
		must(t, r.client.Close())
		if n := sinks(); n != 0 {
			t.Fatalf("%d sinks after both Close", n)
		}
	})
}
