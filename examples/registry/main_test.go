package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rpcudp/go-rpcudp/kademlia"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeClock is an injectable clock that moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func lookupIs(t *testing.T, r *registry, name string, want ...string) {
	t.Helper()
	got, err := r.lookup(testCtx(t), name)
	if err != nil {
		t.Fatalf("Lookup(%q): %v", name, err)
	}
	if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Fatalf("Lookup(%q) = %q, want %q", name, got, want)
	}
}

// TestRegistryExpiry is the registry's story on a real DHT on loopback:
// two services announce, a lookup lists both; one stops renewing and,
// once its TTL has passed on the (injected) clock, lookups list only the
// other.
func TestRegistryExpiry(t *testing.T) {
	nodes := startNetwork(t, 4)
	clock := newFakeClock()
	cfg := registryOptions{now: clock.Now}
	a := newRegistry(nodes[1], cfg)
	b := newRegistry(nodes[2], cfg)
	look := newRegistry(nodes[3], cfg)
	ctx := testCtx(t)
	const ttl = 30 * time.Second
	if err := a.announce(ctx, "echo", "127.0.0.1:7001", ttl); err != nil {
		t.Fatal(err)
	}
	if err := b.announce(ctx, "echo", "127.0.0.1:7002", ttl); err != nil {
		t.Fatal(err)
	}
	lookupIs(t, look, "echo", "127.0.0.1:7001", "127.0.0.1:7002")
	lookupIs(t, look, "other")

	// B keeps renewing; A has stopped (say it crashed).
	clock.Advance(20 * time.Second)
	if err := b.renewAll(ctx); err != nil {
		t.Fatal(err)
	}
	lookupIs(t, look, "echo", "127.0.0.1:7001", "127.0.0.1:7002")
	clock.Advance(15 * time.Second) // A's record expired 5 s ago
	lookupIs(t, look, "echo", "127.0.0.1:7002")
	// Any node sees the same.
	lookupIs(t, newRegistry(nodes[0], cfg), "echo", "127.0.0.1:7002")

	// A comes back: it announces again and reuses its old slot.
	slotA, _ := a.slotOf("echo", "127.0.0.1:7001")
	a2 := newRegistry(nodes[1], cfg)
	if err := a2.announce(ctx, "echo", "127.0.0.1:7001", ttl); err != nil {
		t.Fatal(err)
	}
	if s, _ := a2.slotOf("echo", "127.0.0.1:7001"); s != slotA {
		t.Errorf("re-announced in slot %d, was %d", s, slotA)
	}
	lookupIs(t, look, "echo", "127.0.0.1:7001", "127.0.0.1:7002")

	// B withdraws on a clean shutdown: gone at once.
	if err := b.withdraw(ctx, "echo", "127.0.0.1:7002"); err != nil {
		t.Fatal(err)
	}
	lookupIs(t, look, "echo", "127.0.0.1:7001")
	clock.Advance(ttl)
	lookupIs(t, look, "echo")
}

// mapDHT is an in-memory DHT of signed records for the registry's unit
// tests: it keeps the highest seq of each record and checks CAS as Go
// holders do.
type mapDHT struct {
	mu   sync.Mutex
	m    map[kademlia.ID]kademlia.Record
	sets atomic.Int64
	fail bool
}

func newMapDHT() *mapDHT { return &mapDHT{m: map[kademlia.ID]kademlia.Record{}} }

func (d *mapDHT) GetRecord(_ context.Context, pub ed25519.PublicKey, salt []byte, _ ...kademlia.GetOptions) (kademlia.Record, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fail {
		return kademlia.Record{}, false, errors.New("network down")
	}
	r, ok := d.m[kademlia.RecordKey(pub, salt)]
	return r, ok, nil
}

func (d *mapDHT) PutRecord(_ context.Context, priv ed25519.PrivateKey, salt, value []byte, opts ...kademlia.PutRecordOptions) (kademlia.Record, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fail {
		return kademlia.Record{}, errors.New("network down")
	}
	var o kademlia.PutRecordOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	key := kademlia.RecordKey(priv.Public().(ed25519.PublicKey), salt)
	held := d.m[key]
	seq := o.Seq
	switch {
	case o.ExpectSeq != nil && held.Seq > *o.ExpectSeq:
		return kademlia.Record{}, kademlia.ErrSeqConflict
	case seq == 0 && o.ExpectSeq != nil:
		seq = *o.ExpectSeq + 1
	case seq == 0:
		seq = held.Seq + 1
	}
	if seq <= held.Seq {
		return kademlia.Record{}, kademlia.ErrStaleRecord
	}
	r, err := kademlia.NewRecord(priv, salt, seq, value)
	if err != nil {
		return kademlia.Record{}, err
	}
	d.m[key] = r
	d.sets.Add(1)
	return r, nil
}

// put stores value as the next record of priv under salt.
func (d *mapDHT) put(priv ed25519.PrivateKey, salt, value string) {
	d.mu.Lock()
	fail := d.fail
	d.fail = false
	d.mu.Unlock()
	if _, err := d.PutRecord(context.Background(), priv, []byte(salt), []byte(value), kademlia.PutRecordOptions{}); err != nil {
		panic(err)
	}
	d.mu.Lock()
	d.fail = fail
	d.mu.Unlock()
}

