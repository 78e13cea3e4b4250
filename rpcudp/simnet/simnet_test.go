package simnet

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// safety is a real-time read deadline used outside synctest bubbles so that
// a broken test fails instead of hanging; it is never used to wait.
const safety = 10 * time.Second

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
func ip(s string) netip.Addr     { return netip.MustParseAddr(s) }

func newNet(t *testing.T, cfg Config) *Network {
	t.Helper()
	n := New(cfg)
	t.Cleanup(func() { n.Close() })
	return n
}

func listen(t *testing.T, n *Network, addr string) *Conn {
	t.Helper()
	c, err := n.Listen(ap(addr))
	if err != nil {
		t.Fatalf("Listen(%s): %v", addr, err)
	}
	return c
}

func send(t *testing.T, c *Conn, to netip.AddrPort, payload string) {
	t.Helper()
	if _, err := c.WriteToUDPAddrPort([]byte(payload), to); err != nil {
		t.Fatalf("write to %v: %v", to, err)
	}
}

func sendSeq(t *testing.T, c *Conn, to netip.AddrPort, i int) {
	t.Helper()
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(i))
	if _, err := c.WriteToUDPAddrPort(b[:], to); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func recv(t *testing.T, c *Conn) (string, netip.AddrPort) {
	t.Helper()
	buf := make([]byte, 2048)
	n, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("read on %v: %v", c.AddrPort(), err)
	}
	return string(buf[:n]), from
}

func recvSeq(t *testing.T, c *Conn) int {
	t.Helper()
	s, _ := recv(t, c)
	return int(binary.BigEndian.Uint32([]byte(s)))
}

// isTimeout reports whether err is a deadline error by every usual test.
func isTimeout(err error) bool {
	var ne net.Error
	return err != nil && os.IsTimeout(err) && errors.Is(err, os.ErrDeadlineExceeded) &&
		errors.As(err, &ne) && ne.Timeout()
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		a, b   string // ListenPacket addresses
		netw   string
		bubble bool
	}{
		{name: "ipv4 immediate", a: "127.0.0.1:7000", b: "127.0.0.2:7000", netw: "udp"},
		{name: "ipv6 immediate", a: "[::1]:7000", b: "[::1]:0", netw: "udp6"},
		{name: "ipv4 port 0 udp4", a: "127.0.0.1:0", b: "127.0.0.1:0", netw: "udp4"},
		{name: "ipv4 latency", cfg: Config{Latency: 2 * time.Millisecond, Jitter: time.Millisecond},
			a: "127.0.0.1:7000", b: "127.0.0.3:7001", netw: "udp"},
		{name: "ipv6 latency virtual", cfg: Config{Latency: 30 * time.Millisecond, Jitter: 5 * time.Millisecond},
			a: "[::1]:1", b: "[::1]:2", netw: "udp", bubble: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := func(t *testing.T) {
				n := New(tt.cfg)
				defer n.Close()
				pa, err := n.ListenPacket(tt.netw, tt.a)
				if err != nil {
					t.Fatal(err)
				}
				pb, err := n.ListenPacket(tt.netw, tt.b)
				if err != nil {
					t.Fatal(err)
				}
				if !tt.bubble {
					pa.SetReadDeadline(time.Now().Add(safety))
					pb.SetReadDeadline(time.Now().Add(safety))
				}
				// net.PacketConn API one way...
				if _, err := pa.WriteTo([]byte("ping"), pb.LocalAddr()); err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 100)
				m, from, err := pb.ReadFrom(buf)
				if err != nil {
					t.Fatal(err)
				}
				if got := string(buf[:m]); got != "ping" || from.String() != pa.LocalAddr().String() {
					t.Fatalf("b got %q from %v, want ping from %v", got, from, pa.LocalAddr())
				}
				if _, ok := from.(*net.UDPAddr); !ok {
					t.Fatalf("ReadFrom address is %T, want *net.UDPAddr", from)
				}
				// ... and the netip API back.
				cb := pb.(*Conn)
				if _, err := cb.WriteToUDPAddrPort([]byte("pong"), pa.(*Conn).AddrPort()); err != nil {
					t.Fatal(err)
				}
				got, src := recv(t, pa.(*Conn))
				if got != "pong" || src != cb.AddrPort() {
					t.Fatalf("a got %q from %v, want pong from %v", got, src, cb.AddrPort())
				}
				if st := n.Stats(); st.Sent != 2 || st.Delivered != 2 {
					t.Fatalf("stats %+v, want 2 sent and delivered", st)
				}
			}
			if tt.bubble {
				synctest.Test(t, body)
			} else {
				body(t)
			}
		})
	}
}

