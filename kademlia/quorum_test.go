package kademlia

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
)

// pyHolder is a fake peer that stores and serves one value as a Python
// node does: anything, unchecked.
type pyHolder struct {
	*fakePeer
	mu sync.Mutex
	v  Value
}

func newPyHolder(t *testing.T, id ID, v Value, stores chan<- ID) *pyHolder {
	h := &pyHolder{v: v}
	h.fakePeer = newFakePeer(t, id, map[string]rpcudp.HandlerFunc{
		methodFindValue: func(context.Context, *rpcudp.Request) (any, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			return map[string]any{"value": h.v}, nil
		},
		methodStore: func(_ context.Context, req *rpcudp.Request) (any, error) {
			args, err := req.RawArgs()
			if err != nil || len(args) != 3 {
				return nil, rpcudp.ErrBadArgs
			}
			v, err := valueFromMsgpack(args[2])
			if err != nil {
				return nil, err
			}
			h.mu.Lock()
			h.v = v
			h.mu.Unlock()
			stores <- id
			return true, nil
		},
	})
	return h
}

func (h *pyHolder) value() Value {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.v
}

// TestQuorumReadRepairsStale: holders answer the newest record, stale
// ones and a forged one; a quorum read returns the newest, counts the
// others and writes it back to each of their holders.
func TestQuorumReadRepairsStale(t *testing.T) {
	ctx := dhtCtx(t)
	r1, r2 := testRecord(t, 9, "name", 1, "old"), testRecord(t, 9, "name", 2, "new")
	planted := []Value{encoded(t, r2), encoded(t, r2), encoded(t, r1), encoded(t, r1),
		forged(t, testRecord(t, 9, "name", 3, "forged"))}
	stats := make(chan LookupStats, 16)
	reader := newDHTNode(t, Config{OnLookup: func(s LookupStats) { stats <- s }})
	stores := make(chan ID, len(planted))
	var holders []*pyHolder
	for i, v := range planted {
		h := newPyHolder(t, xorID(ID{}, byte(i+1)), v, stores)
		holders = append(holders, h)
		reader.rt.addFound(h.contact())
	}
	got, found, err := reader.GetRecord(ctx, r2.PublicKey, r2.Salt, GetOptions{Quorum: len(planted)})
	if err != nil || !found || got.Seq != 2 || string(got.Value) != "new" {
		t.Fatalf("GetRecord = %+v, %v, %v; want seq 2", got, found, err)
	}
	if s := <-stats; s.Invalid != 1 || s.Stale != 2 || s.RPCs != len(planted) {
		t.Errorf("lookup stats: %d invalid, %d stale, %d RPCs; want 1, 2, %d", s.Invalid, s.Stale, s.RPCs, len(planted))
	}
	if m := reader.Metrics().ValueLookups; m.Invalid != 1 || m.Stale != 2 {
		t.Errorf("Metrics().ValueLookups: %d invalid, %d stale; want 1, 2", m.Invalid, m.Stale)
	}
	repaired := map[ID]bool{}
	for range 3 {
		repaired[waitFor(t, ctx, stores, "a read repair store")] = true
	}
	for i, h := range holders {
		if !h.value().Equal(encoded(t, r2)) {
			t.Errorf("holder %d holds %v after the read repair", i, h.value())
		}
		if repaired[h.id] != (i >= 2) {
			t.Errorf("holder %d: repaired %v", i, repaired[h.id])
		}
	}
}

