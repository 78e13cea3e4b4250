package service

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// Cookies prove that a caller receives at the address its request came
// from: the server answers a first request with a cookie, a MAC of the
// address under the server's random key, and acts only on a request that
// sends it back. A request forged with another's address gets nothing
// done, and its answer (the cookie, about as small as the request) goes
// to that address.

// cookiePeriod is a cookie's time slot: a cookie is good in the slot it
// was made in and the next, so for 5 to 10 minutes; a subscriber renewing
// its lease after that is given a new one (one more round trip).
const cookiePeriod = 5 * time.Minute

// cookie returns the cookie of fields (the method asking it, the caller's
// address, ...; only the last may hold a NUL) in time slot slot: 12 bytes
// of MAC, 16 characters of base64url.
func (s *Server) cookie(slot int64, fields ...string) string {
	m := hmac.New(sha256.New, s.cookieKey[:])
	m.Write(binary.BigEndian.AppendUint64(nil, uint64(slot)))
	for _, f := range fields {
		m.Write([]byte(f))
		m.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:12])
}

// checkCookie reports whether got is the cookie of fields of the current
// time slot or the one before; if not, it returns the current one, to be
// sent to the caller.
func (s *Server) checkCookie(got string, fields ...string) (want string, ok bool) {
	slot := time.Now().Unix() / int64(cookiePeriod/time.Second)
	want = s.cookie(slot, fields...)
	for _, c := range []string{want, s.cookie(slot-1, fields...)} {
		if subtle.ConstantTimeCompare([]byte(got), []byte(c)) == 1 {
			return "", true
		}
	}
	return want, false
}
