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

// answer returns a method answering s.
func answer(s string) func(context.Context, netip.AddrPort) (string, error) {
	return func(context.Context, netip.AddrPort) (string, error) { return s, nil }
}

func TestDispatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, simnet.Config{})
		ctl20 := &service.Group{Namespace: "control", Version: "2.0"}
		must(t, ctl20.Handle("stop", answer("stop 2.0")))
		must(t, ctl20.Handle("which", answer("first")))
		ctl23 := &service.Group{Namespace: "control", Version: "2.3"}
		must(t, ctl23.Handle("which", answer("second")))
		must(t, ctl23.Handle("pause", answer("pause 2.3")))
		must(t, r.srv.Add(ctl20))
		must(t, r.srv.Add(ctl23))
		must(t, r.srv.Handle("test", func(_ context.Context, _ netip.AddrPort, arg any) (any, error) { return arg, nil }))
		v3 := &service.Group{Version: "3.1"}
		must(t, v3.Handle("v3only", answer("v3")))
		must(t, r.srv.Add(v3))
		tens := &service.Group{Namespace: "tens", Version: "2.10"}
		must(t, tens.Handle("m", answer("2.10")))
		must(t, r.srv.Add(tens))
		r.srv.Start()

		tests := []struct {
			ns, ver, method string
			want            string
			err             error
		}{
			{"control", "2.0", "stop", "stop 2.0", nil},
			{"control", "", "stop", "stop 2.0", nil},
			{"control", "2", "stop", "stop 2.0", nil},
			{"control", "2.1", "stop", "", service.ErrIncompatibleVersion},
			{"control", "3.0", "stop", "", service.ErrIncompatibleVersion},
			{"control", "1.0", "stop", "", service.ErrIncompatibleVersion},
			{"control", "2.2", "pause", "pause 2.3", nil},             // compatible minor
			{"control", "2.0", "which", "first", nil},                 // first endpoint wins
			{"control", "2.1", "which", "second", nil},                // the first compatible one
			{"control", "2.0", "nope", "", service.ErrNoSuchMethod},   // no such method
			{"nope", "1.0", "stop", "", service.ErrNoNamespace},       // no such namespace
			{"", "1.0", "stop", "", service.ErrNoSuchMethod},          // namespaces do not leak
			{"", "1.0", "test", "x", nil},                             // null namespace, versioned
			{"", "3.0", "v3only", "v3", nil},                          // null namespace at 3.1
			{"", "1.0", "v3only", "", service.ErrIncompatibleVersion}, //
			{"control", "x.y", "stop", "", rpcudp.ErrBadArgs},         // bad version
			{"", "", "test", "x", nil},                                // through svc.call, any version
			{"tens", "2.9", "m", "2.10", nil},                         // minors compare as numbers
			{"tens", "2.11", "m", "", service.ErrIncompatibleVersion}, //
			{"control", "+2", "stop", "", rpcudp.ErrBadArgs},          // digits only
			{"control", "-0", "stop", "", rpcudp.ErrBadArgs},          //
			{"control", "2.+0", "stop", "", rpcudp.ErrBadArgs},        //
			{"control", "2.", "stop", "", rpcudp.ErrBadArgs},          //
			{"control", "2.0.1", "stop", "", rpcudp.ErrBadArgs},       //
			{"control", "99999999999999999999", "stop", "", rpcudp.ErrBadArgs},
		}
		for _, tc := range tests {
			args := []any{}
			if tc.method == "test" {
				args = append(args, "x")
			}
			reply, err := r.client.Call(bg, r.addr, service.Target{Namespace: tc.ns, Version: tc.ver}, tc.method, args...)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Errorf("%q %q %s: %v, want %v", tc.ns, tc.ver, tc.method, err, tc.err)
				}
				if tc.err != rpcudp.ErrBadArgs && !errors.Is(err, rpcudp.ErrUnknownMethod) {
					t.Errorf("%q %q %s: %v does not match rpcudp.ErrUnknownMethod", tc.ns, tc.ver, tc.method, err)
				}
				continue
			}
			var got string
			if err == nil {
				err = reply.Decode(&got)
			}
			if err != nil || got != tc.want {
				t.Errorf("%q %q %s: %q, %v; want %q", tc.ns, tc.ver, tc.method, got, err, tc.want)
			}
		}
		// Plain calls reach the null namespace, whatever its version.
		if got := callT[string](t, r, "v3only"); got != "v3" {
			t.Errorf("plain v3only: %q", got)
		}
		if _, err := r.call("stop"); !errors.Is(err, rpcudp.ErrUnknownMethod) {
			t.Errorf("plain stop (namespaced only): %v", err)
		}
	})
}