// get returns the record of pub under salt.
func (d *mapDHT) get(pub ed25519.PublicKey, salt string) (kademlia.Record, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r, ok := d.m[kademlia.RecordKey(pub, []byte(salt))]
	return r, ok
}

// openPub is the public key of name's open key.
func openPub(name string) ed25519.PublicKey { return openKey(name).Public().(ed25519.PublicKey) }

func TestRecordFormat(t *testing.T) {
	dht := newMapDHT()
	clock := newFakeClock()
	r := newRegistry(dht, registryOptions{now: clock.Now})
	if err := r.announce(testCtx(t), "web", "[::1]:80", time.Minute); err != nil {
		t.Fatal(err)
	}
	slot, ok := r.slotOf("web", "[::1]:80")
	if !ok {
		t.Fatal("not announced")
	}
	rec, _ := dht.get(openPub("web"), slotKey("web", slot))
	want := fmt.Sprintf("[::1]:80|%d", clock.Now().Add(time.Minute).UnixMilli())
	if string(rec.Value) != want || rec.Seq != 1 {
		t.Errorf("record seq %d %q, want seq 1 %q", rec.Seq, rec.Value, want)
	}
	if slotKey("web", 3) != "registry:web:3" {
		t.Errorf("slotKey = %q", slotKey("web", 3))
	}
	// Malformed records, and records of another key, are ignored.
	dht.put(openKey("web"), slotKey("web", (slot+1)%defaultSlots), "42")
	dht.put(openKey("web"), slotKey("web", (slot+2)%defaultSlots), "no expiry")
	dht.put(openKey("web"), slotKey("web", (slot+3)%defaultSlots), "addr|soon")
	live := record{addr: "[::1]:81", expires: clock.Now().Add(time.Minute)}.encode()
	dht.put(openKey("other"), slotKey("web", (slot+4)%defaultSlots), live)
	lookupIs(t, r, "web", "[::1]:80")
}