// TestQuorumPutRecordCAS: two writers of one key; a compare-and-swap on
// a seq that is no longer the newest fails with ErrSeqConflict, whether
// the writer's own copy or a remote holder refuses it.
func TestQuorumPutRecordCAS(t *testing.T) {
	ctx := dhtCtx(t)
	nodes := dhtNetwork(t, 4, Config{})
	priv, salt := testKey(10), []byte("counter")
	r, err := nodes[1].PutRecord(ctx, priv, salt, []byte("one"), PutRecordOptions{})
	if err != nil || r.Seq != 1 {
		t.Fatalf("first PutRecord = seq %d, %v", r.Seq, err)
	}
	r, err = nodes[2].PutRecord(ctx, priv, salt, []byte("two"), PutRecordOptions{})
	if err != nil || r.Seq != 2 {
		t.Fatalf("second PutRecord = seq %d, %v; want seq 2 (one more than found)", r.Seq, err)
	}
	one := uint64(1)
	if _, err := nodes[1].PutRecord(ctx, priv, salt, []byte("late"), PutRecordOptions{ExpectSeq: &one}); !errors.Is(err, ErrSeqConflict) {
		t.Errorf("CAS on seq 1, refused locally: %v, want ErrSeqConflict", err)
	}
	key := RecordKey(priv.Public().(ed25519.PublicKey), salt)
	if err := nodes[3].storage.Delete(key); err != nil {
		t.Fatal(err)
	}
	_, err = nodes[3].PutRecord(ctx, priv, salt, []byte("late"), PutRecordOptions{ExpectSeq: &one})
	var rerr *rpcudp.RemoteError
	if !errors.Is(err, ErrSeqConflict) || !errors.As(err, &rerr) {
		t.Errorf("CAS on seq 1, refused by holders: %v, want ErrSeqConflict in an error reply", err)
	}
	two := uint64(2)
	if r, err := nodes[0].PutRecord(ctx, priv, salt, []byte("three"), PutRecordOptions{ExpectSeq: &two}); err != nil || r.Seq != 3 {
		t.Errorf("CAS on seq 2 = seq %d, %v", r.Seq, err)
	}
	for i, n := range nodes {
		got, found, err := n.GetRecord(ctx, priv.Public().(ed25519.PublicKey), salt, GetOptions{SkipLocal: true})
		if err != nil || !found || got.Seq != 3 || string(got.Value) != "three" {
			t.Errorf("node %d: GetRecord = %+v, %v, %v; want seq 3", i, got, found, err)
		}
	}
	if _, err := nodes[0].PutRecord(ctx, priv, salt, []byte("old"), PutRecordOptions{Seq: 2}); !errors.Is(err, ErrStaleRecord) {
		t.Errorf("explicit seq 2 under seq 3: %v, want ErrStaleRecord", err)
	}
}

// TestQuorumGetPlain: plain values keep Python's rule by default (the first
// value ends the lookup); with a quorum, the most common of the copies
// wins and nobody is repaired.
func TestQuorumGetPlain(t *testing.T) {
	ctx := dhtCtx(t)
	var peers []*fakePeer
	stores := make(chan string, 8)
	for i, v := range []string{"minority", "majority", "majority"} {
		peers = append(peers, newFakePeer(t, xorID(ID{}, byte(i+1)), map[string]rpcudp.HandlerFunc{
			methodFindValue: answer(map[string]any{"value": v}),
			methodStore: func(context.Context, *rpcudp.Request) (any, error) {
				stores <- v
				return true, nil
			},
		}))
	}
	n := newDHTNode(t, Config{})
	for _, p := range peers {
		n.rt.addFound(p.contact())
	}
	v, found, err := n.Get(ctx, "k", GetOptions{Quorum: 3})
	if err != nil || !found || v.String() != "majority" {
		t.Errorf("Get with a quorum = %v, %v, %v; want the majority", v, found, err)
	}
	select {
	case s := <-stores:
		t.Errorf("a plain read repaired %q", s)
	default:
	}
}

// TestQuorumLiarsOnThePath: liars far from the key answer stale copies at
// once; the read still goes on to the holders closest to the key, which
// an honest node on the path names, and returns their newer record.
func TestQuorumLiarsOnThePath(t *testing.T) {
	ctx := dhtCtx(t)
	r1, r2 := testRecord(t, 11, "", 1, "old"), testRecord(t, 11, "", 2, "new")
	key := r1.Key()
	stores := make(chan ID, 16)
	var holders []any
	for i := range 3 {
		h := newPyHolder(t, xorID(key, byte(i+1)), encoded(t, r2), stores)
		holders = append(holders, contactTriple(h.contact()))
	}
	// The relay answers 20 ms late (a farther peer; still well inside
	// what the lookup's pace accepts): the liars' stale copies come first.
	relay := newFakePeer(t, xorID(key, 0x10, 0, 0), map[string]rpcudp.HandlerFunc{
		methodFindValue: func(ctx context.Context, _ *rpcudp.Request) (any, error) {
			select {
			case <-time.After(20 * time.Millisecond):
			case <-ctx.Done():
			}
			return holders, nil
		},
	})
	reader := newDHTNode(t, Config{})
	reader.rt.addFound(relay.contact())
	for i := range 3 {
		liar := newPyHolder(t, xorID(key, 0x20, 0, 0, byte(i)), encoded(t, r1), stores)
		reader.rt.addFound(liar.contact())
	}
	got, found, err := reader.GetRecord(ctx, r2.PublicKey, nil, GetOptions{})
	if err != nil || !found || got.Seq != 2 {
		t.Errorf("GetRecord = seq %d, %v, %v; want seq 2 from the holders", got.Seq, found, err)
	}
}