// TestPlainCallBytes: a Python-style plain request to a null-namespace
// method gets the very datagram a plain rpcudp handler sends.
func TestPlainCallBytes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := simnet.New(simnet.Config{})
		defer n.Close()
		plain := simEndpoint(t, n, "127.0.0.1:1")
		defer plain.Close()
		must(t, plain.Handle("test", func(_ context.Context, _ netip.AddrPort, arg string) (string, error) { return "got " + arg, nil }))
		svcEP := simEndpoint(t, n, "127.0.0.1:2")
		defer svcEP.Close()
		srv := service.New(svcEP)
		must(t, srv.Handle("test", func(_ context.Context, _ netip.AddrPort, arg string) (string, error) { return "got " + arg, nil }))
		srv.Start()
		python, err := n.Listen(netip.MustParseAddrPort("127.0.0.1:3"))
		must(t, err)
		defer python.Close()

		// [0x00][20-byte id]["test", ["abc"]] as u-msgpack packs it
		req := append([]byte{0x00}, []byte("0123456789abcdefghij")...)
		req = append(req, 0x92, 0xa4, 't', 'e', 's', 't', 0x91, 0xa3, 'a', 'b', 'c')
		var replies [][]byte
		for _, to := range []netip.AddrPort{plain.LocalAddr(), svcEP.LocalAddr()} {
			_, err := python.WriteToUDPAddrPort(req, to)
			must(t, err)
			python.SetReadDeadline(time.Now().Add(time.Second))
			b, from, err := python.ReadPacket()
			must(t, err)
			if from != to {
				t.Fatalf("reply from %v", from)
			}
			replies = append(replies, append([]byte(nil), b...))
		}
		want := append([]byte{0x01}, []byte("0123456789abcdefghij")...)
		want = append(want, 0xa7, 'g', 'o', 't', ' ', 'a', 'b', 'c')
		for i, b := range replies {
			if string(b) != string(want) {
				t.Errorf("reply %d: % x, want % x", i, b, want)
			}
		}
	})
}

// TestStopWait: Stop refuses new requests at once (ErrStopped), Wait
// waits for the running ones, bounded by its context; Start serves again.
func TestStopWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, simnet.Config{Latency: time.Millisecond})
		release := make(chan struct{})
		entered := make(chan struct{}, 1)
		must(t, r.srv.Handle("slow", func(context.Context, netip.AddrPort) (string, error) {
			entered <- struct{}{}
			<-release
			return "done", nil
		}))
		must(t, r.srv.Handle("fast", answer("fast")))
		if _, err := r.call("fast"); !errors.Is(err, service.ErrStopped) {
			t.Fatalf("before Start: %v", err)
		}
		r.srv.Start()
		slow := r.cliEP.Go(bg, r.addr, "slow")
		<-entered
		r.srv.Stop()
		if _, err := r.call("fast"); !errors.Is(err, service.ErrStopped) {
			t.Fatalf("after Stop: %v", err)
		}
		ctx, cancel := context.WithTimeout(bg, time.Second)
		defer cancel()
		if err := r.srv.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait with a request running: %v", err)
		}
		close(release)
		must(t, r.srv.Wait(bg))
		<-slow.Done
		if v, err := slow.Reply, slow.Err; err != nil || string(v) != "\xa4done" {
			t.Fatalf("the running request: %q, %v", v, err)
		}
		r.srv.Start()
		if got := callT[string](t, r, "fast"); got != "fast" {
			t.Fatalf("after restart: %q", got)
		}
	})
}

func TestHandlerErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, simnet.Config{})
		must(t, r.srv.Handle("boom", func(context.Context, netip.AddrPort) error { panic("boom") }))
		must(t, r.srv.Handle("sum", func(_ context.Context, _ netip.AddrPort, base int, more ...int) (int, error) {
			for _, m := range more {
				base += m
			}
			return base, nil
		}))
		must(t, r.srv.Handle("fail", func(context.Context, netip.AddrPort) error { return errors.New("no luck") }))
		r.srv.Start()
		if _, err := r.call("claim", "me"); !errors.Is(err, rpcudp.ErrUnknownMethod) {
			t.Errorf("claim on a server with nothing claimed: %v, want %v", err, rpcudp.ErrUnknownMethod)
		}
		must(t, r.srv.Handle("guarded", func(context.Context, netip.AddrPort) error { return nil }, service.Method{Claimed: true}))
		if _, err := r.call("claim"); !errors.Is(err, rpcudp.ErrBadArgs) {
			t.Errorf("claim[] once a method is claimed: %v, want %v", err, rpcudp.ErrBadArgs)
		}
		if got := callT[int](t, r, "sum", 1, 2, 3); got != 6 {
			t.Errorf("sum %d", got)
		}
		tests := []struct {
			method string
			args   []any
			err    error
		}{
			{"boom", nil, rpcudp.ErrHandlerPanic},
			{"sum", nil, rpcudp.ErrBadArgs},
			{"sum", []any{"x"}, rpcudp.ErrBadArgs},
			{"fail", nil, rpcudp.ErrHandler},
			{"svc.call", []any{"control"}, rpcudp.ErrBadArgs},
			{"svc.call", []any{1, 2, 3, 4}, rpcudp.ErrBadArgs},
			{"svc.subscribe", []any{"x", 1000, "", "id"}, rpcudp.ErrBadArgs},
			{"svc.set", []any{"x"}, rpcudp.ErrBadArgs},
		}
		for _, tc := range tests {
			if _, err := r.call(tc.method, tc.args...); !errors.Is(err, tc.err) {
				t.Errorf("%s%v: %v, want %v", tc.method, tc.args, err, tc.err)
			}
		}
	})
}

// TestNotifyReachesMethod: a method called by a notification, plain or
// through svc.call, sees a request marked as one, with its ID.
func TestNotifyReachesMethod(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, simnet.Config{Latency: time.Millisecond})
		seen := make(chan bool, 2)
		must(t, r.srv.Handle("note", rpcudp.HandlerFunc(func(_ context.Context, req *rpcudp.Request) (any, error) {
			seen <- req.Notify
			return nil, nil
		})))
		r.srv.Start()
		must(t, r.cliEP.Notify(bg, r.addr, "note"))
		must(t, r.cliEP.Notify(bg, r.addr, "svc.call", "", "", "note", []any{}))
		for range 2 {
			if !<-seen {
				t.Fatal("the method saw a notification as a request")
			}
		}
		_, err := r.call("note")
		must(t, err)
		if <-seen {
			t.Fatal("the method saw a request as a notification")
		}
	})
}

// TestBadGroupVersion: a bad Version on a local group is refused by Add
// with an error that says so, not one that reads as the remote
// rpcudp.ErrBadArgs; the group serves nothing.
func TestBadGroupVersion(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, simnet.Config{})
		for _, v := range []string{"x.y", "2.", "-1", "1.2.3", "v2"} {
			g := &service.Group{Namespace: "control", Version: v}
			must(t, g.Handle("stop", answer("stop")))
			err := r.srv.Add(g)
			if err == nil || errors.Is(err, rpcudp.ErrBadArgs) || !strings.Contains(err.Error(), `bad version "`+v+`"`) {
				t.Errorf("Add with Version %q: %v", v, err)
			}
		}
		r.srv.Start()
		if _, err := r.client.Call(bg, r.addr, service.Target{Namespace: "control"}, "stop"); !errors.Is(err, service.ErrNoNamespace) {
			t.Errorf("a refused group serves: %v", err)
		}
	})
}
