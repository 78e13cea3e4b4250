package service_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/rpcudp/go-rpcudp/rpcudp/service"
	"github.com/rpcudp/go-rpcudp/rpcudp/simnet"
)

func TestInventory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, simnet.Config{}, service.WithClaims(3*time.Second, nil))
		deadline := make(chan bool, 1)
		must(t, r.srv.Handle("set_gain", func(ctx context.Context, _ netip.AddrPort, g float64) error {
			_, ok := ctx.Deadline()
			deadline <- ok
			return nil
		}, service.Method{Claimed: true, Doc: "set the gain", Timeout: 2 * time.Second}))
		must(t, r.srv.Handle("get_gain", answer("1"), service.Method{Doc: "the gain"}))
		ctl := &service.Group{Namespace: "control", Version: "2.0"}
		must(t, ctl.Handle("stop", answer("stopped"), service.Method{Doc: "stop the server"}))
		must(t, r.srv.Add(ctl))
		_, err := service.AddProperty(r.srv, service.PropertyDef[float64]{Name: "gain", Doc: "gain in dB", Changed: "gain_changed", Settable: true, Claimed: true})
		must(t, err)
		_, err = r.srv.Signal("overheat", "too hot")
		must(t, err)
		r.srv.Start()

		inv, err := r.client.Inventory(bg, r.addr)
		must(t, err)
		want := service.Inventory{
			Methods: []service.MethodInfo{
				{Name: "set_gain", Version: "1.0", Doc: "set the gain", TimeoutMS: 2000, Claimed: true},
				{Name: "get_gain", Version: "1.0", Doc: "the gain"},
				{Name: "stop", Namespace: "control", Version: "2.0", Doc: "stop the server"},
			},
			Signals: []service.SignalInfo{
				{Name: "gain_changed", Doc: "change of property gain"},
				{Name: "overheat", Doc: "too hot"},
			},
			Properties:     []service.PropertyInfo{{Name: "gain", Doc: "gain in dB", Changed: "gain_changed", Settable: true, Claimed: true}},
			ClaimTimeoutMS: 3000,
		}
		claims := inv.Methods[len(want.Methods):]
		inv.Methods = inv.Methods[:len(want.Methods)]
		if !reflect.DeepEqual(inv, want) {
			t.Errorf("inventory\n%+v\nwant\n%+v", inv, want)
		}
		if len(claims) != 3 || claims[0].Name != "claim" || claims[0].Doc == "" || claims[0].Claimed {
			t.Errorf("claim methods %+v", claims)
		}

		// The timeout bounds the handler; the claimed property needs the token.
		tok := mustClaim(t, r, "me")
		callT[any](t, r, "set_gain", tok, 1.5)
		if !<-deadline {
			t.Error("set_gain ran without a deadline")
		}
		if err := r.client.Set(bg, r.addr, "gain", 2.0, ""); !errors.Is(err, service.ErrBadToken) {
			t.Errorf("claimed set without a token: %v", err)
		}
		must(t, r.client.Set(bg, r.addr, "gain", 2.0, tok))
		if v := callT[float64](t, r, "svc.get", "gain"); v != 2 {
			t.Errorf("gain %v", v)
		}
		if err := r.client.Set(bg, r.addr, "gain", "loud", tok); !errors.Is(err, rpcudp.ErrBadArgs) {
			t.Errorf("set with a str: %v", err)
		}
		// Reserved names and bad handlers are refused.
		for _, name := range []string{"claim", "svc.call"} {
			if err := r.srv.Handle(name, answer("")); !errors.Is(err, rpcudp.ErrBadHandler) {
				t.Errorf("Handle(%q): %v", name, err)
			}
		}
		if err := r.srv.Handle("bad", func(string) {}); !errors.Is(err, rpcudp.ErrBadHandler) {
			t.Errorf("Handle(bad signature): %v", err)
		}
	})
}

// TestInventoryBounds: a server with nothing to claim lists no claim
// methods (it serves none), and an inventory over 8 KiB fails clearly.
func TestInventoryBounds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, simnet.Config{})
		must(t, r.srv.Handle("test", answer("x")))
		r.srv.Start()
		inv, err := r.client.Inventory(bg, r.addr)
		must(t, err)
		if len(inv.Methods) != 1 || inv.ClaimTimeoutMS != 0 {
			t.Errorf("without claims: %+v", inv)
		}
		if _, err := r.claim("me"); !errors.Is(err, rpcudp.ErrUnknownMethod) {
			t.Errorf("claim: %v", err)
		}
		for i := range 100 {
			must(t, r.srv.Handle(fmt.Sprintf("m%03d", i), answer("x"), service.Method{Doc: strings.Repeat("d", 100)}))
		}
		if _, err := r.client.Inventory(bg, r.addr); !errors.Is(err, rpcudp.ErrMessageTooLarge) {
			t.Errorf("inventory over 8 KiB: %v, want ErrMessageTooLarge", err)
		}
	})
}
