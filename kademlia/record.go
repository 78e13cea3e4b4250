package kademlia

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/rpcudp/go-rpcudp/rpcudp"
)

// Signed records (BEP 44's mutable items, on Python's wire): an ed25519
// key pair, an optional salt, a sequence number and a value, signed, at the
// key SHA-1(public key || salt). Their exact layout is in PROTOCOL.md
// ("Signed records"); recordValidator (validator.go) checks them.

// RecordNamespace is the envelope namespace of signed records, validated
// by default.
const RecordNamespace = "ed25519"

// MaxSaltSize is the largest Record.Salt, in bytes (as BEP 44).
const MaxSaltSize = 64

// Sizes of a record's fixed fields and of its envelope.
const (
	recordFixed    = 1 + ed25519.PublicKeySize + 8 + 1 + ed25519.SignatureSize // flags, key, seq, salt length, signature
	recordCASSize  = 8
	recordEnvelope = len(envelopeMagic) + 1 + 1 + len(RecordNamespace)
	binHeaderMax   = 3 // a bin 16 header: every value that fits a store
)

// MaxRecordValueSize (7946) is the largest Record.Value that fits a store
// with a salt of MaxSaltSize bytes and a compare-and-swap (every byte of
// salt less leaves one more for the value).
const MaxRecordValueSize = 7946

// The number MaxRecordValueSize shows is the sum of the layout's parts.
const _ = -uint(MaxRecordValueSize ^ (MaxValueSize - binHeaderMax - recordEnvelope - recordFixed - recordCASSize - MaxSaltSize))

// recordDomain prefixes every signed message (domain separation: a record
// signature cannot be replayed as a signature over anything else).
const recordDomain = "kademlia-record-v1\x00"

// recordFlagCAS marks a body carrying the seq its writer expects to
// replace.
const recordFlagCAS = 1

// Errors about records (wrapped with detail; test with errors.Is). A Go
// writer gets them back from the Go holders that refuse its store.
var (
	// ErrBadRecord: a record is malformed or not at its key, or a value
	// of another kind would replace a validated one.
	ErrBadRecord = errors.New("kademlia: bad record")
	// ErrBadSignature: a record's signature does not verify.
	ErrBadSignature = errors.New("kademlia: bad record signature")
	// ErrStaleRecord: the holder keeps (or kept) a newer record.
	ErrStaleRecord = errors.New("kademlia: stale record")
	// ErrSeqConflict: a holder's record is newer than ExpectSeq.
	ErrSeqConflict = errors.New("kademlia: record seq conflict")
)

// Record is a signed, versioned value: the newest (highest Seq) record of
// a key pair and salt replaces older ones at every Go node, and nobody
// without the private key can make one.
type Record struct {
	// PublicKey is the writer's; Salt (0 to MaxSaltSize bytes) tells
	// apart its records; Seq orders those of one salt (higher wins);
	// Signature signs salt, seq and Value.
	PublicKey        ed25519.PublicKey
	Salt             []byte
	Seq              uint64
	Value, Signature []byte
}

// RecordKey returns the key digest under which the record of pub and salt
// is stored: SHA-1 of the public key followed by the salt.
func RecordKey(pub ed25519.PublicKey, salt []byte) ID {
	h := sha1.New()
	h.Write(pub)
	h.Write(salt)
	return ID(h.Sum(nil))
}

// NewRecord signs value under salt with seq and priv (a salt over
// MaxSaltSize is ErrBadRecord, a value too large rpcudp.ErrMessageTooLarge).
func NewRecord(priv ed25519.PrivateKey, salt []byte, seq uint64, value []byte) (Record, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return Record{}, fmt.Errorf("%w: private key of %d bytes, want %d", ErrBadRecord, len(priv), ed25519.PrivateKeySize)
	}
	r := Record{
		PublicKey: priv.Public().(ed25519.PublicKey),
		Salt:      bytes.Clone(salt),
		Seq:       seq,
		Value:     bytes.Clone(value),
	}
	if err := r.checkSizes(); err != nil {
		return Record{}, err
	}
	r.Signature = ed25519.Sign(priv, r.signedMessage())
	return r, nil
}

// Key returns the record's key digest, RecordKey(r.PublicKey, r.Salt).
func (r Record) Key() ID { return RecordKey(r.PublicKey, r.Salt) }