func TestLossRate(t *testing.T) {
	const total = 10000
	for _, loss := range []float64{0, 0.05, 0.3, 0.5, 1} {
		t.Run(fmt.Sprint(loss), func(t *testing.T) {
			run := func() Stats {
				n := newNet(t, Config{Seed: 42, Loss: loss, QueueLen: total})
				a := listen(t, n, "127.0.0.1:1")
				b := listen(t, n, "127.0.0.2:1")
				for i := range total {
					sendSeq(t, a, b.AddrPort(), i)
				}
				st := n.Stats()
				// Zero latency: everything not lost is already queued.
				for range st.Delivered {
					recvSeq(t, b)
				}
				n.Close()
				return st
			}
			s1, s2 := run(), run()
			if s1 != s2 {
				t.Fatalf("same seed, different outcomes:\n%+v\n%+v", s1, s2)
			}
			if s1.Sent != total || s1.Delivered+s1.Dropped != total {
				t.Fatalf("stats %+v do not add up to %d", s1, total)
			}
			rate := float64(s1.Dropped) / total
			if math.Abs(rate-loss) > 0.02 {
				t.Fatalf("loss rate %.4f, want %.2f±0.02", rate, loss)
			}
			t.Logf("seed 42: %d of %d dropped", s1.Dropped, total)
		})
	}
}

func TestDuplicate(t *testing.T) {
	tests := []struct {
		dup      float64
		min, max uint64 // of Duplicated over 1000 sends
	}{
		{0, 0, 0},
		{0.25, 200, 300},
		{1, 1000, 1000},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.dup), func(t *testing.T) {
			n := newNet(t, Config{Seed: 3, Duplicate: tt.dup, QueueLen: 4000})
			a := listen(t, n, "127.0.0.1:1")
			b := listen(t, n, "127.0.0.2:1")
			for i := range 1000 {
				sendSeq(t, a, b.AddrPort(), i)
			}
			st := n.Stats()
			if st.Duplicated < tt.min || st.Duplicated > tt.max {
				t.Fatalf("Duplicated = %d, want in [%d, %d]", st.Duplicated, tt.min, tt.max)
			}
			if st.Delivered != st.Sent+st.Duplicated {
				t.Fatalf("stats %+v: Delivered != Sent+Duplicated", st)
			}
			seen := make(map[int]int)
			for range st.Delivered {
				seen[recvSeq(t, b)]++
			}
			var twice uint64
			for i := range 1000 {
				switch seen[i] {
				case 1:
				case 2:
					twice++
				default:
					t.Fatalf("datagram %d received %d times", i, seen[i])
				}
			}
			if twice != st.Duplicated {
				t.Fatalf("%d received twice, Duplicated = %d", twice, st.Duplicated)
			}
		})
	}
}

func TestReorder(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"zero latency", Config{Seed: 5, Reorder: 0.2}},
		{"latency", Config{Seed: 5, Reorder: 0.2, Latency: 10 * time.Millisecond}},
		{"explicit delay", Config{Seed: 5, Reorder: 0.2, Latency: 10 * time.Millisecond, ReorderDelay: 3 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const total = 500
				n := New(tt.cfg)
				defer n.Close()
				a := listen(t, n, "127.0.0.1:1")
				b := listen(t, n, "127.0.0.2:1")
				for i := range total {
					sendSeq(t, a, b.AddrPort(), i)
					time.Sleep(100 * time.Microsecond) // the sender's pace, in virtual time
				}
				got := make([]int, 0, total)
				for range total {
					got = append(got, recvSeq(t, b))
				}
				inversions := 0
				for i := 1; i < len(got); i++ {
					if got[i] < got[i-1] {
						inversions++
					}
				}
				st := n.Stats()
				if inversions == 0 || st.Reordered == 0 {
					t.Fatalf("no reordering observed: %d inversions, stats %+v", inversions, st)
				}
				slices.Sort(got)
				for i, v := range got {
					if v != i {
						t.Fatalf("datagram %d missing or repeated", i)
					}
				}
				t.Logf("%d reordered, %d inversions", st.Reordered, inversions)
			})
		})
	}
}

func TestPartitionAndHeal(t *testing.T) {
	n := newNet(t, Config{})
	c1 := listen(t, n, "127.0.0.1:1")
	c2 := listen(t, n, "127.0.0.2:1")
	c3 := listen(t, n, "127.0.0.3:1")
	n.Partition([]netip.Addr{ip("127.0.0.1")}, []netip.Addr{ip("127.0.0.2")})

	steps := []struct {
		from, to *Conn
		blocked  bool
	}{
		{c1, c2, true},
		{c2, c1, true},
		{c1, c3, false},
		{c3, c2, false},
		{c2, c3, false},
	}
	for i, s := range steps {
		before := n.Stats()
		send(t, s.from, s.to.AddrPort(), fmt.Sprint("partitioned ", i))
		after := n.Stats()
		if blocked := after.Blocked > before.Blocked; blocked != s.blocked {
			t.Fatalf("step %d %v->%v: blocked = %v, want %v", i, s.from.AddrPort(), s.to.AddrPort(), blocked, s.blocked)
		}
		if !s.blocked {
			if got, _ := recv(t, s.to); got != fmt.Sprint("partitioned ", i) {
				t.Fatalf("step %d: got %q", i, got)
			}
		}
	}

	n.Heal()
	send(t, c1, c2.AddrPort(), "healed 1->2")
	send(t, c2, c1.AddrPort(), "healed 2->1")
	// The blocked datagrams were not queued, so these are read first.
	if got, _ := recv(t, c2); got != "healed 1->2" {
		t.Fatalf("after heal c2 got %q", got)
	}
	if got, _ := recv(t, c1); got != "healed 2->1" {
		t.Fatalf("after heal c1 got %q", got)
	}
	if st := n.Stats(); st.Blocked != 2 {
		t.Fatalf("Blocked = %d, want 2", st.Blocked)
	}
}

