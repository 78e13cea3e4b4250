package service_test

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/rpcudp/go-rpcudp/rpcudp/service"
	"github.com/rpcudp/go-rpcudp/rpcudp/simnet"
	"github.com/rpcudp/go-rpcudp/rpcudp/wire"
)

// The reflection tests (issue 18, finding 2): the service layer's replies
// pass rpcudp's 3x rule like any reply, so that a request forged with a
// victim's source address sends the victim at most 3x its bytes (the
// probe included), and never a large reply; a real Go client gets every
// reply, after one extra round trip (the server pings it). Everything is
// on simnet, in virtual time, at non-loopback addresses (loopback is
// exempt from the rule).

const (
	reflLatency = 10 * time.Millisecond // one way
	bigValue    = 3000                  // bytes of the large property and of dump's reply
)

// reflVictim is the address the forger claims: nobody listens there.
var reflVictim = netip.MustParseAddrPort("10.66.0.9:4000")

// victimTally counts, from simnet's filter, what is written toward one
// address.
type victimTally struct {
	victim netip.AddrPort
	mu     sync.Mutex
	bytes  int
	types  []byte // the type byte of each datagram
}

func watchVictim(n *simnet.Network, victim netip.AddrPort) *victimTally {
	v := &victimTally{victim: victim}
	n.SetFilter(func(_, to netip.AddrPort, b []byte) bool {
		if to == v.victim {
			v.mu.Lock()
			v.bytes += len(b)
			v.types = append(v.types, b[0])
			v.mu.Unlock()
		}
		return true
	})
	return v
}

// got returns the bytes sent to the victim and how many of its datagrams
// were replies (responses or error replies).
func (v *victimTally) got() (bytes, replies int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, typ := range v.types {
		if typ == wire.TypeResponse || typ == wire.TypeError {
			replies++
		}
	}
	return v.bytes, replies
}

// bigRig is a rig whose server (at farServer, claims on) has a large
// inventory (well over 1 KiB), a property "blob" and a method "dump"
// whose values are bigValue bytes.
type bigRig struct {
	*rig
	signals []*service.Signal // every signal the server declares
}

// newBigRig makes a bigRig, started, its server's endpoint with srvOpts
// and its client's with cliOpts; make it inside a synctest bubble.
func newBigRig(t *testing.T, srvOpts, cliOpts []rpcudp.Option) *bigRig {
	t.Helper()
	r := &rig{net: simnet.New(simnet.Config{Latency: reflLatency})}
	r.srvEP = simEndpoint(t, r.net, farServer, srvOpts...)
	r.srv = service.New(r.srvEP, service.WithClaims(5*time.Second, nil))
	r.cliEP = simEndpoint(t, r.net, farClient, cliOpts...)
	var err error
	if r.client, err = service.NewClient(r.cliEP); err != nil {
		t.Fatal(err)
	}
	r.addr = r.srvEP.LocalAddr()
	t.Cleanup(r.close)
	t.Cleanup(func() { r.srv.Close() })
	b := &bigRig{rig: r}
	b.fill(t)
	r.srv.Start()
	return b
}

// fill declares the server's methods, signals and properties.
func (b *bigRig) fill(t *testing.T) {
	t.Helper()
	s := b.srv
	for i := range 20 {
		must(t, s.Handle(fmt.Sprintf("method_%02d", i), func(context.Context, netip.AddrPort) error { return nil },
			service.Method{Doc: fmt.Sprintf("method_%02d(): documented at some length, as real ones are", i), Timeout: time.Second}))
	}
	must(t, s.Handle("dump", func(context.Context, netip.AddrPort) (string, error) {
		return strings.Repeat("d", bigValue), nil
	}, service.Method{Doc: "dump() -> a large reply"}))
	for i := range 6 {
		_, err := s.Signal(fmt.Sprintf("signal_%d", i), "a signal, with a doc of some length too")
		must(t, err)
		_, err = service.AddProperty(s, service.PropertyDef[int]{
			Name: fmt.Sprintf("prop_%d", i), Doc: "a settable property with a change signal",
			Changed: fmt.Sprintf("prop_%d.changed", i), Settable: true,
		})
		must(t, err)
	}
	_, err := service.AddProperty(s, service.PropertyDef[string]{
		Name: "blob", Doc: "a large read-only value", Initial: strings.Repeat("b", bigValue),
	})
	must(t, err)
	for _, si := range s.Inventory().Signals {
		g, err := s.Signal(si.Name, "")
		must(t, err)
		b.signals = append(b.signals, g)
	}
}

// forge builds a request datagram by hand, as a forger would (its
// message id is zeros: runForged sets it); args are strings, ints or
// []any of them.
func forge(method string, args ...any) []byte {
	b := make([]byte, wire.HeaderLen)
	b[0] = wire.TypeRequest
	b = wire.AppendArrayLen(b, 2)
	b = wire.AppendStr(b, method)
	return appendArgs(b, args)
}