// Verify checks the record's sizes (ErrBadRecord) and signature
// (ErrBadSignature).
func (r Record) Verify() error {
	if err := r.checkSizes(); err != nil {
		return err
	}
	if len(r.Signature) != ed25519.SignatureSize {
		return fmt.Errorf("%w: signature of %d bytes, want %d", ErrBadRecord, len(r.Signature), ed25519.SignatureSize)
	}
	if !ed25519.Verify(r.PublicKey, r.signedMessage(), r.Signature) {
		return fmt.Errorf("%w: record seq %d of %x", ErrBadSignature, r.Seq, []byte(r.PublicKey))
	}
	return nil
}

// checkSizes checks the lengths of the key, salt and value, and that the
// key is not one of the small-order points.
func (r Record) checkSizes() error {
	switch {
	case len(r.PublicKey) != ed25519.PublicKeySize:
		return fmt.Errorf("%w: public key of %d bytes, want %d", ErrBadRecord, len(r.PublicKey), ed25519.PublicKeySize)
	case smallOrder(r.PublicKey):
		return fmt.Errorf("%w: public key %x is of small order: anyone can sign for it", ErrBadRecord, []byte(r.PublicKey))
	case len(r.Salt) > MaxSaltSize:
		return fmt.Errorf("%w: salt of %d bytes, at most %d", ErrBadRecord, len(r.Salt), MaxSaltSize)
	case len(r.Value) > MaxRecordValueSize+MaxSaltSize-len(r.Salt):
		return fmt.Errorf("kademlia: record: %w: value of %d bytes, at most %d with this salt",
			rpcudp.ErrMessageTooLarge, len(r.Value), MaxRecordValueSize+MaxSaltSize-len(r.Salt))
	}
	return nil
}

// signedMessage is what the signature covers: the domain prefix, then
// the salt, seq and value, each length-prefixed or fixed-size.
func (r Record) signedMessage() []byte {
	b := make([]byte, 0, len(recordDomain)+4+len(r.Salt)+8+4+len(r.Value))
	b = append(b, recordDomain...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Salt)))
	b = append(b, r.Salt...)
	b = binary.BigEndian.AppendUint64(b, r.Seq)
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Value)))
	return append(b, r.Value...)
}

// Encode returns the record as the value stored in the DHT.
func (r Record) Encode() (Value, error) {
	if err := r.checkSizes(); err != nil {
		return Value{}, err
	}
	if len(r.Signature) != ed25519.SignatureSize {
		return Value{}, fmt.Errorf("%w: signature of %d bytes, want %d", ErrBadRecord, len(r.Signature), ed25519.SignatureSize)
	}
	return EnvelopeValue(RecordNamespace, r.appendBody(nil, nil))
}

// appendBody appends the record's envelope body, with cas when not nil.
func (r Record) appendBody(b []byte, cas *uint64) []byte {
	if cas != nil {
		b = append(b, recordFlagCAS)
		b = binary.BigEndian.AppendUint64(b, *cas)
	} else {
		b = append(b, 0)
	}
	b = append(b, r.PublicKey...)
	b = binary.BigEndian.AppendUint64(b, r.Seq)
	b = append(b, byte(len(r.Salt)))
	b = append(b, r.Salt...)
	b = append(b, r.Signature...)
	return append(b, r.Value...)
}

// DecodeRecord parses a record value and verifies its signature
// (ErrBadRecord, ErrBadSignature); compare its Key with the key asked for.
func DecodeRecord(v Value) (Record, error) {
	ns, body, ok := v.Envelope()
	if !ok || ns != RecordNamespace {
		return Record{}, fmt.Errorf("%w: not a signed record", ErrBadRecord)
	}
	r, _, err := parseRecordBody(body)
	if err != nil {
		return Record{}, err
	}
	if err := r.Verify(); err != nil {
		return Record{}, err
	}
	return r, nil
}