func TestQueueOverflow(t *testing.T) {
	for _, qlen := range []int{1, 4, 100} {
		t.Run(fmt.Sprint(qlen), func(t *testing.T) {
			n := newNet(t, Config{QueueLen: qlen})
			a := listen(t, n, "127.0.0.1:1")
			b := listen(t, n, "127.0.0.2:1")
			for i := range 3 * qlen {
				sendSeq(t, a, b.AddrPort(), i)
			}
			st := n.Stats()
			if st.Delivered != uint64(qlen) || st.DroppedQueueFull != uint64(2*qlen) {
				t.Fatalf("stats %+v, want %d delivered and %d dropped", st, qlen, 2*qlen)
			}
			for i := range qlen {
				if got := recvSeq(t, b); got != i {
					t.Fatalf("read %d, want %d", got, i)
				}
			}
			// Draining makes room again.
			sendSeq(t, a, b.AddrPort(), 1000)
			if got := recvSeq(t, b); got != 1000 {
				t.Fatalf("read %d after drain, want 1000", got)
			}
		})
	}
}

func TestQueueWrapAround(t *testing.T) {
	// Interleave writes and reads so the queue compacts many times, without
	// ever overflowing it.
	const qlen = 8
	n := newNet(t, Config{QueueLen: qlen})
	a := listen(t, n, "127.0.0.1:1")
	b := listen(t, n, "127.0.0.2:1")
	next, want := 0, 0
	for round := range 500 {
		for range min(round%7+1, qlen-(next-want)) {
			sendSeq(t, a, b.AddrPort(), next)
			next++
		}
		for range min(round%5+1, next-want) {
			if got := recvSeq(t, b); got != want {
				t.Fatalf("got %d, want %d", got, want)
			}
			want++
		}
	}
	if st := n.Stats(); st.DroppedQueueFull != 0 || st.Delivered != uint64(next) {
		t.Fatalf("stats %+v after %d sends", st, next)
	}
}

