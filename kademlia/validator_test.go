package kademlia

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"testing"

	"github.com/rpcudp/go-rpcudp/rpcudp"
)

// counterValidator is an application validator for tests: a body is a
// decimal number, valid when even; the highest wins.
type counterValidator struct{}

func (counterValidator) Validate(_ ID, body []byte) error {
	n, err := strconv.Atoi(string(body))
	if err != nil || n%2 != 0 {
		return fmt.Errorf("not an even number: %q", body)
	}
	return nil
}

func (counterValidator) Select(_ ID, bodies [][]byte) (int, error) {
	best, bestN := 0, -1
	for i, b := range bodies {
		if n, err := strconv.Atoi(string(b)); err == nil && n > bestN {
			best, bestN = i, n
		}
	}
	return best, nil
}

func counterValue(t testing.TB, n int) Value {
	t.Helper()
	v, err := EnvelopeValue("counter", []byte(strconv.Itoa(n)))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// casValue is r's wire value carrying the compare-and-swap cas.
func casValue(t testing.TB, r Record, cas uint64) Value {
	t.Helper()
	return recordValue(t, r.appendBody(nil, &cas))
}

func TestValidatorAdmit(t *testing.T) {
	g, err := newStoreGuard(map[string]Validator{"counter": counterValidator{}})
	if err != nil {
		t.Fatal(err)
	}
	r5, r6 := testRecord(t, 1, "s", 5, "five"), testRecord(t, 1, "s", 6, "six")
	r6b := testRecord(t, 1, "s", 6, "six bis")
	key := r5.Key()
	v5, v6 := encoded(t, r5), encoded(t, r6)
	plain := dhtValue(t, "plain")
	other, _ := EnvelopeValue("unknown-namespace", []byte("x"))
	for _, tt := range []struct {
		name     string
		key      ID
		v, held  Value
		want     error
		stored   Value // zero: v itself
		ignoreSt bool
	}{
		{name: "plain over nothing", key: key, v: plain},
		{name: "plain over plain", key: key, v: plain, held: dhtValue(t, 1)},
		{name: "unknown namespace is plain", key: key, v: other, held: plain},
		{name: "record over nothing", key: key, v: v5},
		{name: "record over plain", key: key, v: v5, held: plain},
		{name: "newer record", key: key, v: v6, held: v5},
		{name: "same record again", key: key, v: v5, held: v5},
		{name: "rollback", key: key, v: v5, held: v6, want: ErrStaleRecord},
		{name: "same seq, lesser body", key: key, v: lesser(t, r6, r6b), held: greater(t, r6, r6b), want: ErrStaleRecord},
		{name: "plain over record", key: key, v: plain, held: v5, want: ErrBadRecord},
		{name: "other namespace over record", key: key, v: counterValue(t, 2), held: v5, want: ErrBadRecord},
		{name: "record at the wrong key", key: RandomID(), v: v5, want: ErrBadRecord},
		{name: "forged record", key: key, v: forged(t, r6), held: v5, want: ErrBadSignature},
		{name: "truncated record", key: key, v: recordValue(t, bodyOf(t, v6)[:40]), want: ErrBadRecord},
		{name: "malformed envelope", key: key, v: dhtValue(t, []byte("KDHT\x01\x09ed25519")), want: ErrBadRecord},
		{name: "CAS matches", key: key, v: casValue(t, r6, 5), held: v5, stored: v6},
		{name: "CAS conflict", key: key, v: casValue(t, r6, 4), held: v5, want: ErrSeqConflict},
		{name: "CAS same record retried", key: key, v: casValue(t, r6, 5), held: v6, stored: v6},
		{name: "CAS over a competing write", key: key, v: casValue(t, r6b, 5), held: v6, want: ErrSeqConflict},
		{name: "CAS from a holder behind", key: key, v: casValue(t, r6, 5), held: encoded(t, testRecord(t, 1, "s", 2, "two")), stored: v6},
		{name: "CAS over nothing", key: key, v: casValue(t, r6, 5), stored: v6},
		{name: "app value", key: key, v: counterValue(t, 4), held: counterValue(t, 2)},
		{name: "app invalid", key: key, v: counterValue(t, 3), want: ErrBadRecord},
		{name: "app lesser", key: key, v: counterValue(t, 2), held: counterValue(t, 4), want: ErrStaleRecord},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := g.admit(tt.key, tt.v, tt.held)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("admit = %v, want %v", err, tt.want)
			}
			want := tt.stored
			if want.IsZero() {
				want = tt.v
			}
			if err == nil && !got.Equal(want) {
				t.Errorf("admit stores %#v, want %#v", got, want)
			}
		})
	}
}

