package service_test

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/rpcudp/go-rpcudp/rpcudp/service"
	"github.com/rpcudp/go-rpcudp/rpcudp/simnet"
)

// TestWireErrors: each sentinel a server sends comes back to a Client
// matching it (errors.Is) and *rpcudp.RemoteError, with its error code;
// the unknown-method kinds match rpcudp.ErrUnknownMethod too.
func TestWireErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, simnet.Config{Latency: time.Millisecond}, service.WithClaims(0, nil))
		ctl := &service.Group{Namespace: "control", Version: "2.0"}
		must(t, ctl.Handle("stop", answer("stopping")))
		must(t, r.srv.Add(ctl))
		must(t, r.srv.Handle("guarded", answer("ok"), service.Method{Claimed: true}))
		_, err := r.srv.Signal("tick", "")
		must(t, err)
		_, err = service.AddProperty(r.srv, service.PropertyDef[int]{Name: "gain"})
		must(t, err)
		r.srv.Start()
		call := func(tg service.Target, m string, args ...any) error {
			_, err := r.client.Call(bg, r.addr, tg, m, args...)
			return err
		}
		ctl20 := service.Target{Namespace: "control", Version: "2.0"}
		tests := []struct {
			want   error
			unkn   bool // matches rpcudp.ErrUnknownMethod
			provok func() error
		}{
			{service.ErrNoNamespace, true, func() error { return call(service.Target{Namespace: "nope"}, "stop") }},
			{service.ErrIncompatibleVersion, true, func() error { return call(service.Target{Namespace: "control", Version: "3.0"}, "stop") }},
			{service.ErrNoSuchMethod, true, func() error { return call(ctl20, "nope") }},
			{service.ErrClaimed, false, func() error {
				if _, err := r.client.Claim(bg, r.addr, "a", service.ClaimOptions{}); err != nil {
					return err
				}
				_, err := r.client.Claim(bg, r.addr, "b", service.ClaimOptions{})
				return err
			}},
			{service.ErrBadToken, false, func() error { return call(service.Target{}, "guarded", "0123456789abcdef") }},
			{service.ErrNoSuchSignal, false, func() error { _, err := r.client.Subscribe(bg, r.addr, "nope", 0); return err }},
			{service.ErrNoSuchProperty, false, func() error { _, err := r.client.Get(bg, r.addr, "nope"); return err }},
			{service.ErrReadOnly, false, func() error { return r.client.Set(bg, r.addr, "gain", 1, "") }},
			{service.ErrTooManySubscribers, false, func() error {
				for { // 32 at a loopback address
					if _, err := r.client.Subscribe(bg, r.addr, "tick", 0); err != nil {
						return err
					}
				}
			}},
			{service.ErrStopped, false, func() error { r.srv.Stop(); return call(service.Target{}, "guarded") }},
		}
		codes, seen := service.WireCodes(), map[rpcudp.ErrorCode]bool{}
		for s, c := range codes {
			if c < 200 || c > 299 || seen[c] {
				t.Errorf("%v: code %d out of 200-299 or taken twice", s, c)
			}
			seen[c] = true
		}
		if len(codes) != len(tests) {
			t.Fatalf("%d wire codes, %d tested", len(codes), len(tests))
		}
		for _, tc := range tests {
			err := tc.provok()
			var re *rpcudp.RemoteError
			if !errors.Is(err, tc.want) || !errors.As(err, &re) || errors.Is(err, rpcudp.ErrUnknownMethod) != tc.unkn {
				t.Errorf("%v: got %v", tc.want, err)
				continue
			}
			if re.Code != codes[tc.want] {
				t.Errorf("%v: code %d, want %d", tc.want, re.Code, codes[tc.want])
			}
		}
	})
}