func TestDeadlines(t *testing.T) {
	a4, b4 := ap("127.0.0.1:1"), ap("127.0.0.2:1")
	tests := []struct {
		name string
		run  func(t *testing.T, n *Network, a, b *Conn)
	}{
		{"past deadline fails at once", func(t *testing.T, n *Network, a, b *Conn) {
			send(t, a, b4, "queued") // even with data queued, as with real sockets
			b.SetReadDeadline(time.Now().Add(-time.Second))
			_, _, err := b.ReadFrom(make([]byte, 10))
			if !isTimeout(err) {
				t.Fatalf("err = %v, want timeout", err)
			}
		}},
		{"future deadline expires on time", func(t *testing.T, n *Network, a, b *Conn) {
			start := time.Now()
			b.SetReadDeadline(start.Add(100 * time.Millisecond))
			_, _, err := b.ReadFromUDPAddrPort(make([]byte, 10))
			if !isTimeout(err) {
				t.Fatalf("err = %v, want timeout", err)
			}
			if d := time.Since(start); d != 100*time.Millisecond {
				t.Fatalf("timed out after %v, want 100ms", d)
			}
		}},
		{"past deadline unblocks a blocked reader", func(t *testing.T, n *Network, a, b *Conn) {
			errc := make(chan error)
			go func() {
				_, _, err := b.ReadFrom(make([]byte, 10))
				errc <- err
			}()
			synctest.Wait() // the reader is blocked
			b.SetReadDeadline(time.Now().Add(-time.Nanosecond))
			if err := <-errc; !isTimeout(err) {
				t.Fatalf("err = %v, want timeout", err)
			}
		}},
		{"deadline extended while blocked", func(t *testing.T, n *Network, a, b *Conn) {
			start := time.Now()
			b.SetReadDeadline(start.Add(50 * time.Millisecond))
			errc := make(chan error)
			go func() {
				_, _, err := b.ReadFrom(make([]byte, 10))
				errc <- err
			}()
			synctest.Wait()
			b.SetReadDeadline(start.Add(200 * time.Millisecond))
			if err := <-errc; !isTimeout(err) {
				t.Fatalf("err = %v, want timeout", err)
			}
			if d := time.Since(start); d != 200*time.Millisecond {
				t.Fatalf("timed out after %v, want 200ms", d)
			}
		}},
		{"data before deadline", func(t *testing.T, n *Network, a, b *Conn) {
			b.SetReadDeadline(time.Now().Add(time.Second))
			go func() {
				time.Sleep(300 * time.Millisecond) // virtual: the sender's schedule
				a.WriteToUDPAddrPort([]byte("in time"), b4)
			}()
			if got, _ := recv(t, b); got != "in time" {
				t.Fatalf("got %q", got)
			}
		}},
		{"cleared deadline reads again", func(t *testing.T, n *Network, a, b *Conn) {
			b.SetReadDeadline(time.Now())
			if _, _, err := b.ReadFrom(make([]byte, 10)); !isTimeout(err) {
				t.Fatalf("err = %v, want timeout", err)
			}
			b.SetReadDeadline(time.Time{})
			send(t, a, b4, "after")
			if got, _ := recv(t, b); got != "after" {
				t.Fatalf("got %q", got)
			}
		}},
		{"write deadline", func(t *testing.T, n *Network, a, b *Conn) {
			a.SetWriteDeadline(time.Now().Add(-time.Second))
			if _, err := a.WriteToUDPAddrPort([]byte("x"), b4); !isTimeout(err) {
				t.Fatalf("write err = %v, want timeout", err)
			}
			if _, err := a.WriteTo([]byte("x"), net.UDPAddrFromAddrPort(b4)); !isTimeout(err) {
				t.Fatalf("WriteTo err = %v, want timeout", err)
			}
			a.SetDeadline(time.Time{})
			send(t, a, b4, "ok")
			if got, _ := recv(t, b); got != "ok" {
				t.Fatalf("got %q", got)
			}
		}},
		{"SetDeadline covers reads", func(t *testing.T, n *Network, a, b *Conn) {
			b.SetDeadline(time.Now().Add(time.Millisecond))
			if _, _, err := b.ReadFrom(make([]byte, 10)); !isTimeout(err) {
				t.Fatalf("err = %v, want timeout", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := New(Config{})
				defer n.Close()
				tt.run(t, n, listen(t, n, a4.String()), listen(t, n, b4.String()))
			})
		})
	}
}

func TestDeadlineRealTime(t *testing.T) {
	// Outside a bubble, with real timers.
	n := newNet(t, Config{})
	c := listen(t, n, "127.0.0.1:1")
	c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, _, err := c.ReadFrom(make([]byte, 1))
	if !isTimeout(err) {
		t.Fatalf("err = %v, want timeout", err)
	}
}

func TestCloseUnblocksReaders(t *testing.T) {
	tests := []struct {
		name  string
		close func(n *Network, c *Conn)
	}{
		{"conn close", func(n *Network, c *Conn) { c.Close() }},
		{"network close", func(n *Network, c *Conn) { n.Close() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := New(Config{Latency: time.Hour}) // one datagram stays in flight
				defer n.Close()
				c := listen(t, n, "127.0.0.1:1")
				send(t, c, c.AddrPort(), "never arrives")
				errc := make(chan error, 3)
				for range 3 {
					go func() {
						_, _, err := c.ReadFrom(make([]byte, 10))
						errc <- err
					}()
				}
				synctest.Wait() // all three are blocked
				tt.close(n, c)
				for range 3 {
					if err := <-errc; !errors.Is(err, net.ErrClosed) {
						t.Fatalf("reader got %v, want net.ErrClosed", err)
					}
				}
				if _, err := c.WriteToUDPAddrPort([]byte("x"), c.AddrPort()); !errors.Is(err, net.ErrClosed) {
					t.Fatalf("write after close: %v", err)
				}
				if err := c.SetReadDeadline(time.Time{}); !errors.Is(err, net.ErrClosed) {
					t.Fatalf("SetReadDeadline after close: %v", err)
				}
				if err := c.Close(); !errors.Is(err, net.ErrClosed) {
					t.Fatalf("second Close: %v", err)
				}
			})
		})
	}
}

func TestNetworkClose(t *testing.T) {
	n := New(Config{Latency: time.Hour})
	c := listen(t, n, "127.0.0.1:1")
	send(t, c, c.AddrPort(), "in flight")
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := n.Listen(ap("127.0.0.1:2")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Listen after Close: %v", err)
	}
	if _, _, err := c.ReadFrom(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after network Close: %v", err)
	}
	if n.Inject(ap("127.0.0.9:1"), c.AddrPort(), []byte("x")) {
		t.Fatal("Inject after Close succeeded")
	}
}