// parseRecordBody splits an envelope body into its record and its CAS
// (nil if none). It checks the layout only, not the signature. The record
// shares body's memory.
func parseRecordBody(body []byte) (Record, *uint64, error) {
	bad := func(what string) (Record, *uint64, error) {
		return Record{}, nil, fmt.Errorf("%w: %s (record body of %d bytes)", ErrBadRecord, what, len(body))
	}
	if len(body) < recordFixed {
		return bad("truncated")
	}
	flags, b := body[0], body[1:]
	if flags&^recordFlagCAS != 0 {
		return bad(fmt.Sprintf("unknown flags 0x%02x", flags))
	}
	var cas *uint64
	if flags&recordFlagCAS != 0 {
		if len(b) < recordCASSize+recordFixed-1 {
			return bad("truncated")
		}
		c := binary.BigEndian.Uint64(b)
		cas, b = &c, b[recordCASSize:]
	}
	var r Record
	r.PublicKey, b = ed25519.PublicKey(b[:ed25519.PublicKeySize:ed25519.PublicKeySize]), b[ed25519.PublicKeySize:]
	r.Seq, b = binary.BigEndian.Uint64(b), b[8:]
	saltLen, b := int(b[0]), b[1:]
	if saltLen > MaxSaltSize {
		return bad(fmt.Sprintf("salt of %d bytes", saltLen))
	}
	if len(b) < saltLen+ed25519.SignatureSize {
		return bad("truncated")
	}
	r.Salt, b = b[:saltLen:saltLen], b[saltLen:]
	r.Signature, r.Value = b[:ed25519.SignatureSize:ed25519.SignatureSize], b[ed25519.SignatureSize:]
	return r, cas, nil
}

// recordValidator is the Validator of signed records (RecordNamespace):
// a record is valid at the key SHA-1(public key || salt) with a good
// signature; the highest Seq wins, and of two records with one Seq, the
// greater body (bytewise), so that every node chooses alike. A body may
// carry a compare-and-swap (the seq its writer expects to replace), which
// a node checks and drops before storing (condition).
type recordValidator struct{}

// Validate implements Validator.
func (recordValidator) Validate(key ID, body []byte) error {
	r, _, err := parseRecordBody(body)
	if err != nil {
		return err
	}
	if r.Key() != key {
		return fmt.Errorf("%w: a record of key %s sent to %s: SHA-1(public key || salt) must be the key",
			ErrBadRecord, r.Key(), key)
	}
	return r.Verify()
}

// Select implements Validator: the highest seq, then the greater body
// (without its CAS). Bodies that do not parse are never chosen.
func (recordValidator) Select(_ ID, bodies [][]byte) (int, error) {
	best, bestSeq := -1, uint64(0)
	var bestBody []byte
	for i, b := range bodies {
		r, _, err := parseRecordBody(b)
		if err != nil {
			continue
		}
		cb := r.appendBody(nil, nil)
		if best < 0 || r.Seq > bestSeq || (r.Seq == bestSeq && bytes.Compare(cb, bestBody) > 0) {
			best, bestSeq, bestBody = i, r.Seq, cb
		}
	}
	if best < 0 {
		return 0, fmt.Errorf("%w: none of %d records parses", ErrBadRecord, len(bodies))
	}
	return best, nil
}

// condition checks a body's compare-and-swap against held (the record
// held now, nil if none): a holder whose record is newer than the seq the
// writer expected refuses it, unless it holds this very record (a retry).
// A holder behind the expected seq (it missed updates) takes the write. It
// returns the body without its CAS.
func (recordValidator) condition(_ ID, held, body []byte) ([]byte, error) {
	r, cas, err := parseRecordBody(body)
	if err != nil {
		return nil, err
	}
	canonical := body
	if cas != nil {
		canonical = r.appendBody(nil, nil)
	}
	if cas == nil || held == nil {
		return canonical, nil
	}
	h, _, err := parseRecordBody(held)
	if err != nil || h.Seq <= *cas || bytes.Equal(held, canonical) {
		return canonical, nil
	}
	return nil, fmt.Errorf("%w: the put expected seq %d, the holder has seq %d", ErrSeqConflict, *cas, h.Seq)
}

// smallOrder reports whether pub encodes a point of small order (1, 2, 4
// or 8), canonically or not, whatever its sign bit: under such a key, a
// signature with R the identity and S zero verifies for every message
// (crypto/ed25519 checks the cofactorless equation), so anybody could
// sign records for it. Keys from ed25519.GenerateKey are never of small
// order. These are the y coordinates 0, 1, p-1, the two of order 8, p and
// p+1 (p = 2^255-19), little-endian, as libsodium refuses them.
func smallOrder(pub []byte) bool {
	if len(pub) != ed25519.PublicKeySize {
		return false
	}
	var y [ed25519.PublicKeySize]byte
	copy(y[:], pub)
	y[len(y)-1] &= 0x7f
	switch hex.EncodeToString(y[:]) {
	case "0000000000000000000000000000000000000000000000000000000000000000",
		"0100000000000000000000000000000000000000000000000000000000000000",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
		"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f":
		return true
	}
	return false
}
