package main

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/rpcudp/go-rpcudp/rpcudp/jsonmsg"
	"github.com/rpcudp/go-rpcudp/rpcudp/service"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startDevice runs the command on loopback until the test ends and returns
// its address. At the end it checks that the device exited 0 and logged
// nothing (it is quiet by default).
func startDevice(t *testing.T, args ...string) netip.AddrPort {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() { done <- run(ctx, append([]string{"-listen", "127.0.0.1:0"}, args...), stdout, stderr) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 || stderr.String() != "" {
			t.Errorf("device exited %d, stderr %q", code, stderr)
		}
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		if line, ok := strings.CutSuffix(stdout.String(), "\n"); ok {
			fields := strings.Fields(line)
			addr, err := netip.ParseAddrPort(fields[len(fields)-1])
			if err != nil {
				t.Fatalf("device printed %q", line)
			}
			return addr
		}
		select {
		case code := <-done:
			t.Fatalf("device exited %d: %s", code, stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("device did not start")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// client is what examples/call does: JSON arguments in, the reply as a
// JSON line out, on a service.Client (for namespaces and -watch).
type client struct {
	t   *testing.T
	c   *service.Client
	dev netip.AddrPort
}

func newClient(t *testing.T, dev netip.AddrPort) *client {
	ep, err := rpcudp.Listen(context.Background(), "127.0.0.1:0", rpcudp.WithTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	c, err := service.NewClient(ep)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		ep.Close()
	})
	return &client{t: t, c: c, dev: dev}
}

// call calls method with args written in JSON and returns the reply in
// JSON.
func (c *client) call(method string, args ...string) (string, error) {
	c.t.Helper()
	vs := make([]any, len(args))
	for i, a := range args {
		var err error
		if vs[i], err = jsonmsg.Parse(a); err != nil {
			c.t.Fatal(err)
		}
	}
	r, err := c.c.Call(context.Background(), c.dev, service.Target{}, method, vs...)
	if err != nil {
		return "", err
	}
	out, err := jsonmsg.FormatReply(r)
	if err != nil {
		c.t.Fatal(err)
	}
	return out, nil
}

// claim claims by hand, as with examples/call: claim(session) answers
// [cookie], sent back with the session in a second claim, whose reply (the
// token, or an error) it returns.
func (c *client) claim(session string) (string, error) {
	c.t.Helper()
	first, err := c.call("claim", session)
	if err != nil {
		return "", err
	}
	cookie, ok := strings.CutPrefix(first, "[")
	if cookie, ok = strings.CutSuffix(cookie, "]"); !ok || len(cookie) < 3 {
		c.t.Fatalf("claim %s = %s, want [cookie]", session, first)
	}
	return c.call("claim", session, cookie)
}

func (c *client) mustCall(want, method string, args ...string) {
	c.t.Helper()
	got, err := c.call(method, args...)
	if err != nil || got != want {
		c.t.Fatalf("%s%q = %s, %v; want %s", method, args, got, err, want)
	}
}

func (c *client) mustFail(target error, method string, args ...string) {
	c.t.Helper()
	if got, err := c.call(method, args...); !errors.Is(err, target) {
		c.t.Fatalf("%s%q = %s, %v; want %v", method, args, got, err, target)
	}
}

// TestDevice: safe methods for anyone, one claim at a time, set_gain only
// with the token, and every change reaches a watcher of gain_changed.
func TestDevice(t *testing.T) {
	dev := startDevice(t, "-claim-timeout", "1m")
	a, b := newClient(t, dev), newClient(t, dev)
	a.mustCall(`"pong"`, "ping")
	a.mustCall(`0.0`, "get_gain")
	a.mustCall(`""`, "get_last_error")
	if info, err := a.call("get_device_info"); err != nil || !strings.Contains(info, `"product":"simulated-radio"`) {
		t.Fatalf("get_device_info = %s, %v", info, err)
	}

	sub, err := b.c.Subscribe(context.Background(), dev, "gain_changed", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	tok, err := a.claim(`"alice"`)
	if err != nil || len(tok) != 16+2 {
		t.Fatalf("claim = %s, %v", tok, err)
	}
	if _, err := b.claim(`"bob"`); !errors.Is(err, service.ErrClaimed) {
		t.Fatalf("claim while claimed: %v", err)
	}
	b.mustFail(service.ErrBadToken, "set_gain", `"0123456789abcdef"`, "10")
	b.mustFail(service.ErrBadToken, "set_gain", "10") // 10 is not a token
	a.mustCall("null", "set_gain", tok, "30.5")
	b.mustCall("30.5", "get_gain")
	a.mustCall("null", "set_gain", tok, "12") // an integer is a gain too
	a.mustFail(rpcudp.ErrHandler, "set_gain", tok, "100")
	if e, err := b.call("get_last_error"); err != nil || !strings.Contains(e, "out of range") {
		t.Fatalf("get_last_error = %s, %v", e, err)
	}
	b.mustCall("12.0", "get_gain")

	// The watcher saw both changes, in order, and not the refused one.
	for _, want := range []string{"[30.5]", "[12.0]"} {
		select {
		case em := <-sub.C():
			vs, err := em.Values()
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := jsonmsg.Format(vs); got != want || em.Signal != "gain_changed" {
				t.Fatalf("emission %s %s, want %s", em.Signal, got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no emission %s", want)
		}
	}

	// Released, the device is b's to claim.
	a.mustCall("null", "unclaim", tok)
	a.mustFail(service.ErrBadToken, "set_gain", tok, "1")
	if _, err := b.claim(`"bob"`); err != nil {
		t.Fatal(err)
	}
}

// TestClaimLapses: a claim not renewed within -claim-timeout lapses and
// another session may claim; the Go client's background reclaims keep one.
func TestClaimLapses(t *testing.T) {
	dev := startDevice(t, "-claim-timeout", "300ms")
	a, b := newClient(t, dev), newClient(t, dev)
	tok, err := a.claim(`"by hand"`)
	if err != nil {
		t.Fatal(err)
	}
	// No reclaim: b gets the device once the claim has lapsed.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := b.claim(`"bob"`)
		if err == nil {
			break
		}
		if !errors.Is(err, service.ErrClaimed) || time.Now().After(deadline) {
			t.Fatalf("claim after the lapse: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	a.mustFail(service.ErrBadToken, "set_gain", tok, "1")

	// b's claim, made by hand too, lapses; a's Claim then reclaims in the
	// background and outlives several claim timeouts.
	var cl *service.Claim
	for cl == nil {
		cl, err = a.c.Claim(context.Background(), dev, "alice", service.ClaimOptions{Timeout: 300 * time.Millisecond})
		if err != nil && (!errors.Is(err, service.ErrClaimed) || time.Now().After(deadline)) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	timer := time.NewTimer(time.Second)
	select {
	case <-cl.Lost():
		t.Fatalf("claim lost: %v", cl.Err())
	case <-timer.C:
	}
	if _, err := a.c.Call(context.Background(), dev, service.Target{}, "set_gain", cl.Token(), 5.0); err != nil {
		t.Fatal(err)
	}
	if err := cl.Unclaim(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestBadArgs(t *testing.T) {
	for _, args := range [][]string{{"-claim-timeout", "0s"}, {"stray"}, {"-bogus"}} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, &out, &errOut); code != 2 || errOut.Len() == 0 {
			t.Errorf("run%q = %d, stderr %q", args, code, errOut.String())
		}
	}
}