func TestPortZero(t *testing.T) {
	n := newNet(t, Config{})
	seen := make(map[netip.AddrPort]bool)
	for range 100 {
		c := listen(t, n, "127.0.0.1:0")
		p := c.AddrPort()
		if p.Port() < ephemeralFirst || seen[p] {
			t.Fatalf("bad or repeated ephemeral address %v", p)
		}
		seen[p] = true
	}
	// A port taken explicitly is skipped.
	taken := listen(t, n, "127.0.0.2:49152")
	other := listen(t, n, "127.0.0.2:0")
	if other.AddrPort() == taken.AddrPort() {
		t.Fatal("port 0 picked a port in use")
	}

	for _, tt := range []struct{ netw, addr, want string }{
		{"udp", ":0", "127.0.0.1"},
		{"udp4", "0.0.0.0:0", "127.0.0.1"},
		{"udp6", "[::]:0", "::1"},
		{"udp6", "localhost:0", "::1"},
		{"udp", "[::ffff:127.0.0.7]:0", "127.0.0.7"},
	} {
		pc, err := n.ListenPacket(tt.netw, tt.addr)
		if err != nil {
			t.Fatalf("ListenPacket(%q, %q): %v", tt.netw, tt.addr, err)
		}
		ua := pc.LocalAddr().(*net.UDPAddr)
		if ua.Port == 0 || ua.AddrPort().Addr().String() != tt.want {
			t.Fatalf("ListenPacket(%q, %q) bound %v, want %s:nonzero", tt.netw, tt.addr, ua, tt.want)
		}
	}

	// Exhaust the ephemeral range of one host.
	small := newNet(t, Config{})
	for range ephemeralLast - ephemeralFirst + 1 {
		listen(t, small, "[::1]:0")
	}
	if _, err := small.Listen(ap("[::1]:0")); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("exhausted range: err = %v, want EADDRINUSE", err)
	}
}

func TestAddressInUse(t *testing.T) {
	n := newNet(t, Config{})
	c := listen(t, n, "127.0.0.1:5000")
	for _, addr := range []string{"127.0.0.1:5000", "[::ffff:127.0.0.1]:5000"} {
		if _, err := n.Listen(ap(addr)); !errors.Is(err, syscall.EADDRINUSE) {
			t.Fatalf("Listen(%s) err = %v, want EADDRINUSE", addr, err)
		}
	}
	if _, err := n.ListenPacket("udp", "127.0.0.1:5000"); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("ListenPacket err = %v, want EADDRINUSE", err)
	}
	listen(t, n, "127.0.0.2:5000") // other host, same port
	listen(t, n, "[::1]:5000")     // other family
	c.Close()
	listen(t, n, "127.0.0.1:5000") // free again
}

func TestListenPacketErrors(t *testing.T) {
	n := newNet(t, Config{})
	for _, tt := range []struct{ netw, addr string }{
		{"tcp", "127.0.0.1:0"},
		{"udp", "127.0.0.1"},
		{"udp", "127.0.0.1:http"},
		{"udp", "127.0.0.1:70000"},
		{"udp", "no-such-host.invalid:0"},
		{"udp4", "[::1]:0"},
		{"udp6", "127.0.0.1:0"},
	} {
		if pc, err := n.ListenPacket(tt.netw, tt.addr); err == nil {
			t.Errorf("ListenPacket(%q, %q) = %v, want error", tt.netw, tt.addr, pc.LocalAddr())
		}
	}
	if _, err := n.Listen(netip.AddrPort{}); err == nil {
		t.Error("Listen(invalid) succeeded")
	}
}

func TestWriteErrors(t *testing.T) {
	n := newNet(t, Config{MaxDatagram: 100})
	c := listen(t, n, "127.0.0.1:1")
	to := ap("127.0.0.2:1")
	if _, err := c.WriteToUDPAddrPort(make([]byte, 100), to); err != nil {
		t.Fatalf("100 bytes: %v", err)
	}
	if m, err := c.WriteToUDPAddrPort(make([]byte, 101), to); !errors.Is(err, syscall.EMSGSIZE) || m != 0 {
		t.Fatalf("101 bytes: %d, %v; want EMSGSIZE", m, err)
	}
	if _, err := c.WriteTo([]byte("x"), &net.TCPAddr{}); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("WriteTo(TCPAddr): %v, want EINVAL", err)
	}
	if _, err := c.WriteTo([]byte("x"), (*net.UDPAddr)(nil)); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("WriteTo(nil): %v, want EINVAL", err)
	}
	if _, err := c.WriteToUDPAddrPort([]byte("x"), netip.AddrPort{}); err == nil {
		t.Fatal("write to invalid address succeeded")
	}
	if st := n.Stats(); st.Sent != 1 {
		t.Fatalf("Sent = %d, want 1 (failed writes are not sent)", st.Sent)
	}

	def := newNet(t, Config{})
	d := listen(t, def, "127.0.0.1:1")
	if _, err := d.WriteToUDPAddrPort(make([]byte, DefaultMaxDatagram), to); err != nil {
		t.Fatalf("max size: %v", err)
	}
	if _, err := d.WriteToUDPAddrPort(make([]byte, DefaultMaxDatagram+1), to); err == nil {
		t.Fatal("oversized write succeeded")
	}
}

