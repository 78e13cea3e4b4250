package kademlia

import (
	"bytes"
	"crypto/sha1" //nolint:gosec // protocol-mandated
	"errors"
	"math"
	"math/big"
	mrand "math/rand/v2"
	"net/netip"
	"testing"
)

// idFromUint64 returns the id whose big-endian value is x (Python's
// mknode(intid=x), widened to 20 bytes).
func idFromUint64(x uint64) ID {
	var id ID
	for i := 0; i < 8; i++ {
		id[IDLen-1-i] = byte(x >> (8 * i))
	}
	return id
}

// idFromHex parses a 40-digit hex id or fails the test.
func idFromHex(t testing.TB, s string) ID {
	t.Helper()
	id, err := ParseID(s)
	if err != nil {
		t.Fatalf("ParseID(%q): %v", s, err)
	}
	return id
}

// seededID draws an id from r (deterministic tests).
func seededID(r *mrand.Rand) ID {
	var id ID
	for i := range id {
		id[i] = byte(r.Uint32())
	}
	return id
}

func idInt(id ID) *big.Int { return new(big.Int).SetBytes(id[:]) }

// TestIDXorDistance ports Python's test_distance_calculation: the distance
// is the XOR of the ids read as big-endian integers.
func TestIDXorDistance(t *testing.T) {
	r := mrand.New(mrand.NewPCG(1, 2))
	for range 200 {
		a, b := seededID(r), seededID(r)
		want := new(big.Int).Xor(idInt(a), idInt(b))
		if got := idInt(a.xor(b)); got.Cmp(want) != 0 {
			t.Fatalf("%s xor %s = %s, want %x", a, b, a.xor(b), want)
		}
		if a.xor(b) != b.xor(a) {
			t.Fatalf("xor not symmetric for %s, %s", a, b)
		}
		if !a.xor(a).IsZero() {
			t.Fatalf("%s xor itself is not zero", a)
		}
	}
}

// TestIDLongID ports Python's test_long_id: the id is a big-endian integer.
func TestIDLongID(t *testing.T) {
	id := digestBytes([]byte("12345"))
	want, _ := new(big.Int).SetString(id.String(), 16)
	if idInt(id).Cmp(want) != 0 {
		t.Fatalf("long id mismatch")
	}
	if got := idFromUint64(0x0102); got.String() != "0000000000000000000000000000000000000102" {
		t.Fatalf("idFromUint64(0x102) = %s", got)
	}
}

func TestIDCompareAndDistanceOrder(t *testing.T) {
	r := mrand.New(mrand.NewPCG(3, 4))
	for range 500 {
		target, a, b := seededID(r), seededID(r), seededID(r)
		if i := r.IntN(4); i == 0 {
			b = a // equal ids
		} else if i == 1 {
			copy(b[:r.IntN(IDLen)], a[:]) // long common prefix
		}
		if got, want := a.Compare(b), idInt(a).Cmp(idInt(b)); got != want {
			t.Fatalf("Compare(%s, %s) = %d, want %d", a, b, got, want)
		}
		if a.less(b) != (idInt(a).Cmp(idInt(b)) < 0) {
			t.Fatalf("Less(%s, %s) wrong", a, b)
		}
		da := new(big.Int).Xor(idInt(a), idInt(target))
		db := new(big.Int).Xor(idInt(b), idInt(target))
		want := da.Cmp(db)
		if got := cmpDistance(target, a, b); got != want {
			t.Fatalf("cmpDistance = %d, want %d", got, want)
		}
		if got := cmpDistance(target, a, b); got != want {
			t.Fatalf("cmpDistance = %d, want %d", got, want)
		}
		if got := closerTo(target, a, b); got != (want < 0) {
			t.Fatalf("closerTo = %v, want %v", got, want < 0)
		}
	}
}