func TestSlotProbing(t *testing.T) {
	dht := newMapDHT()
	clock := newFakeClock()
	cfg := registryOptions{slots: 2, now: clock.Now}
	ctx := testCtx(t)
	x, y, z := newRegistry(dht, cfg), newRegistry(dht, cfg), newRegistry(dht, cfg)
	if err := x.announce(ctx, "db", "127.0.0.1:1", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := y.announce(ctx, "db", "127.0.0.1:2", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	sx, _ := x.slotOf("db", "127.0.0.1:1")
	sy, _ := y.slotOf("db", "127.0.0.1:2")
	if sx == sy {
		t.Fatalf("both in slot %d", sx)
	}
	// Announcing again (a restart) keeps one slot per address.
	if err := newRegistry(dht, cfg).announce(ctx, "db", "127.0.0.1:2", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	lookupIs(t, z, "db", "127.0.0.1:1", "127.0.0.1:2")
	// Every slot is live: a third service cannot announce.
	if err := z.announce(ctx, "db", "127.0.0.1:3", 30*time.Second); !errors.Is(err, errFull) {
		t.Fatalf("third announce: %v, want errFull", err)
	}
	// Once x's record expires, its slot is free again.
	clock.Advance(20 * time.Second)
	if err := y.renewAll(ctx); err != nil {
		t.Fatal(err)
	}
	clock.Advance(11 * time.Second)
	if err := z.announce(ctx, "db", "127.0.0.1:3", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if sz, _ := z.slotOf("db", "127.0.0.1:3"); sz != sx {
		t.Errorf("took slot %d, want x's expired slot %d", sz, sx)
	}
	lookupIs(t, z, "db", "127.0.0.1:2", "127.0.0.1:3")
}

// TestRenewMovesOffATakenSlot: two services that raced for one slot
// separate at the next renewal.
func TestRenewMovesOffATakenSlot(t *testing.T) {
	dht := newMapDHT()
	clock := newFakeClock()
	cfg := registryOptions{now: clock.Now}
	ctx := testCtx(t)
	a := newRegistry(dht, cfg)
	if err := a.announce(ctx, "q", "127.0.0.1:1", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	slot, _ := a.slotOf("q", "127.0.0.1:1")
	// B wrote the same slot last (both saw it empty).
	dht.put(openKey("q"), slotKey("q", slot), record{addr: "127.0.0.1:2", expires: clock.Now().Add(30 * time.Second)}.encode())
	lookupIs(t, a, "q", "127.0.0.1:2")
	if err := a.renewAll(ctx); err != nil {
		t.Fatal(err)
	}
	if s, _ := a.slotOf("q", "127.0.0.1:1"); s == slot {
		t.Fatalf("still in slot %d", s)
	}
	lookupIs(t, a, "q", "127.0.0.1:1", "127.0.0.1:2")
}

func TestRunRenews(t *testing.T) {
	dht := newMapDHT()
	r := newRegistry(dht, registryOptions{})
	ctx, cancel := context.WithCancel(testCtx(t))
	if err := r.announce(ctx, "svc", "127.0.0.1:1", 60*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.keepRenewing(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for dht.sets.Load() < 4 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := dht.sets.Load(); n < 4 {
		t.Fatalf("%d writes: Run did not renew", n)
	}
	lookupIs(t, r, "svc", "127.0.0.1:1")
}

func TestRegistryErrors(t *testing.T) {
	dht := newMapDHT()
	r := newRegistry(dht, registryOptions{})
	ctx := testCtx(t)
	for _, c := range []struct{ name, addr string }{{"", "a"}, {"n", ""}} {
		if err := r.announce(ctx, c.name, c.addr, time.Second); err == nil {
			t.Errorf("Announce(%q, %q) succeeded", c.name, c.addr)
		}
	}
	if err := r.announce(ctx, "n", "a", 0); err == nil {
		t.Error("Announce with ttl 0 succeeded")
	}
	dht.fail = true
	if _, err := r.lookup(ctx, "n"); err == nil {
		t.Error("Lookup on a dead network succeeded")
	}
	if err := r.announce(ctx, "n", "a", time.Second); err == nil {
		t.Error("Announce on a dead network succeeded")
	}
}

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

// TestCommand runs announce and lookup as a user would, against a DHT on
// loopback.
func TestCommand(t *testing.T) {
	nodes := startNetwork(t, 3)
	join := nodes[0].Addr().String()
	lookup := func(name string) (string, string, int) {
		var out, errOut bytes.Buffer
		code := run(testCtx(t), []string{"lookup", "-join", join, "-name", name, "-timeout", "400ms"}, &out, &errOut)
		return out.String(), errOut.String(), code
	}

	// Start two announcers.
	type announcer struct {
		out    *syncBuffer
		cancel context.CancelFunc
		done   chan int
	}
	announce := func(addr string) *announcer {
		ctx, cancel := context.WithCancel(context.Background())
		a := &announcer{out: &syncBuffer{}, cancel: cancel, done: make(chan int, 1)}
		errOut := &syncBuffer{}
		t.Cleanup(func() { t.Logf("announce %s stderr: %s", addr, errOut) })
		go func() {
			a.done <- run(ctx, []string{"announce", "-join", join, "-name", "echo", "-addr", addr, "-ttl", "3s", "-timeout", "400ms"}, a.out, errOut)
		}()
		t.Cleanup(func() { cancel() })
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(a.out.String(), "announced echo at "+addr) {
			select {
			case code := <-a.done:
				t.Fatalf("announce exited %d: %s", code, errOut.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("announce did not start: %s", errOut.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
		return a
	}
	a1 := announce("127.0.0.1:7001")
	a2 := announce("127.0.0.1:7002")

	if out, errOut, code := lookup("echo"); code != 0 || out != "127.0.0.1:7001\n127.0.0.1:7002\n" {
		t.Fatalf("lookup: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if out, errOut, code := lookup("nothing"); code != 1 || out != "" || !strings.Contains(errOut, "no live service") {
		t.Fatalf("lookup of an unknown name: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// Interrupting an announcer withdraws its record.
	a1.cancel()
	if code := <-a1.done; code != 0 || !strings.Contains(a1.out.String(), "withdrew echo at 127.0.0.1:7001") {
		t.Fatalf("announce exit %d, stdout %q", code, a1.out)
	}
	if out, errOut, code := lookup("echo"); code != 0 || out != "127.0.0.1:7002\n" {
		t.Fatalf("lookup after withdrawal: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	a2.cancel()
	if code := <-a2.done; code != 0 {
		t.Fatalf("announce exit %d", code)
	}
	if out, errOut, code := lookup("echo"); code != 1 {
		t.Fatalf("lookup after both stopped: exit %d, stdout %q, stderr %q; announcer: %s", code, out, errOut, a2.out)
	}
}

func TestCommandBadArgs(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		err  string
	}{
		{"no subcommand", nil, "usage"},
		{"unknown subcommand", []string{"register"}, "unknown subcommand"},
		{"lookup without -join", []string{"lookup", "-name", "x"}, "-join"},
		{"lookup without -name", []string{"lookup", "-join", "127.0.0.1:1"}, "-name"},
		{"announce without -addr", []string{"announce", "-join", "127.0.0.1:1", "-name", "x"}, "-addr"},
		{"bad ttl", []string{"announce", "-join", "127.0.0.1:1", "-name", "x", "-addr", "a", "-ttl", "0s"}, "-ttl"},
		{"bad -join", []string{"lookup", "-join", "127.0.0.1", "-name", "x"}, "bad -join"},
		{"bad port", []string{"lookup", "-join", "127.0.0.1:0", "-name", "x"}, "bad port"},
		{"stray argument", []string{"lookup", "-join", "127.0.0.1:1", "-name", "x", "y"}, "unexpected"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run(testCtx(t), tt.args, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), tt.err) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errOut.String(), tt.err)
			}
		})
	}
}
