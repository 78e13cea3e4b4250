package service_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"
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
	r := newRig(t, cfg, service.WithClaims(5*time.Second, rel.hook))
	gain := 0.0
	must(t, r.srv.Handle("set_gain", func(_ context.Context, _ netip.AddrPort, g float64) error { gain = g; return nil },
		service.Method{Claimed: true, Doc: "set the gain"}))
	must(t, r.srv.Handle("get_gain", func(context.Context, netip.AddrPort) (float64, error) { return gain, nil }))
	r.srv.Start()
	return r, rel
}

// claimCookie asks ep's claim cookie of the server, as the first claim
// (without a cookie) of a client at ep's address gets it.
func (r *rig) claimCookie(t *testing.T, ep *rpcudp.Endpoint, args ...any) string {
	t.Helper()
	reply, err := ep.Call(bg, r.addr, "claim", args...)
	must(t, err)
	var got []string
	if err := reply.Decode(&got); err != nil || len(got) != 1 || got[0] == "" || len(got[0]) > 32 {
		t.Fatalf("claim%v without a valid cookie: reply %x (%v), want [cookie]", args, []byte(reply), err)
	}
	return got[0]
}

// claim makes a claim by hand, as a Python client would: the first claim
// is answered with the cookie, which the second sends back.
func (r *rig) claim(session string) (string, error) {
	reply, err := r.cliEP.Call(bg, r.addr, "claim", session)
	if err != nil {
		return "", err
	}
	var cookie []string
	if err := reply.Decode(&cookie); err != nil || len(cookie) != 1 {
		return "", fmt.Errorf("claim reply %x, want [cookie]", []byte(reply))
	}
	var tok string
	if reply, err = r.call("claim", session, cookie[0]); err == nil {
		err = reply.Decode(&tok)
	}
	return tok, err
}

// mustClaim makes a claim by hand that must be granted.
func mustClaim(t *testing.T, r *rig, session string) string {
	t.Helper()
	tok, err := r.claim(session)
	if err != nil {
		t.Fatalf("claim %q: %v", session, err)
	}
	return tok
}

func TestClaims(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, r *rig, rel *release)
	}{
		{"double claim", func(t *testing.T, r *rig, _ *release) {
			mustClaim(t, r, "a")
			_, err := r.claim("b")
			if !errors.Is(err, service.ErrClaimed) || !errors.Is(err, rpcudp.ErrHandler) {
				t.Fatalf("second claim: %v, want ErrClaimed", err)
			}
		}},
		{"session bounded and quoted", func(t *testing.T, r *rig, _ *release) {
			if _, err := r.call("claim", strings.Repeat("s", 257)); !errors.Is(err, rpcudp.ErrBadArgs) {
				t.Fatalf("claim with a 257-byte session: %v, want ErrBadArgs", err)
			}
			mustClaim(t, r, "a\"b\n")
			_, err := r.claim("c")
			if !errors.Is(err, service.ErrClaimed) || !strings.HasSuffix(err.Error(), `by session "a\"b\n"`) {
				t.Fatalf("second claim: %v", err)
			}
		}},
		{"error quotes a short prefix of the session", func(t *testing.T, r *rig, _ *release) {
			mustClaim(t, r, strings.Repeat("\x00", 256))
			_, err := r.claim("c")
			var re *rpcudp.RemoteError
			if !errors.Is(err, service.ErrClaimed) || !errors.As(err, &re) || len(re.Message) > 100 {
				t.Fatalf("claim while a 256-byte session holds: %v", err)
			}
		}},
		{"claim needs the cookie", func(t *testing.T, r *rig, _ *release) {
			other := simEndpoint(t, r.net, "127.0.0.3:1000")
			defer other.Close()
			elsewhere := r.claimCookie(t, other, "x") // another address's
			cookie := r.claimCookie(t, r.cliEP, "a")
			for _, args := range [][]any{{"a", ""}, {"a", "0123456789abcdef"}, {"a", elsewhere}} {
				if got := r.claimCookie(t, r.cliEP, args...); got != cookie {
					t.Errorf("claim%v: cookie %q, want %q", args, got, cookie)
				}
			}
			time.Sleep(11 * time.Minute) // the cookie expires
			if got := r.claimCookie(t, r.cliEP, "a", cookie); got == cookie {
				t.Errorf("an 11-minute-old cookie: cookie %q again", got)
			}
			if s, ok := r.srv.Claimed(); ok {
				t.Fatalf("claimed by %q without a valid cookie", s)
			}
			// From another port of the same host, as examples/call claims by hand.
			again := simEndpoint(t, r.net, "127.0.0.2:1001")
			defer again.Close()
			cookie = r.claimCookie(t, r.cliEP, "a")
			reply, err := again.Call(bg, r.addr, "claim", "a", cookie)
			must(t, err)
			var tok string
			if err := reply.Decode(&tok); err != nil || len(tok) != 16 {
				t.Fatalf("claim with the cookie: %x, %v", []byte(reply), err)
			}
			if s, ok := r.srv.Claimed(); !ok || s != "a" {
				t.Fatalf("claimed %q %v", s, ok)
			}
		}},
		{"wrong or no token", func(t *testing.T, r *rig, _ *release) {
			tok := mustClaim(t, r, "a")
			if len(tok) != 16 {
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
			tok := mustClaim(t, r, "a")
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
			mustClaim(t, r, "b")
		}},
		{"unclaim", func(t *testing.T, r *rig, rel *release) {
			tok := mustClaim(t, r, "a")
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
			if _, err := r.client.Call(bg, r.addr, service.Target{}, "set_gain", cl.Token(), 3.0); err != nil {
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
			if !errors.Is(cl.Err(), service.ErrLost) || time.Since(start) > 7*time.Second {
				t.Fatalf("after %v: %v", time.Since(start), cl.Err())
			}
			if got := <-rel.ch; got != "cut lapsed" {
				t.Fatalf("hook: %q", got)
			}
			if err := cl.Unclaim(bg); !errors.Is(err, service.ErrLost) {
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
		r := newRig(t, simnet.Config{Latency: time.Millisecond}, service.WithClaims(5*time.Second, func(session string, _ bool) {
			inHook <- session
			<-unblock
		}))
		r.srv.Start()
		mustClaim(t, r, "a")
		if s := <-inHook; s != "a" { // the claim lapsed; its hook blocks
			t.Fatalf("hook for %q", s)
		}
		granted := make(chan error, 1)
		go func() {
			_, err := r.claim("b")
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

// TestClaimOldServer: a server that grants a claim without a cookie (as
// before claims needed one) is claimed with the first request.
func TestClaimOldServer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, simnet.Config{Latency: time.Millisecond})
		old := simEndpoint(t, r.net, "127.0.0.9:1235")
		defer old.Close()
		const token = "OLDSERVERTOKEN16"
		var claims atomic.Int32
		must(t, old.Handle("claim", func(_ context.Context, _ netip.AddrPort, session string) (string, error) {
			claims.Add(1)
			return token, nil
		}))
		must(t, old.Handle("unclaim", func(_ context.Context, _ netip.AddrPort, tok string) error { return nil }))
		cl, err := r.client.Claim(bg, old.LocalAddr(), "me", service.ClaimOptions{})
		must(t, err)
		if cl.Token() != token || claims.Load() != 1 {
			t.Fatalf("token %q after %d claims", cl.Token(), claims.Load())
		}
		must(t, cl.Unclaim(bg))
	})
}