func TestUnreachableIsSilent(t *testing.T) {
	n := newNet(t, Config{})
	c := listen(t, n, "127.0.0.1:1")
	m, err := c.WriteTo([]byte("hello?"), net.UDPAddrFromAddrPort(ap("127.0.0.1:2")))
	if m != 6 || err != nil {
		t.Fatalf("WriteTo = %d, %v; want 6, nil", m, err)
	}
	if st := n.Stats(); st.Unreachable != 1 || st.Delivered != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestBuffers(t *testing.T) {
	n := newNet(t, Config{})
	a := listen(t, n, "127.0.0.1:1")
	b := listen(t, n, "127.0.0.2:1")
	buf := []byte("original")
	a.WriteToUDPAddrPort(buf, b.AddrPort())
	copy(buf, "CHANGED!")
	if got, _ := recv(t, b); got != "original" {
		t.Fatalf("got %q: write did not copy", got)
	}

	// A short read buffer truncates, like UDP.
	a.WriteToUDPAddrPort([]byte("0123456789"), b.AddrPort())
	small := make([]byte, 4)
	m, _, err := b.ReadFromUDPAddrPort(small)
	if err != nil || m != 4 || string(small) != "0123" {
		t.Fatalf("short read = %d %q %v", m, small, err)
	}
	// The rest of that datagram is gone.
	a.WriteToUDPAddrPort([]byte("next"), b.AddrPort())
	if got, _ := recv(t, b); got != "next" {
		t.Fatalf("got %q", got)
	}
	// Empty datagrams are datagrams.
	a.WriteToUDPAddrPort(nil, b.AddrPort())
	if got, from := recv(t, b); got != "" || from != a.AddrPort() {
		t.Fatalf("empty datagram: %q from %v", got, from)
	}
}

func TestReadAllocs(t *testing.T) {
	n := newNet(t, Config{})
	a := listen(t, n, "127.0.0.1:1")
	b := listen(t, n, "127.0.0.2:1")
	payload := []byte("x")
	buf := make([]byte, 16)
	allocs := testing.AllocsPerRun(200, func() {
		a.WriteToUDPAddrPort(payload, b.AddrPort())
		b.ReadFromUDPAddrPort(buf)
	})
	// One allocation: the copy of the payload made by the write.
	if allocs > 1 {
		t.Fatalf("%v allocations per write+read, want at most 1", allocs)
	}
}

func TestSetLink(t *testing.T) {
	t.Run("loss", func(t *testing.T) {
		n := newNet(t, Config{})
		c1 := listen(t, n, "127.0.0.1:1")
		c2 := listen(t, n, "127.0.0.2:1")
		c3 := listen(t, n, "127.0.0.3:1")
		n.SetLink(ip("127.0.0.2"), ip("127.0.0.1"), LinkConfig{Loss: 1})
		send(t, c1, c2.AddrPort(), "lost")
		send(t, c2, c1.AddrPort(), "lost")
		send(t, c1, c3.AddrPort(), "kept")
		if got, _ := recv(t, c3); got != "kept" {
			t.Fatalf("got %q", got)
		}
		if st := n.Stats(); st.Dropped != 2 || st.Delivered != 1 {
			t.Fatalf("stats %+v", st)
		}
		n.ClearLink(ip("127.0.0.1"), ip("127.0.0.2"))
		send(t, c1, c2.AddrPort(), "through")
		if got, _ := recv(t, c2); got != "through" {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("latency", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			n := New(Config{Latency: 10 * time.Millisecond})
			defer n.Close()
			c1 := listen(t, n, "127.0.0.1:1")
			c2 := listen(t, n, "127.0.0.2:1")
			c3 := listen(t, n, "[::1]:1")
			n.SetLink(ip("127.0.0.1"), ip("::1"), LinkConfig{Latency: 80 * time.Millisecond})
			for _, tt := range []struct {
				from, to *Conn
				want     time.Duration
			}{
				{c1, c2, 10 * time.Millisecond},
				{c1, c3, 80 * time.Millisecond},
				{c3, c1, 80 * time.Millisecond},
				{c3, c2, 10 * time.Millisecond},
			} {
				start := time.Now()
				send(t, tt.from, tt.to.AddrPort(), "x")
				recv(t, tt.to)
				if d := time.Since(start); d != tt.want {
					t.Fatalf("%v->%v took %v, want %v", tt.from.AddrPort(), tt.to.AddrPort(), d, tt.want)
				}
			}
		})
	})
}

func TestFilterAndInject(t *testing.T) {
	n := newNet(t, Config{})
	a := listen(t, n, "127.0.0.1:1")
	b := listen(t, n, "127.0.0.2:1")
	var mu sync.Mutex
	var seen []string
	n.SetFilter(func(from, to netip.AddrPort, p []byte) bool {
		mu.Lock()
		seen = append(seen, fmt.Sprintf("%v>%v:%s", from, to, p))
		mu.Unlock()
		return !bytes.HasPrefix(p, []byte("evil"))
	})
	send(t, a, b.AddrPort(), "evil payload")
	send(t, a, b.AddrPort(), "good payload")
	if got, _ := recv(t, b); got != "good payload" {
		t.Fatalf("got %q", got)
	}
	want := []string{"127.0.0.1:1>127.0.0.2:1:evil payload", "127.0.0.1:1>127.0.0.2:1:good payload"}
	if !slices.Equal(seen, want) {
		t.Fatalf("filter saw %q, want %q", seen, want)
	}
	if st := n.Stats(); st.Filtered != 1 {
		t.Fatalf("Filtered = %d", st.Filtered)
	}
	n.SetFilter(nil)
	send(t, a, b.AddrPort(), "evil but unfiltered")
	if got, _ := recv(t, b); got != "evil but unfiltered" {
		t.Fatalf("got %q", got)
	}

	// Inject from a spoofed source bypasses partitions and impairments.
	n.Partition([]netip.Addr{ip("127.0.0.66")}, []netip.Addr{ip("127.0.0.2")})
	spoof := ap("127.0.0.66:53")
	if !n.Inject(spoof, b.AddrPort(), []byte("spoofed")) {
		t.Fatal("Inject failed")
	}
	s, src := recv(t, b)
	if s != "spoofed" || src != spoof {
		t.Fatalf("got %q from %v, want spoofed from %v", s, src, spoof)
	}
	if n.Inject(spoof, ap("127.0.0.2:2"), []byte("x")) {
		t.Fatal("Inject to nobody succeeded")
	}
	if n.Inject(spoof, b.AddrPort(), make([]byte, DefaultMaxDatagram+1)) {
		t.Fatal("oversized Inject succeeded")
	}
	if st := n.Stats(); st.Injected != 2 || st.Unreachable != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// trace runs a fixed traffic pattern inside a synctest bubble and returns
// what was received, in order, with arrival times, plus the final stats.
func trace(t *testing.T, seed int64) ([]string, Stats) {
	var out []string
	var st Stats
	synctest.Test(t, func(t *testing.T) {
		n := New(Config{Seed: seed, Latency: 10 * time.Millisecond, Jitter: 5 * time.Millisecond,
			Loss: 0.2, Duplicate: 0.1, Reorder: 0.1})
		defer n.Close()
		dst := listen(t, n, "127.0.0.9:9")
		var srcs []*Conn
		for i := range 3 {
			srcs = append(srcs, listen(t, n, fmt.Sprintf("127.0.0.%d:1", i+1)))
		}
		start := time.Now()
		for i := range 300 {
			send(t, srcs[i%3], dst.AddrPort(), fmt.Sprint(i))
			if i%50 == 0 {
				time.Sleep(time.Millisecond) // the senders' schedule, in virtual time
			}
		}
		dst.SetReadDeadline(start.Add(time.Second))
		buf := make([]byte, 64)
		for {
			m, from, err := dst.ReadFromUDPAddrPort(buf)
			if isTimeout(err) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%v %v %s", time.Since(start), from, buf[:m]))
		}
		st = n.Stats()
	})
	return out, st
}

func TestDeterminism(t *testing.T) {
	t1, s1 := trace(t, 7)
	t2, s2 := trace(t, 7)
	if !slices.Equal(t1, t2) || s1 != s2 {
		t.Fatalf("same seed, different runs:\n%v\n%+v\n%v\n%+v", t1, s1, t2, s2)
	}
	if s1.Dropped == 0 || s1.Duplicated == 0 || s1.Reordered == 0 {
		t.Fatalf("pattern too tame to test determinism: %+v", s1)
	}
	if uint64(len(t1)) != s1.Delivered || s1.Delivered != s1.Sent+s1.Duplicated-s1.Dropped {
		t.Fatalf("%d received, stats %+v do not add up", len(t1), s1)
	}
	t3, _ := trace(t, 8)
	if slices.Equal(t1, t3) {
		t.Fatal("different seeds, identical runs")
	}
}

func TestDeterminismRealTime(t *testing.T) {
	// Without latency, outcomes are decided and delivered synchronously, so
	// determinism holds outside a bubble too.
	run := func() []int {
		n := New(Config{Seed: 99, Loss: 0.3, Duplicate: 0.3, QueueLen: 5000})
		defer n.Close()
		a := listen(t, n, "[::1]:1")
		b := listen(t, n, "[::1]:2")
		for i := range 1000 {
			sendSeq(t, a, b.AddrPort(), i)
		}
		var got []int
		for range n.Stats().Delivered {
			got = append(got, recvSeq(t, b))
		}
		return got
	}
	if r1, r2 := run(), run(); !slices.Equal(r1, r2) {
		t.Fatal("same seed, different outcomes")
	}
}

func TestSynctestVirtualLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(Config{Latency: 50 * time.Millisecond})
		defer n.Close()
		a := listen(t, n, "127.0.0.1:1")
		b := listen(t, n, "127.0.0.2:1")
		start := time.Now()
		send(t, a, b.AddrPort(), "slow")

		// Not there after 49 ms...
		b.SetReadDeadline(start.Add(49 * time.Millisecond))
		if _, _, err := b.ReadFrom(make([]byte, 10)); !isTimeout(err) {
			t.Fatalf("early read: %v, want timeout", err)
		}
		// ... there at exactly 50 ms of virtual time.
		b.SetReadDeadline(time.Time{})
		if got, _ := recv(t, b); got != "slow" {
			t.Fatalf("got %q", got)
		}
		if d := time.Since(start); d != 50*time.Millisecond {
			t.Fatalf("delivered after %v, want 50ms", d)
		}
	})
}

