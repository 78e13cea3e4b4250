package service_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/rpcudp/go-rpcudp/rpcudp/service"
)

// A device one client at a time controls: a claimed set_gain, a safe
// get_gain, and a property gain whose change signal is gain_changed.
func Example_claims() {
	ctx := context.Background()
	devEP, _ := rpcudp.Listen(ctx, "127.0.0.1:0")
	defer devEP.Close()
	dev := service.New(devEP, service.WithClaims(0, func(session string, lapsed bool) {
		fmt.Println("released by", session)
	}))
	gain, _ := service.AddProperty(dev, service.PropertyDef[float64]{Name: "gain", Changed: "gain_changed"})
	dev.Handle("set_gain", func(ctx context.Context, _ netip.AddrPort, g float64) error { return gain.Set(ctx, g) },
		service.Method{Claimed: true, Doc: "set the gain (claimed)"})
	dev.Handle("get_gain", func(context.Context, netip.AddrPort) (float64, error) { return gain.Get(), nil })
	dev.Start()

	cliEP, _ := rpcudp.Listen(ctx, "127.0.0.1:0")
	defer cliEP.Close()
	c, _ := service.NewClient(cliEP)
	defer c.Close()
	claim, err := c.Claim(ctx, devEP.LocalAddr(), "alice", service.ClaimOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = c.Call(ctx, devEP.LocalAddr(), service.Target{}, "set_gain", "not-the-token", 2.5)
	fmt.Println("without the token:", errors.Is(err, service.ErrBadToken))
	if _, err := c.Call(ctx, devEP.LocalAddr(), service.Target{}, "set_gain", claim.Token(), 2.5); err != nil {
		fmt.Println(err)
	}
	g, _ := rpcudp.Invoke[float64](ctx, cliEP, devEP.LocalAddr(), "get_gain")
	fmt.Println("gain:", g)
	_, err = c.Claim(ctx, devEP.LocalAddr(), "bob", service.ClaimOptions{})
	fmt.Println("bob claims:", errors.Is(err, service.ErrClaimed))
	claim.Unclaim(ctx)
	// Output:
	// without the token: true
	// gain: 2.5
	// bob claims: true
	// released by alice
}

// oslo.messaging's example server: a control endpoint at version 2.0
// with stop, and test(arg) in the null namespace.
func Example_namespaces() {
	ctx := context.Background()
	srvEP, _ := rpcudp.Listen(ctx, "127.0.0.1:0")
	defer srvEP.Close()
	srv := service.New(srvEP)
	ctl := &service.Group{Namespace: "control", Version: "2.0"}
	ctl.Handle("stop", func(context.Context, netip.AddrPort) (string, error) { return "stopping", nil })
	srv.Add(ctl)
	srv.Handle("test", func(_ context.Context, _ netip.AddrPort, arg string) (string, error) { return "test " + arg, nil })
	srv.Start()

	cliEP, _ := rpcudp.Listen(ctx, "127.0.0.1:0")
	defer cliEP.Close()
	c, _ := service.NewClient(cliEP)
	defer c.Close()
	for _, t := range []service.Target{{Namespace: "control", Version: "2.0"}, {Namespace: "control", Version: "3.0"}, {Namespace: "nope"}} {
		r, err := c.Call(ctx, srvEP.LocalAddr(), t, "stop")
		var s string
		r.Decode(&s)
		fmt.Printf("%+v: %q %v %v\n", t, s, errors.Is(err, service.ErrIncompatibleVersion), errors.Is(err, service.ErrNoNamespace))
	}
	s, _ := rpcudp.Invoke[string](ctx, cliEP, srvEP.LocalAddr(), "test", "plain") // as a Python caller would
	fmt.Println(s)
	srv.Stop()
	_, err := c.Call(ctx, srvEP.LocalAddr(), service.Target{}, "test", "x")
	fmt.Println("stopped:", errors.Is(err, service.ErrStopped), srv.Wait(ctx))
	// Output:
	// {Namespace:control Version:2.0}: "stopping" false false
	// {Namespace:control Version:3.0}: "" true false
	// {Namespace:nope Version:}: "" false true
	// test plain
	// stopped: true <nil>
}

// A subscriber gets each emission of a signal; a property proxy sees each
// change of a property.
func Example_signals() {
	ctx := context.Background()
	srvEP, _ := rpcudp.Listen(ctx, "127.0.0.1:0")
	defer srvEP.Close()
	srv := service.New(srvEP)
	temp, _ := srv.Signal("temperature", "a reading, in °C")
	gain, _ := service.AddProperty(srv, service.PropertyDef[int]{Name: "gain", Initial: 1, Changed: "gain_changed", Settable: true})
	srv.Start()

	cliEP, _ := rpcudp.Listen(ctx, "127.0.0.1:0")
	defer cliEP.Close()
	c, _ := service.NewClient(cliEP)
	defer c.Close()
	sub, _ := c.Subscribe(ctx, srvEP.LocalAddr(), "temperature", 30*time.Second)
	p, _ := service.NewProxy[int](ctx, c, srvEP.LocalAddr(), "gain", 0)
	defer p.Close()

	temp.Emit(ctx, 21.5, "kitchen")
	em := <-sub.C()
	vals, _ := em.Values()
	fmt.Println(em.Signal, em.Seq, vals)
	gain.Set(ctx, 2)                             // on the server
	c.Set(ctx, srvEP.LocalAddr(), "gain", 3, "") // from the client
	fmt.Println(<-p.Changes(), <-p.Changes(), p.Get())
	sub.Close()
	// Output:
	// temperature 1 [21.5 kitchen]
	// 2 3 3
}