// lesser and greater order two records of one seq as Select does.
func lesser(t testing.TB, a, b Record) Value {
	if i, _ := (recordValidator{}).Select(ID{}, [][]byte{bodyOf(t, encoded(t, a)), bodyOf(t, encoded(t, b))}); i == 1 {
		return encoded(t, a)
	}
	return encoded(t, b)
}

func greater(t testing.TB, a, b Record) Value {
	if lesser(t, a, b).Equal(encoded(t, a)) {
		return encoded(t, b)
	}
	return encoded(t, a)
}

// forged returns r with its value changed and its signature kept.
func forged(t testing.TB, r Record) Value {
	r.Value = append(bytes.Clone(r.Value), '!')
	return encoded(t, r)
}

func TestValidatorConfig(t *testing.T) {
	g, err := newStoreGuard(map[string]Validator{RecordNamespace: nil})
	if err != nil {
		t.Fatal(err)
	}
	r := testRecord(t, 1, "", 1, "x")
	// Without the default validator, a record is a plain value.
	if _, err := g.admit(RandomID(), encoded(t, r), Value{}); err != nil {
		t.Errorf("records removed: admit = %v", err)
	}
	if _, err := (Config{Validators: map[string]Validator{"bad name": counterValidator{}}}).withDefaults(); !errors.Is(err, ErrBadConfig) {
		t.Errorf("bad namespace: %v", err)
	}
	if _, err := (Config{Quorum: maxK + 1}).withDefaults(); !errors.Is(err, ErrBadConfig) {
		t.Errorf("Quorum over maxK: %v", err)
	}
}

// TestValidatorHolderRefuses: a Go holder refuses forged, misplaced,
// truncated, rolled-back and conflicting records; the Go writer gets the
// sentinel back, a raw (Python-like) writer an error reply; nothing is
// stored.
func TestValidatorHolderRefuses(t *testing.T) {
	ctx := dhtCtx(t)
	holder := newDHTNode(t, Config{})
	writer := newDHTNode(t, Config{})
	r5, r6 := testRecord(t, 7, "name", 5, "five"), testRecord(t, 7, "name", 6, "six")
	key := r5.Key()
	hc := Contact{ID: holder.ID(), Addr: holder.Addr()}
	for _, tt := range []struct {
		name string
		key  ID
		v    Value
		want error
	}{
		{"forged signature", key, forged(t, r6), ErrBadSignature},
		{"wrong key", RecordKey(r6.PublicKey, []byte("other")), encoded(t, r6), ErrBadRecord},
		{"truncated record", key, recordValue(t, bodyOf(t, encoded(t, r6))[:recordFixed]), ErrBadRecord},
		{"seq rollback", key, encoded(t, testRecord(t, 7, "name", 4, "four")), ErrStaleRecord},
		{"CAS conflict", key, casValue(t, r6, 4), ErrSeqConflict},
		{"plain over a record", key, dhtValue(t, "plain"), ErrBadRecord},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := holder.storage.Put(key, encoded(t, r5), PutOptions{}); err != nil {
				t.Fatal(err)
			}
			before, _, _ := holder.storage.Get(tt.key)
			err := writer.callStore(ctx, hc, tt.key, tt.v)
			if !errors.Is(err, tt.want) {
				t.Fatalf("store = %v, want %v", err, tt.want)
			}
			var rerr *rpcudp.RemoteError
			if !errors.As(err, &rerr) {
				t.Errorf("store = %v, want an error reply", err)
			} else if rerr.Code < 100 || rerr.Code > 199 {
				// The sentinel crossed the wire by its code (issue 19),
				// not by the message's text.
				t.Errorf("error reply code %d, want kademlia's (100-199)", rerr.Code)
			}
			if after, _, _ := holder.storage.Get(tt.key); !after.Equal(before) {
				t.Errorf("holder now has %#v, had %#v", after, before)
			}
			// A peer that is not a Go node sees an error reply too.
			_, err = writer.Endpoint().Call(ctx, holder.Addr(), methodStore, writer.ID().Bytes(), tt.key[:], tt.v)
			if !errors.As(err, &rerr) {
				t.Errorf("raw store = %v, want an error reply", err)
			}
		})
	}
	// Each case was refused twice (a Go writer, a raw one).
	if got, want := holder.Metrics().Refused, (RefusedMetrics{BadRecord: 6, BadSignature: 2, Stale: 2, SeqConflict: 2}); got != want {
		t.Errorf("holder's Metrics().Refused = %+v, want %+v", got, want)
	}
	// The holder still answers seq 5.
	got, found, err := writer.GetRecord(ctx, r5.PublicKey, r5.Salt, GetOptions{})
	if err != nil || !found || got.Seq != 5 {
		t.Errorf("GetRecord = seq %d, %v, %v; want seq 5", got.Seq, found, err)
	}
}