func appendArgs(b []byte, args []any) []byte {
	b = wire.AppendArrayLen(b, len(args))
	for _, a := range args {
		switch a := a.(type) {
		case string:
			b = wire.AppendStr(b, a)
		case int:
			b = wire.AppendInt(b, int64(a))
		case []any:
			b = appendArgs(b, a)
		}
	}
	return b
}

// cookieNextDoor makes a call from the victim's IP address at another
// port (a forger sharing the victim's host or NAT) and returns the cookie
// the server answers, the last element of its reply.
func cookieNextDoor(t *testing.T, r *bigRig, method string, args ...any) string {
	t.Helper()
	ep := simEndpoint(t, r.net, netip.AddrPortFrom(reflVictim.Addr(), reflVictim.Port()+1).String())
	defer ep.Close()
	reply, err := ep.Call(bg, r.addr, method, args...)
	must(t, err)
	var v []any
	must(t, reply.Decode(&v))
	cookie, ok := v[len(v)-1].(string)
	if !ok || cookie == "" {
		t.Fatalf("%s%v: no cookie in %v", method, args, v)
	}
	return cookie
}

// forgedCase is a request forged with the victim's address, sent times
// times (once if 0), each with a fresh message id. big: its reply is over
// 3x the request, so that without the rule the server reflects it at the
// victim.
type forgedCase struct {
	name  string
	req   func(t *testing.T, r *bigRig) []byte
	big   bool
	times int
}

func fixed(b []byte) func(*testing.T, *bigRig) []byte {
	return func(*testing.T, *bigRig) []byte { return b }
}

var forgedCases = []forgedCase{
	{"svc.inventory", fixed(forge("svc.inventory")), true, 0},
	{"svc.inventory, 10 times", fixed(forge("svc.inventory")), true, 10},
	{"rpcudp.methods", fixed(forge("rpcudp.methods")), true, 0},
	{"svc.get of a large property", fixed(forge("svc.get", "blob")), true, 0},
	{"svc.call of a large reply", fixed(forge("svc.call", "", "", "dump", []any{})), true, 0},
	{"plain call of a large reply", fixed(forge("dump")), true, 0},
	{"claim while held, without the cookie", claimHeld(false), false, 0},
	{"claim while held, with the victim's IP cookie (ErrClaimed)", claimHeld(true), false, 0},
	{"svc.subscribe without the cookie", fixed(forge("svc.subscribe", "signal_0", 600000, "svc.emit.x", "id1")), false, 0},
	{"svc.subscribe with a made-up cookie", fixed(forge("svc.subscribe", "signal_0", 600000, "svc.emit.x", "id1", "AAAAAAAAAAAAAAAA")), false, 0},
	{"svc.subscribe with a cookie from next door", func(t *testing.T, r *bigRig) []byte {
		args := []any{"signal_0", 600000, "svc.emit.x", "id1"}
		cookie := cookieNextDoor(t, r, "svc.subscribe", args...)
		return forge("svc.subscribe", append(args, cookie)...)
	}, false, 0},
}

// claimHeld has the rig's client claim the server for a session of 256
// \x01 (which quoting makes 4x longer), then forges claim(""), with the
// cookie of the victim's IP address (fetched from next door) or without.
func claimHeld(withCookie bool) func(*testing.T, *bigRig) []byte {
	return func(t *testing.T, r *bigRig) []byte {
		_, err := r.client.Claim(bg, r.addr, strings.Repeat("\x01", 256), service.ClaimOptions{Timeout: 5 * time.Second})
		must(t, err)
		if !withCookie {
			return forge("claim", "")
		}
		return forge("claim", "", cookieNextDoor(t, r, "claim", ""))
	}
}

// TestReflectForged (finding 2): a request forged with a victim's address
// sends the victim at most 3x its bytes in all (the probe included), a
// large reply never; the reply held is dropped and counted in
// Drops.Unproven; and no forged subscribe makes the victim a subscriber
// (an emission of 2000 bytes afterwards reaches nobody). Each case also
// runs with the rule off, to show that a big one then reflects.
func TestReflectForged(t *testing.T) {
	for _, tc := range forgedCases {
		t.Run(tc.name, func(t *testing.T) {
			for _, off := range []bool{false, true} {
				name := map[bool]string{false: "rule on", true: "rule off"}[off]
				t.Run(name, func(t *testing.T) {
					synctest.Test(t, func(t *testing.T) { runForged(t, tc, off) })
				})
			}
		})
	}
}

