package kademlia

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net/netip"
	"path/filepath"
	"testing"
)

// TestNodeMethodsAfterClose: every Node method that returns an error
// returns ErrNodeClosed after Close (Get used to return the storage's
// "storage closed").
func TestNodeMethodsAfterClose(t *testing.T) {
	nodes := dhtNetwork(t, 2, Config{})
	ctx := dhtCtx(t)
	n := nodes[0]
	if err := n.Set(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	n.Close()
	priv := testKey(1)
	pub := priv.Public().(ed25519.PublicKey)
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"Get", func() error { _, _, err := n.Get(ctx, "k"); return err }},
		{"Get SkipLocal", func() error { _, _, err := n.Get(ctx, "k", GetOptions{SkipLocal: true}); return err }},
		{"Set", func() error { return n.Set(ctx, "k", "v") }},
		{"GetRecord", func() error { _, _, err := n.GetRecord(ctx, pub, nil); return err }},
		{"PutRecord", func() error { _, err := n.PutRecord(ctx, priv, nil, []byte("x")); return err }},
		{"PutRecord Seq", func() error { _, err := n.PutRecord(ctx, priv, nil, []byte("x"), PutRecordOptions{Seq: 3}); return err }},
		{"Bootstrap", func() error { _, err := n.Bootstrap(ctx, []netip.AddrPort{nodes[1].Addr()}); return err }},
		{"Stun", func() error { _, err := n.Stun(ctx, nodes[1].Addr()); return err }},
		{"SaveState", func() error { return n.SaveState(filepath.Join(t.TempDir(), "s.json"), 0) }},
	} {
		if err := tc.call(); !errors.Is(err, ErrNodeClosed) {
			t.Errorf("%s after Close: %v, want ErrNodeClosed", tc.name, err)
		}
	}
}

// TestNodeNilContext: a nil context means context.Background() (Get
// used to panic on it).
func TestNodeNilContext(t *testing.T) {
	nodes := dhtNetwork(t, 2, Config{})
	var nilCtx context.Context
	if err := nodes[0].Set(nilCtx, "k", "v"); err != nil {
		t.Fatalf("Set(nil ctx): %v", err)
	}
	for _, o := range []GetOptions{{}, {SkipLocal: true}} {
		v, found, err := nodes[1].Get(nilCtx, "k", o)
		if err != nil || !found || v.String() != "v" {
			t.Errorf("Get(nil ctx, %+v) = %v, %v, %v", o, v, found, err)
		}
	}
	if _, _, err := nodes[1].Get(context.Background(), "k", GetOptions{}, GetOptions{}); err == nil {
		t.Error("Get with two GetOptions: no error")
	}
}

// TestPutRecordExpectSeqGuarantee pins what the compare-and-swap
// guarantees (PutRecordOptions.ExpectSeq): a holder newer than ExpectSeq
// refuses; one at it or behind it, even far behind, takes the write.
func TestPutRecordExpectSeqGuarantee(t *testing.T) {
	nodes := dhtNetwork(t, 3, Config{})
	ctx := dhtCtx(t)
	priv, salt := testKey(7), []byte("cas")
	if r, err := nodes[0].PutRecord(ctx, priv, salt, []byte("one")); err != nil || r.Seq != 1 {
		t.Fatalf("first put: %+v, %v", r, err)
	}
	five := uint64(5)
	r, err := nodes[1].PutRecord(ctx, priv, salt, []byte("six"), PutRecordOptions{ExpectSeq: &five})
	if err != nil || r.Seq != 6 {
		t.Fatalf("ExpectSeq 5 over seq 1 = %+v, %v; want seq 6 stored (holders behind take it)", r, err)
	}
	one := uint64(1)
	if _, err := nodes[2].PutRecord(ctx, priv, salt, []byte("stale"), PutRecordOptions{ExpectSeq: &one}); !errors.Is(err, ErrSeqConflict) {
		t.Fatalf("ExpectSeq 1 under seq 6: %v, want ErrSeqConflict", err)
	}
	got, found, err := nodes[2].GetRecord(ctx, priv.Public().(ed25519.PublicKey), salt)
	if err != nil || !found || got.Seq != 6 || string(got.Value) != "six" {
		t.Fatalf("GetRecord = %+v, %v, %v; want seq 6", got, found, err)
	}
}
