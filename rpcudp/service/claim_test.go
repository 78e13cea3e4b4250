package service_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/rpcudp/go-rpcudp/rpcudp/service"
	"github.com/rpcudp/go-rpcudp/rpcudp/simnet"
)

// release records the release hook's calls.
type release struct {
	ch chan string
}

func (r *release) hook(session string, lapsed bool) {
	how := "unclaimed"
	if lapsed {
		how = "lapsed"
	}
	r.ch <- session + " " + how
}

// deviceRig is a rig serving a claimed set_gain and a safe get_gain.
func deviceRig(t *testing.T, cfg simnet.Config) (*rig, *release) {
	rel := &release{ch: make(chan string, 8)}
	r := newRig(t, cfg, service.WithClaimTimeout(5*time.Second), service.WithReleaseHook(rel.hook))
	gain := 0.0
	must(t, r.srv.Handle("set_gain", func(_ context.Context, _ netip.AddrPort, g float64) error { gain = g; return nil },
		service.Claimed(), service.Doc("set the gain")))
	must(t, r.srv.Handle("get_gain", func(context.Context, netip.AddrPort) (float64, error) { return gain, nil }))
	r.srv.Start()
	return r, rel
}

func TestClaims(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, r *rig, rel *release)
	}{
		{"double claim", func(t *testing.T, r *rig, _ *release) {
			callT[string](t, r, "claim", "a")
			_, err := r.call("claim", "b")
			if !errors.Is(err, service.ErrClaimed) || !errors.Is(err, rpcudp.ErrHandler) {
				t.Fatalf("second claim: %v, want ErrClaimed", err)
			}
		}},
		{"session bounded and quoted", func(t *testing.T, r *rig, _ *release) {
			if _, err := r.call("claim", strings.Repeat("s", 257)); !errors.Is(err, rpcudp.ErrBadArgs) {
				t.Fatalf("claim with a 257-byte session: %v, want ErrBadArgs", err)
			}
			callT[string](t, r, "claim", "a\"b\n")
			_, err := r.call("claim", "c")
			if !errors.Is(err, service.ErrClaimed) || !strings.HasSuffix(err.Error(), `by session "a\"b\n"`) {
				t.Fatalf("second claim: %v", err)
			}
		}},
		{"wrong or no token", func(t *testing.T, r *rig, _ *release) {
			tok := callT[string](t, r, "claim", "a")
			if len(tok) != service.TokenLen {
				t.Fatalf("token %q", tok)
			}
			for _, args := range [][]any{{"XXXXXXXXXXXXXXXX", 1.0}, {}, {1.0}} {
				if _, err := r.call("set_gain", args...); !errors.Is(err, service.ErrBadToken) {
					t.Errorf("set_gain%v: %v, want ErrBadToken", args, err)
				}
			}
			_, err := r.call("set_gain", tok, 2.5)
			must(t, err)
			if g := callT[float64](t, r, "get_gain"); g != 2.5 {
				t.Fatalf("gain %v", g)
			}
		}},
		{"lapse runs the release hook", func(t *testing.T, r *rig, rel *release) {
			tok := callT[string](t, r, "claim", "a")
			time.Sleep(4 * time.Second)
			callT[bool](t, r, "reclaim", tok)
			time.Sleep(4 * time.Second) // 8 s after the claim, 4 after the reclaim: still held
			if s, ok := r.srv.Claimed(); !ok || s != "a" {
				t.Fatalf("claimed %q %v after a reclaim", s, ok)
			}
			time.Sleep(1100 * time.Millisecond)
			synctest.Wait()
			if got := <-rel.ch; got != "a lapsed" {
				t.Fatalf("hook: %q", got)
			}
			if _, err := r.call("reclaim", tok); !errors.Is(err, service.ErrBadToken) {
				t.Fatalf("reclaim after lapse: %v", err)
			}
			callT[string](t, r, "claim", "b")
		}},
		{"unclaim", func(t *testing.T, r *rig, rel *release) {
			tok := callT[string](t, r, "claim", "a")
			if _, err := r.call("unclaim", "nope"); !errors.Is(err, service.ErrBadToken) {
				t.Fatalf("unclaim with a wrong token: %v", err)
			}
			_, err := r.call("unclaim", tok)
			must(t, err)
			if got := <-rel.ch; got != "a unclaimed" {
				t.Fatalf("hook: %q", got)
			}
			if _, err := r.call("set_gain", tok, 1.0); !errors.Is(err, service.ErrBadToken) {
				t.Fatalf("set_gain after unclaim: %v", err)
			}
		}},
		{"client reclaims in the background", func(t *testing.T, r *rig, rel *release) {
			cl, err := r.client.Claim(bg, r.addr, "bg", service.ClaimOptions{})
			must(t, err)
			time.Sleep(time.Minute)
			if _, err := cl.Call(bg, service.Target{}, "set_gain", 3.0); err != nil {
				t.Fatalf("after a minute: %v", err)
			}
			select {
			case <-cl.Lost():
				t.Fatalf("lost: %v", cl.Err())
			default:
			}
			must(t, cl.Unclaim(bg))
			if got := <-rel.ch; got != "bg unclaimed" {
				t.Fatalf("hook: %q", got)
			}
		}},
		{"client reports a lost claim", func(t *testing.T, r *rig, rel *release) {
			cl, err := r.client.Claim(bg, r.addr, "cut", service.ClaimOptions{})
			must(t, err)
			r.net.Partition([]netip.Addr{r.addr.Addr()}, []netip.Addr{r.cliEP.LocalAddr().Addr()})
			start := time.Now()
			<-cl.Lost()
			if !errors.Is(cl.Err(), service.ErrClaimLost) || time.Since(start) > 7*time.Second {
				t.Fatalf("after %v: %v", time.Since(start), cl.Err())
			}
			if got := <-rel.ch; got != "cut lapsed" {
				t.Fatalf("hook: %q", got)
			}
			if err := cl.Unclaim(bg); !errors.Is(err, service.ErrClaimLost) {
				t.Fatalf("unclaim of a lost claim: %v", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r, rel := deviceRig(t, simnet.Config{Latency: time.Millisecond})
				tc.run(t, r, rel)
			})
		})
	}
}

// TestClaimAfterRelease: a claim that comes while the release hook of
// the lapsed one still runs is granted only once the hook is done, so
// that the new holder never sees the device released under it.
func TestClaimAfterRelease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		inHook, unblock := make(chan string, 1), make(chan struct{})
		r := newRig(t, simnet.Config{Latency: time.Millisecond}, service.WithClaimTimeout(5*time.Second),
			service.WithReleaseHook(func(session string, _ bool) {
				inHook <- session
				<-unblock
			}))
		r.srv.Start()
		callT[string](t, r, "claim", "a")
		if s := <-inHook; s != "a" { // the claim lapsed; its hook blocks
			t.Fatalf("hook for %q", s)
		}
		granted := make(chan error, 1)
		go func() {
			_, err := r.call("claim", "b")
			granted <- err
		}()
		time.Sleep(time.Second) // virtual: the claim's round trip takes 2 ms
		select {
		case err := <-granted:
			t.Fatalf("claim granted (%v) while the release hook ran", err)
		default:
		}
		close(unblock)
		must(t, <-granted)
		if s, ok := r.srv.Claimed(); !ok || s != "b" {
			t.Fatalf("claimed by %q %v", s, ok)
		}
	})
}
