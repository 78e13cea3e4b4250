package kademlia

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/rpcudp/go-rpcudp/rpcudp/wire"
)

// testKey returns a deterministic key pair drawn from seed.
func testKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

// testRecord signs value under salt with seq by testKey(seed).
func testRecord(t testing.TB, seed byte, salt string, seq uint64, value string) Record {
	t.Helper()
	r, err := NewRecord(testKey(seed), []byte(salt), seq, []byte(value))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// encoded returns r's wire value.
func encoded(t testing.TB, r Record) Value {
	t.Helper()
	v, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// bodyOf returns the envelope body of a record value.
func bodyOf(t testing.TB, v Value) []byte {
	t.Helper()
	_, body, ok := v.Envelope()
	if !ok {
		t.Fatalf("%#v is not namespaced", v)
	}
	return bytes.Clone(body)
}

// recordValue wraps a (possibly broken) body in a record envelope.
func recordValue(t testing.TB, body []byte) Value {
	t.Helper()
	v, err := EnvelopeValue(RecordNamespace, body)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestRecordRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		salt, value string
		seq         uint64
	}{
		{"", "", 0},
		{"name", "hello", 1},
		{string(bytes.Repeat([]byte{'s'}, MaxSaltSize)), string(bytes.Repeat([]byte{0xff}, MaxRecordValueSize)), 1 << 63},
	} {
		r := testRecord(t, 1, tt.salt, tt.seq, tt.value)
		v := encoded(t, r)
		if v.Len() > MaxValueSize {
			t.Errorf("record of %d+%d bytes encodes to %d, over MaxValueSize", len(tt.salt), len(tt.value), v.Len())
		}
		got, err := DecodeRecord(v)
		if err != nil {
			t.Fatalf("DecodeRecord: %v", err)
		}
		if !bytes.Equal(got.PublicKey, r.PublicKey) || !bytes.Equal(got.Salt, r.Salt) || got.Seq != r.Seq ||
			!bytes.Equal(got.Value, r.Value) || !bytes.Equal(got.Signature, r.Signature) {
			t.Errorf("round trip: got %+v, want %+v", got, r)
		}
		if got.Key() != RecordKey(r.PublicKey, []byte(tt.salt)) {
			t.Errorf("Key = %s", got.Key())
		}
	}
}

func TestRecordLayout(t *testing.T) {
	r := testRecord(t, 2, "ab", 0x0102030405060708, "xyz")
	raw := encoded(t, r).encoded()
	p, rest, err := wire.ReadBin(raw)
	if err != nil || len(rest) != 0 {
		t.Fatalf("not one msgpack bin: %x", raw)
	}
	want := []byte("KDHT\x01\x07ed25519\x00")
	want = append(want, r.PublicKey...)
	want = append(want, 1, 2, 3, 4, 5, 6, 7, 8, 2, 'a', 'b')
	want = append(want, r.Signature...)
	want = append(want, "xyz"...)
	if !bytes.Equal(p, want) {
		t.Errorf("layout\n got %x\nwant %x", p, want)
	}
	msg := []byte("kademlia-record-v1\x00\x00\x00\x00\x02ab\x01\x02\x03\x04\x05\x06\x07\x08\x00\x00\x00\x03xyz")
	if !ed25519.Verify(r.PublicKey, msg, r.Signature) {
		t.Error("the signature does not cover the documented message")
	}
}

func TestRecordRefused(t *testing.T) {
	r := testRecord(t, 3, "salt", 7, "value")
	good := bodyOf(t, encoded(t, r))
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	for _, tt := range []struct {
		name     string
		body     []byte
		want     error
		validate error // Validate's error, if not want
	}{
		{"forged value", mutate(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), ErrBadSignature, nil},
		{"forged seq", mutate(func(b []byte) []byte { b[1+32+7]++; return b }), ErrBadSignature, nil},
		{"forged signature", mutate(func(b []byte) []byte { b[len(b)-6] ^= 0x80; return b }), ErrBadSignature, nil},
		{"other key", mutate(func(b []byte) []byte { copy(b[1:], testKey(4).Public().(ed25519.PublicKey)); return b }), ErrBadSignature, ErrBadRecord},
		{"empty", nil, ErrBadRecord, nil},
		{"truncated in the key", good[:20], ErrBadRecord, nil},
		{"truncated in the signature", good[:len(good)-len("value")-1], ErrBadRecord, nil},
		{"unknown flag", mutate(func(b []byte) []byte { b[0] = 2; return b }), ErrBadRecord, nil},
		{"CAS flag without CAS", mutate(func(b []byte) []byte { b[0] = 1; return b[:recordFixed+4] }), ErrBadRecord, nil},
		{"salt too long", mutate(func(b []byte) []byte { b[1+32+8] = MaxSaltSize + 1; return b }), ErrBadRecord, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeRecord(recordValue(t, tt.body))
			if !errors.Is(err, tt.want) {
				t.Errorf("DecodeRecord = %v, want %v", err, tt.want)
			}
			want := tt.want
			if tt.validate != nil {
				want = tt.validate // the key no longer matches: caught first
			}
			err = recordValidator{}.Validate(r.Key(), tt.body)
			if !errors.Is(err, want) {
				t.Errorf("Validate = %v, want %v", err, want)
			}
		})
	}
	if _, err := DecodeRecord(dhtValue(t, "plain")); !errors.Is(err, ErrBadRecord) {
		t.Errorf("DecodeRecord(plain) = %v, want ErrBadRecord", err)
	}
	if err := (recordValidator{}).Validate(RecordKey(r.PublicKey, []byte("other")), good); !errors.Is(err, ErrBadRecord) {
		t.Errorf("Validate at the wrong key = %v, want ErrBadRecord", err)
	}
}