// TestValidatorRepublishNeverRollsBack: a node republishing an old copy
// neither overwrites a holder's newer record nor its own.
func TestValidatorRepublishNeverRollsBack(t *testing.T) {
	ctx := dhtCtx(t)
	nodes := dhtNetwork(t, 3, Config{})
	r1, r2 := testRecord(t, 8, "", 1, "old"), testRecord(t, 8, "", 2, "new")
	key := r1.Key()
	if err := nodes[0].storage.Put(key, encoded(t, r1), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes[1:] {
		if err := n.storage.Put(key, encoded(t, r2), PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	items, err := nodes[0].storage.OlderThan(0)
	if err != nil {
		t.Fatal(err)
	}
	nodes[0].republish(ctx, items, PutOptions{KeepExpiry: true}, false)
	err = nodes[0].setDigest(ctx, key, encoded(t, r1), PutOptions{KeepExpiry: true})
	if !errors.Is(err, ErrStaleRecord) {
		t.Errorf("republishing seq 1 over seq 2: %v, want ErrStaleRecord", err)
	}
	for i, n := range nodes[1:] {
		if v, _, _ := n.storage.Get(key); !v.Equal(encoded(t, r2)) {
			t.Errorf("node %d rolled back to %v", i+1, v)
		}
	}
	// The refused republisher has read the newer record meanwhile.
	if v, _, _ := nodes[0].storage.Get(key); !v.Equal(encoded(t, r2)) {
		t.Errorf("the republisher still holds %v", v)
	}
	// Our own newer copy is not replaced by a late republish of the old.
	if err := nodes[1].setDigest(ctx, key, encoded(t, r1), PutOptions{KeepExpiry: true}); !errors.Is(err, ErrStaleRecord) {
		t.Errorf("local rollback: %v, want ErrStaleRecord", err)
	}
}

// TestValidatorAppNamespace: an application validator registered in
// Config checks stores and chooses among copies.
func TestValidatorAppNamespace(t *testing.T) {
	ctx := dhtCtx(t)
	nodes := dhtNetwork(t, 4, Config{Validators: map[string]Validator{"counter": counterValidator{}}})
	if err := nodes[1].Set(ctx, "hits", counterValue(t, 4)); err != nil {
		t.Fatal(err)
	}
	if err := nodes[2].Set(ctx, "hits", counterValue(t, 3)); !errors.Is(err, ErrBadRecord) {
		t.Errorf("odd counter: %v, want ErrBadRecord", err)
	}
	if err := nodes[2].Set(ctx, "hits", counterValue(t, 2)); !errors.Is(err, ErrStaleRecord) {
		t.Errorf("lesser counter: %v, want ErrStaleRecord", err)
	}
	v, found, err := nodes[3].Get(ctx, "hits", GetOptions{SkipLocal: true, Quorum: 3})
	if err != nil || !found || !v.Equal(counterValue(t, 4)) {
		t.Errorf("Get = %v, %v, %v; want counter 4", v, found, err)
	}
}

// TestValidatorOriginalSuperseded: a node published seq 1 (its Original,
// republished every 24 h); another writer of the same key publishes seq 2
// at nodes that do not include the first one. The first node's 24-hour
// republish of seq 1 is refused by the holders of seq 2, which show it;
// the first node then keeps seq 2, no longer as its original, and nobody
// is rolled back.
func TestValidatorOriginalSuperseded(t *testing.T) {
	ctx := dhtCtx(t)
	nodes := dhtNetwork(t, 3, Config{})
	priv, salt := testKey(14), []byte("two writers")
	if _, err := nodes[1].PutRecord(ctx, priv, salt, []byte("one"), PutRecordOptions{}); err != nil {
		t.Fatal(err)
	}
	r2, err := NewRecord(priv, salt, 2, []byte("two"))
	if err != nil {
		t.Fatal(err)
	}
	if err := nodes[0].putChecked(r2.Key(), encoded(t, r2), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	nodes[1].republishOriginals(ctx)
	for i, n := range nodes[:2] {
		if v, _, _ := n.storage.Get(r2.Key()); !v.Equal(encoded(t, r2)) {
			t.Errorf("node %d holds %v, want seq 2", i, v)
		}
	}
	originals, err := nodes[1].storage.Originals()
	if err != nil || len(originals) != 0 {
		t.Errorf("the first writer's originals: %d, %v; want none", len(originals), err)
	}
	if m := nodes[1].Metrics().Republish; m.Failed != 1 {
		t.Errorf("republish metrics %+v, want the refused one failed", m)
	}
}