func TestIDCommonPrefixLen(t *testing.T) {
	zero := ID{}
	tests := []struct {
		name string
		a, b ID
		want int
	}{
		{"equal", zero, zero, 160},
		{"first bit", zero, ID{0x80}, 0},
		{"second bit", zero, ID{0x40}, 1},
		{"eighth bit", zero, ID{0x01}, 7},
		{"ninth bit", zero, ID{0, 0x80}, 8},
		{"last bit", zero, idFromUint64(1), 159},
		{"ones vs zero last byte", ID{0xff}, ID{0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10}, 155},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.commonPrefixLen(tt.b); got != tt.want {
				t.Errorf("CommonPrefixLen = %d, want %d", got, tt.want)
			}
			if got := tt.b.commonPrefixLen(tt.a); got != tt.want {
				t.Errorf("reversed CommonPrefixLen = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestIDFromBytes(t *testing.T) {
	good := bytes.Repeat([]byte{0xab}, 20)
	tests := []struct {
		name    string
		in      []byte
		wantErr bool
	}{
		{"20 bytes", good, false},
		{"nil", nil, true},
		{"19 bytes", good[:19], true},
		{"21 bytes", append(append([]byte{}, good...), 0), true},
		{"4 bytes (Python intid)", []byte{0, 0, 0, 5}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := IDFromBytes(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrBadID) {
					t.Fatalf("err = %v, want ErrBadID", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(id.Bytes(), tt.in) {
				t.Fatalf("Bytes() = %x, want %x", id.Bytes(), tt.in)
			}
		})
	}
}

func TestIDBytesIsACopy(t *testing.T) {
	id := ID{1, 2, 3}
	b := id.Bytes()
	b[0] = 99
	if id[0] != 1 {
		t.Fatal("Bytes() aliases the id")
	}
	if len(b) != IDLen {
		t.Fatalf("len(Bytes()) = %d", len(b))
	}
}

func TestIDStringAndParse(t *testing.T) {
	const h = "14dc69de2a1e6087529f02b62fd2888c90d741d3"
	id := idFromHex(t, h)
	if id.String() != h {
		t.Fatalf("String() = %s, want %s", id, h)
	}
	for _, bad := range []string{"", "14dc", h + "00", "zz" + h[2:]} {
		if _, err := ParseID(bad); !errors.Is(err, ErrBadID) {
			t.Errorf("ParseID(%q) err = %v, want ErrBadID", bad, err)
		}
	}
}

// TestDigest checks Digest against kademlia.utils.digest: sha1 of bytes as
// they are, of str(key).encode("utf8") otherwise. The hex digests were
// computed with CPython 3 (hashlib.sha1(str(k).encode()).hexdigest()).
func TestDigest(t *testing.T) {
	tests := []struct {
		name   string
		key    any
		pyStr  string // str(key) in Python, or the raw bytes
		pyHash string // from CPython; "" to rely on pyStr only
	}{
		{"str", "my awesome key", "my awesome key", "1bf216647ca8ec54f99d351becf9fe6ca12ff802"},
		{"str2", "my key", "my key", "462815c2459d4ae1b216eedabb4f0fcd4325a14f"},
		{"empty str", "", "", "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
		{"non-ascii str", "héllo", "héllo", "35b5ea45c5e41f78b46a937cc74d41dfea920890"},
		{"bytes", []byte{0x00, 0x01, 0xfe, 0xff}, "\x00\x01\xfe\xff", "302c1f256c8e9ebb5edf0822b473d0cd3d2ce84c"},
		{"int", 42, "42", "92cfceb39d57d914ed8b14d0e37643de0797ae56"},
		{"negative int", -7, "-7", "565e8bd101bd602536fe79ba40584a1561da3581"},
		{"int64 big", int64(1099511627779), "1099511627779", "b721992b00ac6d503a942b726bd2e45f288a10af"},
		{"int8", int8(-7), "-7", ""},
		{"int16", int16(42), "42", ""},
		{"int32", int32(42), "42", ""},
		{"uint", uint(42), "42", ""},
		{"uint8", uint8(42), "42", ""},
		{"uint16", uint16(42), "42", ""},
		{"uint32", uint32(42), "42", ""},
		{"uint64 max", uint64(math.MaxUint64), "18446744073709551615", ""},
		{"big.Int", new(big.Int).Lsh(big.NewInt(1), 100), "1267650600228229401496703205376", ""},
		{"true", true, "True", "88b33e4e12f75ac8bf792aebde41f1a090f3a612"},
		{"false", false, "False", "97cdbdc7feff827efb082a6b6dd2727237cd49fd"},
		{"float 3.25", 3.25, "3.25", "9ca8ee65a3fa3737f6b3f5b0c6055c0e09305294"},
		{"float 1.0", 1.0, "1.0", "e8dc057d3346e56aed7cf252185dbe1fa6454411"},
		{"float 1e16", 1e16, "1e+16", "d188132961e00de370390ec3305bf2d4ce6b61e4"},
		{"float 0.0001", 0.0001, "0.0001", "8b9b9c3a6a9e99bb65ad64b5ee93ca3960c34ed0"},
		{"float 0.00001", 0.00001, "1e-05", "9115e342ed653a64b414eaaf296ef7ea3102be9e"},
		{"float32 widened", float32(0.1), "0.10000000149011612", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Digest(tt.key)
			if err != nil {
				t.Fatal(err)
			}
			if want := ID(sha1.Sum([]byte(tt.pyStr))); got != want { //nolint:gosec
				t.Errorf("Digest(%#v) = %s, want sha1(%q) = %s", tt.key, got, tt.pyStr, want)
			}
			if tt.pyHash != "" && got.String() != tt.pyHash {
				t.Errorf("Digest(%#v) = %s, want CPython's %s", tt.key, got, tt.pyHash)
			}
		})
	}
}

func TestDigestIDIsIdentity(t *testing.T) {
	id := idFromHex(t, "61ba747fe2f5b3d513c40550084c6284fbbc1094")
	got, err := Digest(id)
	if err != nil || got != id {
		t.Fatalf("Digest(ID) = %s, %v; want %s", got, err, id)
	}
	if digestBytes([]byte("my key")) != mustDigest(t, "my key") {
		t.Fatal("digestBytes and Digest(string) disagree")
	}
}

func mustDigest(t *testing.T, key any) ID {
	t.Helper()
	id, err := Digest(key)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestDigestRejectsOtherTypes(t *testing.T) {
	type named string
	for _, key := range []any{nil, []int{1}, map[string]int{}, struct{}{}, named("x"), (*big.Int)(nil), complex(1, 2), &ID{}} {
		if _, err := Digest(key); !errors.Is(err, ErrValueType) {
			t.Errorf("Digest(%#v) err = %v, want ErrValueType", key, err)
		}
	}
}

// TestDigestFloatRepr checks Python's repr(float) rules; the expected
// strings were printed by CPython 3.
func TestDigestFloatRepr(t *testing.T) {
	tests := []struct {
		f    float64
		want string
	}{
		{3.25, "3.25"},
		{1.0, "1.0"},
		{1e16, "1e+16"},
		{1e15, "1000000000000000.0"},
		{9999999999999998.0, "9999999999999998.0"},
		{9007199254740992.0, "9007199254740992.0"},
		{0.0001, "0.0001"},
		{0.00012345, "0.00012345"},
		{0.00001, "1e-05"},
		{2.5e-05, "2.5e-05"},
		{1e-07, "1e-07"},
		{0.0, "0.0"},
		{math.Copysign(0, -1), "-0.0"},
		{0.1, "0.1"},
		{1.0 / 3, "0.3333333333333333"},
		{0.30000000000000004, "0.30000000000000004"},
		{123456789012345678.0, "1.2345678901234568e+17"},
		{1e22, "1e+22"},
		{1e100, "1e+100"},
		{-1.5, "-1.5"},
		{100.0, "100.0"},
		{5e-324, "5e-324"},
		{math.MaxFloat64, "1.7976931348623157e+308"},
		{math.Inf(1), "inf"},
		{math.Inf(-1), "-inf"},
		{math.NaN(), "nan"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := pyReprFloat(tt.f); got != tt.want {
				t.Errorf("pyReprFloat(%v) = %q, want %q", tt.f, got, tt.want)
			}
			if got, want := mustDigest(t, tt.f), digestBytes([]byte(tt.want)); got != want {
				t.Errorf("Digest(%v) = %s, want sha1(%q)", tt.f, got, tt.want)
			}
		})
	}
}

func TestRandomID(t *testing.T) {
	a, b := RandomID(), RandomID()
	if a == b {
		t.Fatal("two random ids are equal")
	}
}

func TestRandomIDInRange(t *testing.T) {
	top := fullIDRange().Hi
	tests := []struct {
		name   string
		lo, hi ID
	}{
		{"full space", ID{}, top},
		{"upper half", ID{0x80}, top},
		{"single id", idFromUint64(7), idFromUint64(7)},
		{"small", idFromUint64(10), idFromUint64(13)},
		{"swapped", idFromUint64(13), idFromUint64(10)},
		{"carry boundary", idFromUint64(0xff), idFromUint64(0x100)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lo, hi := tt.lo, tt.hi
			if hi.less(lo) {
				lo, hi = hi, lo
			}
			r := idRange{Lo: lo, Hi: hi}
			seen := map[ID]bool{}
			for range 200 {
				id := randomIDInRange(tt.lo, tt.hi)
				if !r.contains(id) {
					t.Fatalf("%s outside %s", id, r)
				}
				seen[id] = true
			}
			size := new(big.Int).Sub(idInt(hi), idInt(lo))
			size.Add(size, big.NewInt(1))
			if size.IsInt64() && size.Int64() <= 4 && int64(len(seen)) != size.Int64() {
				t.Fatalf("200 draws hit %d of %d ids", len(seen), size.Int64())
			}
		})
	}
}

func TestContactString(t *testing.T) {
	c := Contact{ID: idFromHex(t, "14dc69de2a1e6087529f02b62fd2888c90d741d3"), Addr: netip.MustParseAddrPort("127.0.0.1:8468")}
	if got, want := c.String(), "14dc69de2a1e6087529f02b62fd2888c90d741d3@127.0.0.1:8468"; got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
}

func TestContactSameHome(t *testing.T) {
	ap := netip.MustParseAddrPort
	tests := []struct {
		name string
		a, b string
		want bool
	}{
		{"same", "127.0.0.1:8468", "127.0.0.1:8468", true},
		{"other port", "127.0.0.1:8468", "127.0.0.1:8469", false},
		{"other ip", "127.0.0.1:8468", "127.0.0.2:8468", false},
		{"v4-mapped", "[::ffff:10.0.0.2]:2002", "10.0.0.2:2002", true},
		{"v6", "[2001:db8::1]:1", "[2001:db8::1]:1", true},
		{"v6 vs v4", "[2001:db8::1]:1", "10.0.0.2:1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Ids differ on purpose: only the address matters.
			a := Contact{ID: idFromUint64(1), Addr: ap(tt.a)}
			b := Contact{ID: idFromUint64(2), Addr: ap(tt.b)}
			if got := a.sameHome(b); got != tt.want {
				t.Errorf("SameHome = %v, want %v", got, tt.want)
			}
			if got := b.sameHome(a); got != tt.want {
				t.Errorf("reversed SameHome = %v, want %v", got, tt.want)
			}
		})
	}
}