func TestRecordNewRefuses(t *testing.T) {
	if _, err := NewRecord(testKey(1), make([]byte, MaxSaltSize+1), 1, nil); !errors.Is(err, ErrBadRecord) {
		t.Errorf("long salt: %v", err)
	}
	if _, err := NewRecord(testKey(1), nil, 1, make([]byte, MaxRecordValueSize+MaxSaltSize+1)); !errors.Is(err, rpcudp.ErrMessageTooLarge) {
		t.Errorf("long value: %v", err)
	}
	if _, err := NewRecord(testKey(1)[:10], nil, 1, nil); !errors.Is(err, ErrBadRecord) {
		t.Errorf("short key: %v", err)
	}
}

func TestRecordSelect(t *testing.T) {
	v := recordValidator{}
	a1, b1 := bodyOf(t, encoded(t, testRecord(t, 5, "", 1, "a"))), bodyOf(t, encoded(t, testRecord(t, 5, "", 1, "b")))
	a2 := bodyOf(t, encoded(t, testRecord(t, 5, "", 2, "a")))
	for _, tt := range []struct {
		name   string
		bodies [][]byte
		want   int
	}{
		{"highest seq", [][]byte{a1, a2, b1}, 1},
		{"highest seq first", [][]byte{a2, a1}, 0},
		{"garbage never wins", [][]byte{{1, 2, 3}, a1}, 1},
	} {
		if got, err := v.Select(ID{}, tt.bodies); err != nil || got != tt.want {
			t.Errorf("%s: Select = %d, %v; want %d", tt.name, got, err, tt.want)
		}
	}
	// Equal seqs: the same winner whatever the order.
	x, _ := v.Select(ID{}, [][]byte{a1, b1})
	y, _ := v.Select(ID{}, [][]byte{b1, a1})
	if x != 1-y {
		t.Errorf("tie broken by order: %d, %d", x, y)
	}
	if _, err := v.Select(ID{}, [][]byte{{1}}); !errors.Is(err, ErrBadRecord) {
		t.Errorf("Select(garbage) = %v", err)
	}
}

func TestRecordCASBody(t *testing.T) {
	r := testRecord(t, 6, "s", 9, "v")
	cas := uint64(8)
	body := r.appendBody(nil, &cas)
	if body[0] != recordFlagCAS || binary.BigEndian.Uint64(body[1:]) != cas {
		t.Fatalf("CAS body %x", body)
	}
	if err := (recordValidator{}).Validate(r.Key(), body); err != nil {
		t.Fatalf("Validate(CAS body) = %v", err)
	}
	got, err := DecodeRecord(recordValue(t, body))
	if err != nil || got.Seq != 9 {
		t.Fatalf("DecodeRecord(CAS body) = %+v, %v", got, err)
	}
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

// TestRecordSmallOrderKey: under a public key of small order, the
// signature (R = identity, S = 0) verifies for any message with
// crypto/ed25519, so anybody could write that key's records: every such
// key, canonical or not, either sign, is refused.
func TestRecordSmallOrderKey(t *testing.T) {
	for _, h := range []string{
		"0100000000000000000000000000000000000000000000000000000000000000", // identity
		"0100000000000000000000000000000000000000000000000000000000000080", // identity, sign bit set
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // order 2
		"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85", // order 8
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // identity, not canonical
	} {
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		pub := ed25519.PublicKey(b)
		r := Record{PublicKey: pub, Salt: []byte("s"), Seq: 99, Value: []byte("anybody's")}
		r.Signature = append([]byte{1}, make([]byte, ed25519.SignatureSize-1)...) // R = identity, S = 0
		if h[:2] == "01" && !ed25519.Verify(pub, r.signedMessage(), r.Signature) {
			t.Fatalf("%s: crypto/ed25519 refuses the trivial signature: the test's premise is gone", h)
		}
		body := r.appendBody(nil, nil)
		if err := (recordValidator{}).Validate(r.Key(), body); !errors.Is(err, ErrBadRecord) {
			t.Errorf("%s: Validate = %v, want ErrBadRecord", h, err)
		}
		if _, err := DecodeRecord(recordValue(t, body)); !errors.Is(err, ErrBadRecord) {
			t.Errorf("%s: DecodeRecord = %v, want ErrBadRecord", h, err)
		}
	}
	if smallOrder(testKey(1).Public().(ed25519.PublicKey)) {
		t.Error("a generated key counted as of small order")
	}
}
