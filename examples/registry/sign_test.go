package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/rpcudp/go-rpcudp/kademlia"
)

// forger joins the network as a node that does not validate records
// (the signed-record validator removed), so that it sends whatever it is
// given, as a hostile or Python node would.
func forger(t *testing.T, boot netip.AddrPort) *kademlia.Node {
	t.Helper()
	ctx := testCtx(t)
	n, err := kademlia.Listen(ctx, "127.0.0.1:0", kademlia.Config{RPCTimeout: time.Second,
		Validators: map[string]kademlia.Validator{kademlia.RecordNamespace: nil}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if _, err := n.Bootstrap(ctx, []netip.AddrPort{boot}); err != nil {
		t.Fatal(err)
	}
	return n
}

// send has the forger store r (encoded) at key, bypassing every check of
// its own, and returns the error its store reports.
func send(t *testing.T, f *kademlia.Node, key kademlia.ID, r kademlia.Record) error {
	t.Helper()
	v, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return f.Set(testCtx(t), key, v)
}

// TestSignedAnnouncements: a service announced under its owner's key
// cannot be replaced or withdrawn by anybody else: another key's
// announcement under the same name is not listed, a forged record at the
// service's slot (another key's, or a bad signature) and a replay of its
// older record are refused by the holders, and a lookup still lists the
// service with its newest expiry. Only the owner withdraws it.
func TestSignedAnnouncements(t *testing.T) {
	nodes := startNetwork(t, 4)
	clock := newFakeClock()
	ctx := testCtx(t)
	pub, priv, _ := ed25519.GenerateKey(nil)
	_, evilKey, _ := ed25519.GenerateKey(nil)
	const name, addr, ttl = "echo", "127.0.0.1:7001", 30 * time.Second
	owner := newRegistry(nodes[1], registryOptions{key: priv, now: clock.Now})
	look := newRegistry(nodes[3], registryOptions{owner: pub, now: clock.Now})
	if err := owner.announce(ctx, name, addr, ttl); err != nil {
		t.Fatal(err)
	}
	slot, _ := owner.slotOf(name, addr)
	salt := []byte(slotKey(name, slot))
	key := kademlia.RecordKey(pub, salt)
	first, found, err := nodes[2].GetRecord(ctx, pub, salt, kademlia.GetOptions{SkipLocal: true})
	if err != nil || !found || first.Seq != 1 {
		t.Fatalf("the announcement: seq %d, found %v, %v", first.Seq, found, err)
	}
	clock.Advance(20 * time.Second)
	if err := owner.renewAll(ctx); err != nil {
		t.Fatal(err)
	}
	lookupIs(t, look, name, addr)

	// Another key announces the name: lookups of the owner's name do not
	// list it.
	if err := newRegistry(nodes[2], registryOptions{key: evilKey, now: clock.Now}).announce(ctx, name, "127.0.0.1:6666", ttl); err != nil {
		t.Fatal(err)
	}
	lookupIs(t, look, name, addr)

	f := forger(t, nodes[0].Addr())
	far := record{addr: "127.0.0.1:6666", expires: clock.Now().Add(time.Hour)}.encode()
	gone := record{addr: addr, expires: clock.Now()}.encode()
	foreign, _ := kademlia.NewRecord(evilKey, salt, 99, []byte(far))
	withdrawal, _ := kademlia.NewRecord(evilKey, salt, 99, []byte(gone))
	badSig := withdrawal
	badSig.PublicKey = pub
	for _, tt := range []struct {
		name string
		rec  kademlia.Record
		want error
	}{
		{"another key's record at the slot", foreign, kademlia.ErrBadRecord},
		{"another key's withdrawal at the slot", withdrawal, kademlia.ErrBadRecord},
		{"a withdrawal with a forged signature", badSig, kademlia.ErrBadSignature},
		{"a replay of the older record", first, kademlia.ErrStaleRecord},
	} {
		if err := send(t, f, key, tt.rec); !errors.Is(err, tt.want) {
			t.Errorf("%s: store error %v, want %v", tt.name, err, tt.want)
		}
	}
	// The first record's expiry has passed; the renewed one is still
	// ahead, and every honest node serves it.
	clock.Advance(15 * time.Second)
	lookupIs(t, look, name, addr)
	for i, n := range nodes {
		r, found, err := n.GetRecord(ctx, pub, salt, kademlia.GetOptions{SkipLocal: true})
		if err != nil || !found || r.Seq != 2 || r.Verify() != nil {
			t.Errorf("node %d reads seq %d (found %v, %v), want the owner's seq 2", i, r.Seq, found, err)
		}
	}

	// The owner withdraws: gone at once.
	if err := owner.withdraw(ctx, name, addr); err != nil {
		t.Fatal(err)
	}
	lookupIs(t, look, name)
}

// TestReplicasShareAKey: replicas of one service announce with the same
// key file; each takes its own slot, and a lookup lists them all.
func TestReplicasShareAKey(t *testing.T) {
	nodes := startNetwork(t, 4)
	ctx := testCtx(t)
	pub, priv, _ := ed25519.GenerateKey(nil)
	for i, addr := range []string{"127.0.0.1:7001", "127.0.0.1:7002"} {
		if err := newRegistry(nodes[i+1], registryOptions{key: priv}).announce(ctx, "db", addr, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	lookupIs(t, newRegistry(nodes[3], registryOptions{owner: pub}), "db", "127.0.0.1:7001", "127.0.0.1:7002")
	// An open-name lookup (no key) sees none of them.
	lookupIs(t, newRegistry(nodes[3], registryOptions{}), "db")
}

// TestCASRace: two replicas that read the same empty slot both try it;
// the second write loses the compare-and-swap and moves to another slot
// instead of overwriting the first.
func TestCASRace(t *testing.T) {
	dht := newMapDHT()
	_, priv, _ := ed25519.GenerateKey(nil)
	cfg := registryOptions{key: priv, slots: 2}
	a, b := newRegistry(dht, cfg), newRegistry(dht, cfg)
	ad := &announcement{name: "q", addr: "127.0.0.1:2", ttl: time.Minute}
	ad.slot = a.preferredSlot("127.0.0.1:1")
	ctx := testCtx(t)
	if err := a.announce(ctx, "q", "127.0.0.1:1", time.Minute); err != nil {
		t.Fatal(err)
	}
	// b read the slot while it was empty (expect seq 0): refused.
	if err := b.write(ctx, ad, 0, time.Now().Add(time.Minute)); !errors.Is(err, kademlia.ErrSeqConflict) {
		t.Fatalf("a write over a slot taken since the read: %v, want ErrSeqConflict", err)
	}
	if err := b.claim(ctx, ad); err != nil {
		t.Fatal(err)
	}
	if ad.slot == a.preferredSlot("127.0.0.1:1") {
		t.Fatalf("b took a's slot %d", ad.slot)
	}
	lookupIs(t, a, "q", "127.0.0.1:1", "127.0.0.1:2")
}

func TestNameTooLong(t *testing.T) {
	r := newRegistry(newMapDHT(), registryOptions{})
	long := string(make([]byte, 60))
	if err := r.announce(context.Background(), long, "a", time.Second); !errors.Is(err, errNameTooLong) {
		t.Errorf("Announce of a 60-byte name: %v, want errNameTooLong", err)
	}
	if _, err := r.lookup(context.Background(), long); !errors.Is(err, errNameTooLong) {
		t.Errorf("Lookup of a 60-byte name: %v, want errNameTooLong", err)
	}
}
