package service_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/rpcudp/go-rpcudp/rpcudp/service"
	"github.com/rpcudp/go-rpcudp/rpcudp/simnet"
	"github.com/rpcudp/go-rpcudp/rpcudp/wire"
	"github.com/vmihailenco/msgpack/v5"
)

// The attack tests put the server and the legitimate client at
// non-loopback addresses (inside simnet only), which no limit exempts.
const (
	farServer = "10.0.0.1:1235"
	farClient = "10.200.0.1:1000" // another /24 than any attacker's
)

// addrs returns n addresses made by format from 1, 2, ..., port 4000.
func addrs(format string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(format, i+1) + ":4000"
	}
	return out
}

// TestSubscribersPerNetwork (issue 18, finding 7): many addresses in one
// network (an IPv4 /24, an IPv6 /64 inside one /48) hold at most the
// network's share of a signal's subscribers (32), and one address a few
// (8), so that a subscriber from another network is still served. Every
// address of the attacker really receives there (it sends the cookie
// back). A loopback address, for local processes, keeps 32 of its own.
func TestSubscribersPerNetwork(t *testing.T) {
	tests := []struct {
		name  string
		addrs []string // the attacker's; each asks for 32 subscriptions
		want  int      // how many they get
	}{
		{"one IPv4 address", addrs("10.1.2.%d", 1), 8},
		{"one IPv4 /24", addrs("10.1.2.%d", 40), 32},
		{"one IPv6 /64", addrs("[2001:db8:1:2::%x]", 40), 32},
		{"loopback addresses", addrs("127.0.1.%d", 2), 64},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newRigAt(t, simnet.Config{Latency: time.Millisecond}, farServer, farClient)
				sig, err := r.srv.Signal("tick", "")
				must(t, err)
				r.srv.Start()
				got := 0
				for _, a := range tc.addrs {
					got += subscribeMany(t, r, a, 32)
				}
				if got != tc.want {
					t.Errorf("the attacker holds %d subscriptions, want %d", got, tc.want)
				}
				sub, err := r.client.Subscribe(bg, r.addr, "tick", time.Minute)
				if err != nil {
					t.Fatalf("a subscriber from another network: %v", err)
				}
				defer sub.Close()
				if n := sig.Emit(bg, 1); n != got+1 {
					t.Errorf("emitted to %d, want %d", n, got+1)
				}
			})
		})
	}
}

// subscribeMany subscribes n times to tick from a client at addr (closed
// at the end of the test) and returns how many were granted; the others
// must be refused with ErrTooManySubscribers.
func subscribeMany(t *testing.T, r *rig, addr string, n int) int {
	t.Helper()
	ep := simEndpoint(t, r.net, addr)
	c, err := service.NewClient(ep)
	must(t, err)
	t.Cleanup(func() {
		c.Close()
		ep.Close()
	})
	granted := 0
	for range n {
		_, err := c.Subscribe(bg, r.addr, "tick", time.Minute)
		switch {
		case err == nil:
			granted++
		case !errors.Is(err, service.ErrTooManySubscribers):
			t.Fatalf("subscribe from %s: %v", addr, err)
		}
	}
	return granted
}

// TestForgedClaims (issue 18, finding 8): a claim forged every 0.5 s,
// with the legitimate client's own address or random ones, claims
// nothing (its cookie goes to the address forged), so that the
// legitimate client's claims all succeed.
func TestForgedClaims(t *testing.T) {
	victim := netip.MustParseAddrPort(farClient)
	random := func(rng *rand.Rand) netip.AddrPort {
		a := netip.AddrFrom4([4]byte{10, byte(rng.UintN(256)), byte(rng.UintN(256)), byte(rng.UintN(256))})
		return netip.AddrPortFrom(a, uint16(1+rng.UintN(65535)))
	}
	tests := []struct {
		name string
		from func(*rand.Rand) netip.AddrPort
	}{
		{"victim's address", func(*rand.Rand) netip.AddrPort { return victim }},
		{"random addresses", random},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newRigAt(t, simnet.Config{Latency: time.Millisecond}, farServer, farClient,
					service.WithClaims(5*time.Second, nil))
				r.srv.Start()
				stop, done := make(chan struct{}), make(chan struct{})
				go func() {
					defer close(done)
					rng := rand.New(rand.NewPCG(1, 2))
					for {
						r.net.Inject(tc.from(rng), r.addr, forgedClaim(rng))
						select {
						case <-stop:
							return
						case <-time.After(500 * time.Millisecond):
						}
					}
				}()
				granted := 0
				for range 10 {
					time.Sleep(time.Second)
					cl, err := r.client.Claim(bg, r.addr, "legit", service.ClaimOptions{})
					if err != nil {
						t.Logf("claim refused: %v", err)
						continue
					}
					granted++
					must(t, cl.Unclaim(bg))
				}
				close(stop)
				<-done
				if granted != 10 {
					t.Errorf("%d of 10 claims granted", granted)
				}
				if s, ok := r.srv.Claimed(); ok {
					t.Errorf("claimed by %q", s)
				}
			})
		})
	}
}

// forgedClaim is a 30-byte request claim("").
func forgedClaim(rng *rand.Rand) []byte {
	b := []byte{wire.TypeRequest}
	for range wire.HeaderLen - 1 {
		b = append(b, byte(rng.Uint32()))
	}
	body, _ := msgpack.Marshal([]any{"claim", []any{""}})
	return append(b, body...)
}

// TestErrorsQuoteShort: an error reply quotes at most a short prefix of a
// name the caller chose, so that it is never much larger than the
// request, even for a name that quoting makes four times longer.
func TestErrorsQuoteShort(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRigAt(t, simnet.Config{Latency: time.Millisecond}, farServer, farClient)
		must(t, r.srv.Handle("m", func(context.Context, netip.AddrPort) error { return nil }))
		r.srv.Start()
		long := strings.Repeat("\x00", 200)
		for _, c := range []struct {
			method string
			args   []any
			want   error
		}{
			{"svc.get", []any{long}, service.ErrNoSuchProperty},
			{"svc.set", []any{long, 1}, service.ErrNoSuchProperty},
			{"svc.subscribe", []any{long, 1000, "svc.emit.x", "id"}, service.ErrNoSuchSignal},
			{"svc.call", []any{long, "", "m", []any{}}, service.ErrNoNamespace},
			{"svc.call", []any{"", "", long, []any{}}, service.ErrNoSuchMethod},
		} {
			_, err := r.client.Call(bg, r.addr, service.Target{}, c.method, c.args...)
			var re *rpcudp.RemoteError
			if !errors.Is(err, c.want) || !errors.As(err, &re) || len(re.Message) > 100 {
				t.Errorf("%s: %d-byte message: %.80v", c.method, len(re.Message), err)
			}
		}
	})
}