// TestQuorumRefusalMustBeBacked: a peer among the closest answers every
// store with an error reply claiming a CAS conflict or a newer record, but
// holds nothing newer: a writer that believed it would fail every put. The
// refusal counts only when the refuser serves a valid value that refuses
// the put the same way (TestQuorumPutRecordCAS has the genuine ones).
func TestQuorumRefusalMustBeBacked(t *testing.T) {
	priv, salt := testKey(12), []byte("liar")
	old := testRecord(t, 12, "liar", 1, "one")
	one := uint64(1)
	for _, tc := range []struct {
		name   string
		claim  error
		serves any // the liar's find_value answer
		opts   PutRecordOptions
	}{
		{"stale, holds nothing", ErrStaleRecord, []any{}, PutRecordOptions{}},
		{"stale, holds an older record", ErrStaleRecord, map[string]any{"value": encoded(t, old)}, PutRecordOptions{Seq: 2}},
		{"CAS conflict, holds the expected seq", ErrSeqConflict, map[string]any{"value": encoded(t, old)}, PutRecordOptions{ExpectSeq: &one}},
		{"CAS conflict, holds a forgery", ErrSeqConflict, map[string]any{"value": forged(t, testRecord(t, 12, "liar", 9, "x"))}, PutRecordOptions{ExpectSeq: &one}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := dhtCtx(t)
			nodes := dhtNetwork(t, 3, Config{})
			liar := newFakePeer(t, RecordKey(priv.Public().(ed25519.PublicKey), salt), map[string]rpcudp.HandlerFunc{
				methodFindNode:  answer([]any{}),
				methodFindValue: answer(tc.serves),
				methodStore: func(context.Context, *rpcudp.Request) (any, error) {
					return nil, fmt.Errorf("store: %w: trust me", tc.claim)
				},
			})
			alone := newDHTNode(t, Config{})
			alone.rt.addFound(liar.contact())
			if _, err := alone.PutRecord(ctx, priv, salt, []byte("two"), tc.opts); !errors.Is(err, ErrStoreFailed) ||
				errors.Is(err, tc.claim) {
				t.Errorf("PutRecord with the liar alone: %v, want ErrStoreFailed, not %v", err, tc.claim)
			}
			nodes[1].rt.addFound(liar.contact())
			r, err := nodes[1].PutRecord(ctx, priv, salt, []byte("two"), tc.opts)
			if err != nil {
				t.Fatalf("PutRecord refused by a liar alone: %v", err)
			}
			got, found, err := nodes[2].GetRecord(ctx, r.PublicKey, salt, GetOptions{})
			if err != nil || !found || got.Seq != r.Seq {
				t.Errorf("GetRecord = seq %d, %v, %v; want seq %d", got.Seq, found, err, r.Seq)
			}
		})
	}
}

// TestQuorumPutRecordReadMissed: the read that chooses a put's seq misses
// the newest record (its holder's answers to both of the read's lookups
// are lost), so the put goes out one too low and that holder refuses it;
// the holder shows its record, and PutRecord tries once more, one higher,
// instead of failing.
func TestQuorumPutRecordReadMissed(t *testing.T) {
	ctx := dhtCtx(t)
	priv, salt := testKey(13), []byte("missed")
	newest := testRecord(t, 13, "missed", 5, "five")
	var reads atomic.Int32
	nodes := dhtNetwork(t, 3, Config{})
	holder := newFakePeer(t, newest.Key(), map[string]rpcudp.HandlerFunc{
		methodFindNode: answer([]any{}),
		methodFindValue: func(context.Context, *rpcudp.Request) (any, error) {
			if reads.Add(1) <= 2 { // both lookups of the read
				return []any{}, nil
			}
			return map[string]any{"value": encoded(t, newest)}, nil
		},
		methodStore: func(_ context.Context, req *rpcudp.Request) (any, error) {
			args, err := req.RawArgs()
			if err != nil || len(args) != 3 {
				return nil, rpcudp.ErrBadArgs
			}
			v, err := valueFromMsgpack(args[2])
			if err != nil {
				return nil, err
			}
			if r, err := DecodeRecord(v); err != nil || r.Seq <= newest.Seq {
				return nil, fmt.Errorf("store: %w", ErrStaleRecord)
			}
			return true, nil
		},
	})
	nodes[1].rt.addFound(holder.contact())
	r, err := nodes[1].PutRecord(ctx, priv, salt, []byte("six"), PutRecordOptions{})
	if err != nil || r.Seq != newest.Seq+1 {
		t.Fatalf("PutRecord = seq %d, %v; want seq %d", r.Seq, err, newest.Seq+1)
	}
}
