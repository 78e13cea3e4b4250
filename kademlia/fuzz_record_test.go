package kademlia

import (
	"bytes"
	"errors"
	"testing"
)

// recordSeeds are the fuzz targets' seeds: good records (with and without
// CAS, salt, value) and broken ones.
func recordSeeds(t testing.TB) [][]byte {
	r := testRecord(t, 1, "salt", 3, "value")
	good := bodyOf(t, encoded(t, r))
	seeds := [][]byte{
		good,
		bodyOf(t, encoded(t, testRecord(t, 2, "", 0, ""))),
		bodyOf(t, casValue(t, r, 2)),
		good[:len(good)-1],
		good[:recordFixed-1],
		{},
		{1},
		{0xff},
	}
	forgedBody := bytes.Clone(good)
	forgedBody[len(forgedBody)-1] ^= 1
	return append(seeds, forgedBody)
}

// FuzzRecordDecode: the decoder never panics, refuses with ErrBadRecord or
// ErrBadSignature, and what it accepts encodes back to the same bytes
// (less a CAS).
func FuzzRecordDecode(f *testing.F) {
	for _, s := range recordSeeds(f) {
		f.Add(s)
		f.Add(append([]byte("KDHT\x01\x07ed25519"), s...))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, raw := range [][]byte{body, append([]byte("KDHT\x01\x07ed25519"), body...)} {
			v, err := EncodeValue(raw)
			if err != nil {
				t.Fatal(err)
			}
			_, _, _ = v.Envelope()
			if _, err := DecodeRecord(v); err != nil && !errors.Is(err, ErrBadRecord) && !errors.Is(err, ErrBadSignature) {
				t.Fatalf("DecodeRecord error %v wraps no sentinel", err)
			}
		}
		v, err := EnvelopeValue(RecordNamespace, body)
		if err != nil {
			return
		}
		r, err := DecodeRecord(v)
		if err != nil {
			return
		}
		again, err := r.Encode()
		if err != nil {
			t.Fatalf("Encode of a decoded record: %v", err)
		}
		rr, _, err := parseRecordBody(body)
		if err != nil || !bytes.Equal(bodyOf(t, again), rr.appendBody(nil, nil)) {
			t.Fatalf("round trip changed the record: %v", err)
		}
	})
}

// FuzzRecordValidator: Validate, Select and a node's store check never
// panic; a store admitted over a valid record never lowers its seq.
func FuzzRecordValidator(f *testing.F) {
	held := encoded(f, testRecord(f, 1, "salt", 3, "value"))
	for _, s := range recordSeeds(f) {
		f.Add(s, true)
		f.Add(s, false)
	}
	g, err := newStoreGuard(nil)
	if err != nil {
		f.Fatal(err)
	}
	key := testRecord(f, 1, "salt", 3, "value").Key()
	f.Fuzz(func(t *testing.T, body []byte, holding bool) {
		val := recordValidator{}
		valid := val.Validate(key, body) == nil
		if i, err := val.Select(key, [][]byte{bodyOf(t, held), body}); err != nil || i < 0 || i > 1 {
			t.Fatalf("Select = %d, %v", i, err)
		}
		v, err := EnvelopeValue(RecordNamespace, body)
		if err != nil {
			return
		}
		h := Value{}
		if holding {
			h = held
		}
		stored, err := g.admit(key, v, h)
		if err != nil {
			if !isRefusal(err) {
				t.Fatalf("admit refused with %v, no sentinel", err)
			}
			return
		}
		if !valid {
			t.Fatalf("admit accepted a record Validate refuses")
		}
		got, err := DecodeRecord(stored)
		if err != nil || got.Key() != key {
			t.Fatalf("admit stored an invalid record: %v", err)
		}
		if holding && got.Seq < 3 {
			t.Fatalf("admit rolled seq 3 back to %d", got.Seq)
		}
	})
}