func TestThousandNodesVirtualTime(t *testing.T) {
	const nodes = 1000
	realStart := time.Now()
	synctest.Test(t, func(t *testing.T) {
		n := New(Config{Seed: 1, Latency: 50 * time.Millisecond, Jitter: 10 * time.Millisecond})
		defer n.Close()
		conns := make([]*Conn, nodes)
		for i := range conns {
			conns[i] = listen(t, n, fmt.Sprintf("127.0.%d.%d:4000", i/250, i%250+1))
		}
		start := time.Now()
		var wg sync.WaitGroup
		for i, c := range conns {
			next := conns[(i+1)%nodes].AddrPort()
			wg.Go(func() {
				// Ask the next node, answer the previous one, read the answer.
				buf := make([]byte, 16)
				if _, err := c.WriteToUDPAddrPort([]byte("ping"), next); err != nil {
					t.Error(err)
					return
				}
				for range 2 {
					m, from, err := c.ReadFromUDPAddrPort(buf)
					if err != nil {
						t.Error(err)
						return
					}
					if string(buf[:m]) == "ping" {
						if _, err := c.WriteToUDPAddrPort([]byte("pong"), from); err != nil {
							t.Error(err)
							return
						}
					}
				}
			})
		}
		wg.Wait()
		if d := time.Since(start); d < 100*time.Millisecond || d > 120*time.Millisecond {
			t.Fatalf("round trips took %v of virtual time, want 100ms..120ms", d)
		}
		if st := n.Stats(); st.Delivered != 2*nodes {
			t.Fatalf("stats %+v", st)
		}
	})
	t.Logf("1000 nodes, 2000 datagrams with 50ms latency: %v real time", time.Since(realStart))
}