// runForged runs one case, with the rule on or off (ruleOff) on the
// server's endpoint.
func runForged(t *testing.T, tc forgedCase, ruleOff bool) {
	var srvOpts []rpcudp.Option
	if ruleOff {
		srvOpts = append(srvOpts, rpcudp.WithAntiAmplification(-1, nil))
	}
	r := newBigRig(t, srvOpts, nil)
	req := tc.req(t, r)
	v := watchVictim(r.net, reflVictim)
	n := max(tc.times, 1)
	for i := range n {
		d := bytes.Clone(req)
		d[1] = byte(i + 1) // a fresh message id
		r.net.Inject(reflVictim, r.addr, d)
	}
	time.Sleep(5 * time.Second) // past the probe's deadline (2 s)
	synctest.Wait()
	emitted := 0
	for _, g := range r.signals {
		emitted += g.Emit(bg, strings.Repeat("e", 2000))
	}
	synctest.Wait()
	got, replies := v.got()
	sent := n * len(req)
	ratio := float64(got) / float64(sent)
	unproven := int(r.srvEP.Stats().Drops.Unproven)
	t.Logf("forged %d x %d B -> victim %d B (%.1fx), %d replies, %d emissions, Drops.Unproven %d",
		n, len(req), got, ratio, replies, emitted, unproven)
	if emitted != 0 {
		t.Errorf("the forged request subscribed the victim: %d emissions", emitted)
	}
	switch {
	case ruleOff && tc.big:
		if ratio <= 3 || replies != n {
			t.Errorf("without the rule the victim got %d B (%.1fx), %d replies: not an amplifier", got, ratio, replies)
		}
	case ratio > 3:
		t.Errorf("victim got %d B for forged requests of %d B (%.1fx > 3x)", got, sent, ratio)
	case tc.big && (replies != 0 || unproven != n):
		t.Errorf("victim got %d replies, Drops.Unproven = %d; want 0 and %d", replies, unproven, n)
	case !tc.big && (replies != n || unproven != 0):
		t.Errorf("victim got %d replies, Drops.Unproven = %d; want the %d small replies and 0", replies, unproven, n)
	}
}

// pingCounter is an interceptor counting the rpcudp.ping requests an
// endpoint serves: the server's probes.
func pingCounter(n *atomic.Int32) rpcudp.Interceptor {
	return func(ctx context.Context, req *rpcudp.Request, next rpcudp.HandlerFunc) (any, error) {
		if req.Method == "rpcudp.ping" {
			n.Add(1)
		}
		return next(ctx, req)
	}
}

// TestReflectGoClient (finding 2): a Go client on a non-loopback address
// gets its claim, the full inventory, a large property, a large reply and
// a large emission; the first large reply costs one extra round trip (the
// server pings the client, whose endpoint answers), nothing else does.
func TestReflectGoClient(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var pings atomic.Int32
		r := newBigRig(t, nil, []rpcudp.Option{rpcudp.WithInterceptors(pingCounter(&pings))})
		const rtt = 2 * reflLatency
		var inv service.Inventory
		var blob, dump string
		steps := []struct {
			name string
			do   func() error
			rtts int // round trips it takes
		}{
			{"claim (two small calls: cookie, token)", func() error {
				cl, err := r.client.Claim(bg, r.addr, "legit", service.ClaimOptions{})
				if err == nil {
					t.Cleanup(func() { cl.Unclaim(bg) })
				}
				return err
			}, 2},
			{"svc.inventory (held while the server pings)", func() (err error) {
				inv, err = r.client.Inventory(bg, r.addr)
				return err
			}, 2},
			{"svc.get blob", func() error { return decode(r.client.Get(bg, r.addr, "blob"))(&blob) }, 1},
			{"svc.call dump", func() error {
				return decode(r.client.Call(bg, r.addr, service.Target{Version: "1"}, "dump"))(&dump)
			}, 1},
		}
		for _, s := range steps {
			start := time.Now()
			if err := s.do(); err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			took := time.Since(start)
			t.Logf("%s: %v", s.name, took)
			if took != time.Duration(s.rtts)*rtt {
				t.Errorf("%s took %v, want %d round trips (%v)", s.name, took, s.rtts, time.Duration(s.rtts)*rtt)
			}
		}
		if want := r.srv.Inventory(); !reflect.DeepEqual(inv, want) {
			t.Errorf("inventory %+v, want %+v", inv, want)
		}
		if len(blob) != bigValue || len(dump) != bigValue {
			t.Errorf("blob %d B, dump %d B, want %d", len(blob), len(dump), bigValue)
		}
		checkEmission(t, r)
		if n, s := pings.Load(), r.srvEP.Stats(); n != 1 || s.Drops.Unproven != 0 {
			t.Errorf("the server pinged the client %d times (want 1), Drops.Unproven = %d", n, s.Drops.Unproven)
		}
	})
}

// checkEmission subscribes the rig's client to signal_0 and checks that a
// 2000-byte emission reaches it.
func checkEmission(t *testing.T, r *bigRig) {
	t.Helper()
	sub, err := r.client.Subscribe(bg, r.addr, "signal_0", time.Minute)
	must(t, err)
	defer sub.Close()
	g, err := r.srv.Signal("signal_0", "")
	must(t, err)
	if n := g.Emit(bg, strings.Repeat("e", 2000)); n != 1 {
		t.Fatalf("emitted to %d subscribers, want 1", n)
	}
	var s string
	if em := <-sub.C(); len(em.Args) != 1 || rpcudp.Reply(em.Args[0]).Decode(&s) != nil || len(s) != 2000 {
		t.Errorf("emission %d B (%+v), want 2000", len(s), em.Missed)
	}
}

// decode returns a function decoding reply into a pointer, or err.
func decode(reply rpcudp.Reply, err error) func(any) error {
	return func(p any) error {
		if err != nil {
			return err
		}
		return reply.Decode(p)
	}
}
