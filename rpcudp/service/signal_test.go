package service_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp/service"
	"github.com/rpcudp/go-rpcudp/rpcudp/simnet"
)

// TestSubscriberVanishes: a subscriber that goes away without a word is
// dropped once its lease lapses; emissions then go nowhere.
func TestSubscriberVanishes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, simnet.Config{Latency: time.Millisecond})
		sig, err := r.srv.Signal("tick", "a tick")
		must(t, err)
		r.srv.Start()
		sub, err := r.client.Subscribe(bg, r.addr, "tick", 3*time.Second)
		must(t, err)
		if n := sig.Emit(bg, 1); n != 1 {
			t.Fatalf("emitted to %d", n)
		}
		if em := <-sub.C(); em.Seq != 1 || em.Missed != 0 || em.Signal != "tick" {
			t.Fatalf("emission %+v", em)
		}
		r.cliEP.Close() // vanish: no unsubscribe, no renewals
		time.Sleep(2 * time.Second)
		if n := sig.Subscribers(); n != 1 {
			t.Fatalf("within the lease: %d subscribers", n)
		}
		time.Sleep(1100 * time.Millisecond)
		if n := sig.Emit(bg, 2); n != 0 || sig.Subscribers() != 0 {
			t.Fatalf("after the lease: emitted to %d, %d subscribers", n, sig.Subscribers())
		}
	})
}

// TestRenewUnderLoss: with 10% loss each way, a subscriber that renews
// its lease keeps it for a long run and gets about 90% of the emissions.
func TestRenewUnderLoss(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, simnet.Config{Seed: 12, Latency: 5 * time.Millisecond, Jitter: 5 * time.Millisecond, Loss: 0.1})
		sig, err := r.srv.Signal("tick", "")
		must(t, err)
		r.srv.Start()
		var sub *service.Subscription
		for sub == nil { // the subscribe call itself may be lost
			sub, err = r.client.Subscribe(bg, r.addr, "tick", 3*time.Second)
		}
		got, missed := 0, uint64(0)
		read := make(chan struct{})
		go func() {
			defer close(read)
			for em := range sub.C() {
				got++
				missed += em.Missed
			}
		}()
		const emissions = 1200 // 2 minutes, every 100 ms
		dropped := 0
		for i := range emissions {
			if sig.Emit(bg, i) != 1 {
				dropped++
			}
			time.Sleep(100 * time.Millisecond)
		}
		sub.Close()
		<-read
		t.Logf("10%% loss: %d of %d emissions received, %d reported missed, %d emissions found no subscriber", got, emissions, missed, dropped)
		if dropped != 0 || got < emissions*8/10 || got+int(missed) != emissions {
			t.Errorf("received %d of %d; %d emissions found no subscriber", got, emissions, dropped)
		}
	})
}

// TestProxy: a property proxy sees every change in order, set on the
// server or by a client, and catches up when the last emission is lost.
func TestProxy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, simnet.Config{Latency: time.Millisecond})
		gain, err := service.AddProperty(r.srv, service.PropertyDef[float64]{
			Name: "gain", Doc: "the gain", Initial: 1, Changed: "gain_changed", Settable: true,
			OnSet: func(_ context.Context, v float64) error {
				if v < 0 {
					return errors.New("negative gain")
				}
				return nil
			},
		})
		must(t, err)
		_, err = service.AddProperty(r.srv, service.PropertyDef[string]{Name: "serial", Initial: "A1"})
		must(t, err)
		r.srv.Start()
		p, err := service.NewProxy[float64](bg, r.client, r.addr, "gain", 3*time.Second)
		must(t, err)
		defer p.Close()
		if p.Get() != 1 {
			t.Fatalf("initial %v", p.Get())
		}
		for _, v := range []float64{2, 3, 4} {
			must(t, gain.Set(bg, v))
		}
		must(t, r.client.Set(bg, r.addr, "gain", 5, ""))
		for _, want := range []float64{2, 3, 4, 5} {
			if got := <-p.Changes(); got != want {
				t.Fatalf("change %v, want %v", got, want)
			}
		}
		if err := r.client.Set(bg, r.addr, "gain", -1, ""); err == nil {
			t.Fatal("OnSet did not refuse -1")
		}
		// The last emission lost: the next renewal finds the gap.
		r.net.Partition([]netip.Addr{r.addr.Addr()}, []netip.Addr{r.cliEP.LocalAddr().Addr()})
		must(t, gain.Set(bg, 6))
		r.net.Heal()
		if got := <-p.Changes(); got != 6 || p.Get() != 6 {
			t.Fatalf("after a lost emission: %v, Get %v", got, p.Get())
		}
		// Errors.
		if err := r.client.Set(bg, r.addr, "serial", "B", ""); !errors.Is(err, service.ErrReadOnly) {
			t.Errorf("set read-only: %v", err)
		}
		if _, err := r.client.Get(bg, r.addr, "nope"); !errors.Is(err, service.ErrNoSuchProperty) {
			t.Errorf("get unknown: %v", err)
		}
		if _, err := r.client.Subscribe(bg, r.addr, "nope", 0); !errors.Is(err, service.ErrNoSuchSignal) {
			t.Errorf("subscribe unknown: %v", err)
		}
		if _, err := service.NewProxy[string](bg, r.client, r.addr, "serial", 0); !errors.Is(err, service.ErrNoSuchSignal) {
			t.Errorf("proxy without a change signal: %v", err)
		}
	})
}

// TestUnsubscribe: Subscription.Close and Client.Close end the channel
// and tell the server.
func TestUnsubscribe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, simnet.Config{Latency: time.Millisecond})
		sig, err := r.srv.Signal("tick", "")
		must(t, err)
		r.srv.Start()
		a, err := r.client.Subscribe(bg, r.addr, "tick", 0)
		must(t, err)
		b, err := r.client.Subscribe(bg, r.addr, "tick", 0)
		must(t, err)
		if n := sig.Subscribers(); n != 2 {
			t.Fatalf("%d subscribers", n)
		}
		must(t, a.Close())
		synctest.Wait()
		time.Sleep(10 * time.Millisecond)
		if n := sig.Subscribers(); n != 1 {
			t.Fatalf("after Close: %d subscribers", n)
		}
		must(t, r.client.Close())
		time.Sleep(10 * time.Millisecond)
		if _, ok := <-b.C(); ok || sig.Subscribers() != 0 {
			t.Fatalf("after the client's Close: channel open %v, %d subscribers", ok, sig.Subscribers())
		}
		if _, ok := <-a.C(); ok {
			t.Fatal("closed subscription's channel open")
		}
	})
}