func TestConcurrentUse(t *testing.T) {
	const senders, each = 8, 500
	n := newNet(t, Config{Seed: 1, QueueLen: senders * each})
	dst := listen(t, n, "127.0.0.1:1")
	dst.SetReadDeadline(time.Now().Add(safety))
	var wg sync.WaitGroup
	for s := range senders {
		c := listen(t, n, fmt.Sprintf("127.0.1.%d:1", s+1))
		wg.Go(func() {
			var b [4]byte
			for i := range each {
				binary.BigEndian.PutUint32(b[:], uint32(s*each+i))
				if _, err := c.WriteToUDPAddrPort(b[:], dst.AddrPort()); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	// Several concurrent readers drain the queue.
	var mu sync.Mutex
	seen := make(map[int]bool)
	var rg sync.WaitGroup
	for range 4 {
		rg.Go(func() {
			buf := make([]byte, 4)
			for {
				_, _, err := dst.ReadFromUDPAddrPort(buf)
				if err != nil {
					return
				}
				mu.Lock()
				seen[int(binary.BigEndian.Uint32(buf))] = true
				done := len(seen) == senders*each
				mu.Unlock()
				if done {
					dst.Close()
					return
				}
			}
		})
	}
	wg.Wait()
	rg.Wait()
	if len(seen) != senders*each {
		t.Fatalf("received %d distinct datagrams, want %d", len(seen), senders*each)
	}
}

func TestInvalidConfigPanics(t *testing.T) {
	for _, cfg := range []Config{
		{Loss: -0.1}, {Loss: 1.1}, {Loss: math.NaN()}, {Duplicate: 2}, {Reorder: -1},
		{Latency: -1}, {Jitter: -1}, {QueueLen: -1}, {MaxDatagram: -1}, {ReorderDelay: -1},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New(%+v) did not panic", cfg)
				}
			}()
			New(cfg).Close()
		}()
	}
	n := newNet(t, Config{})
	defer func() {
		if recover() == nil {
			t.Error("SetLink with Loss 3 did not panic")
		}
	}()
	n.SetLink(ip("127.0.0.1"), ip("127.0.0.2"), LinkConfig{Loss: 3})
}
