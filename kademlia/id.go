package kademlia

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // SHA-1 is what Python's kademlia uses for ids and key digests.
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"strconv"
	"strings"
)

// IDLen is the length of an ID in bytes (160 bits, the size of a SHA-1
// digest).
const IDLen = 20

// idBits is the length of an ID in bits.
const idBits = IDLen * 8

// ErrBadID: a byte string is not IDLen bytes long.
var ErrBadID = errors.New("kademlia: node id must be 20 bytes")

// ID is a 160-bit node id or key digest, read as a big-endian integer (as
// Python's Node.long_id), so comparisons of IDs and XOR distances are
// byte-wise. The zero ID is a valid id, not a "missing" marker.
type ID [IDLen]byte

// IDFromBytes converts a 20-byte slice into an ID (else ErrBadID).
func IDFromBytes(b []byte) (ID, error) {
	var id ID
	if len(b) != IDLen {
		return id, fmt.Errorf("%w: got %d bytes", ErrBadID, len(b))
	}
	copy(id[:], b)
	return id, nil
}

// ParseID parses ID.String's 40 hex digits (else ErrBadID).
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*IDLen {
		return id, fmt.Errorf("%w: %q is not 40 hex digits", ErrBadID, s)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return ID{}, fmt.Errorf("%w: %q: %v", ErrBadID, s, err)
	}
	return id, nil
}

// String returns the id as 40 lower-case hex digits (Python's id.hex()).
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Bytes returns a copy of the id's 20 bytes.
func (id ID) Bytes() []byte {
	b := make([]byte, IDLen)
	copy(b, id[:])
	return b
}

// IsZero reports whether id is the all-zero id.
func (id ID) IsZero() bool { return id == ID{} }

// xor returns id XOR o, the Kademlia distance between the two ids as a
// big-endian 160-bit integer.
func (id ID) xor(o ID) ID {
	var d ID
	for i := range id {
		d[i] = id[i] ^ o[i]
	}
	return d
}

// Compare compares the ids as big-endian integers (-1, 0, +1).
func (id ID) Compare(o ID) int { return bytes.Compare(id[:], o[:]) }

// less reports whether id < o as big-endian integers.
func (id ID) less(o ID) bool { return id.Compare(o) < 0 }

// commonPrefixLen returns the number of leading bits id and o have in
// common: 160 for equal ids, 0 when the first bits differ.
func (id ID) commonPrefixLen(o ID) int {
	for i := range id {
		if x := id[i] ^ o[i]; x != 0 {
			return i*8 + bits.LeadingZeros8(x)
		}
	}
	return idBits
}

// cmpDistance compares the XOR distances of a and b from target and
// returns -1 if a is closer, +1 if b is closer and 0 if a == b (distinct ids
// are never at the same distance from a target).
func cmpDistance(target, a, b ID) int {
	for i := range target {
		da, db := a[i]^target[i], b[i]^target[i]
		if da != db {
			if da < db {
				return -1
			}
			return 1
		}
	}
	return 0
}

// closerTo reports whether a is strictly closer to target than b in XOR
// distance.
func closerTo(target, a, b ID) bool { return cmpDistance(target, a, b) < 0 }

// digestBytes returns the SHA-1 digest of b as an ID.
func digestBytes(b []byte) ID { return ID(sha1.Sum(b)) } //nolint:gosec // protocol-mandated

// Digest hashes a DHT key into an ID exactly as Python's
// kademlia.utils.digest: SHA-1 of []byte as it is, of any other key's
// str(key) in UTF-8: string, every integer type and *big.Int ("42"), bool
// ("True"), float64 and float32 (Python's repr: "3.25", "1.0", "1e+16",
// "inf"). An ID is returned unchanged (it is a digest already). Any other
// type, including nil, returns an error wrapping ErrValueType.
func Digest(key any) (ID, error) {
	switch k := key.(type) {
	case ID:
		return k, nil
	case []byte:
		return digestBytes(k), nil
	case string:
		return digestBytes([]byte(k)), nil
	case bool:
		if k {
			return digestBytes([]byte("True")), nil
		}
		return digestBytes([]byte("False")), nil
	case int:
		return digestString(strconv.FormatInt(int64(k), 10)), nil
	case int8:
		return digestString(strconv.FormatInt(int64(k), 10)), nil
	case int16:
		return digestString(strconv.FormatInt(int64(k), 10)), nil
	case int32:
		return digestString(strconv.FormatInt(int64(k), 10)), nil
	case int64:
		return digestString(strconv.FormatInt(k, 10)), nil
	case uint:
		return digestString(strconv.FormatUint(uint64(k), 10)), nil
	case uint8:
		return digestString(strconv.FormatUint(uint64(k), 10)), nil
	case uint16:
		return digestString(strconv.FormatUint(uint64(k), 10)), nil
	case uint32:
		return digestString(strconv.FormatUint(uint64(k), 10)), nil
	case uint64:
		return digestString(strconv.FormatUint(k, 10)), nil
	case uintptr:
		return digestString(strconv.FormatUint(uint64(k), 10)), nil
	case *big.Int:
		if k == nil {
			return ID{}, fmt.Errorf("%w: key: nil *big.Int", ErrValueType)
		}
		return digestString(k.String()), nil
	case float64:
		return digestString(pyReprFloat(k)), nil
	case float32:
		return digestString(pyReprFloat(float64(k))), nil
	default:
		return ID{}, fmt.Errorf("%w: key of type %T", ErrValueType, key)
	}
}

func digestString(s string) ID { return digestBytes([]byte(s)) }

// pyReprFloat formats f as Python 3's repr(float) / str(float): the shortest
// decimal digits that round-trip, written in fixed notation with at least one
// fractional digit ("1.0", "3.25", "1000000000000000.0") unless the decimal
// exponent is below -4 or at least 16, where scientific notation with a signed
// exponent of at least two digits is used ("1e-05", "1e+16",
// "1.2345678901234568e+17"). Non-finite values are "inf", "-inf" and "nan".
func pyReprFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	// Go's shortest 'e' formatting has the same digits and the same
	// exponent layout (sign, at least two digits) as Python's repr.
	sci := strconv.FormatFloat(f, 'e', -1, 64)
	i := strings.LastIndexByte(sci, 'e')
	exp, err := strconv.Atoi(sci[i+1:])
	if err != nil {
		// Unreachable: FormatFloat always writes a decimal exponent.
		return sci
	}
	if exp < -4 || exp >= 16 {
		return sci
	}
	fixed := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsRune(fixed, '.') {
		fixed += ".0"
	}
	return fixed
}

// RandomID returns a uniformly random id (crypto/rand).
func RandomID() ID {
	var id ID
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails (Go >= 1.24).
	return id
}

// randomIDInRange returns an id drawn uniformly from the inclusive range
// [lo, hi] using crypto/rand. If lo > hi the bounds are swapped.
func randomIDInRange(lo, hi ID) ID {
	if hi.less(lo) {
		lo, hi = hi, lo
	}
	if lo == hi {
		return lo
	}
	l := new(big.Int).SetBytes(lo[:])
	n := new(big.Int).SetBytes(hi[:])
	n.Sub(n, l).Add(n, big.NewInt(1)) // size of the range, at most 2^160
	r, err := rand.Int(rand.Reader, n)
	if err != nil {
		// Unreachable: crypto/rand.Reader does not fail and n > 0.
		panic(fmt.Sprintf("kademlia: crypto/rand failed: %v", err))
	}
	r.Add(r, l)
	var id ID
	r.FillBytes(id[:])
	return id
}
