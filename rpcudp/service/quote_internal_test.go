package service

import (
	"strconv"
	"strings"
	"testing"
)

// TestQuote: quote quotes a short string whole, and a long one (or one
// that quoting makes long) as a prefix of at most maxQuoted bytes quoted.
func TestQuote(t *testing.T) {
	for _, s := range []string{
		"", "abc", "a\"b\n", strings.Repeat("a", 32), strings.Repeat("a", 33),
		strings.Repeat("\x00", 10), strings.Repeat("\x00", 300), strings.Repeat("é", 40),
		strings.Repeat("\xff", 20), "ab" + strings.Repeat("€", 20),
	} {
		q := quote(s)
		whole := strconv.Quote(s)
		switch {
		case len(whole) <= maxQuoted+2:
			if q != whole {
				t.Errorf("quote(%q) = %s, want %s", s, q, whole)
			}
		default:
			p, ok := strings.CutSuffix(q, "...")
			u, err := strconv.Unquote(p)
			if !ok || err != nil || len(p) > maxQuoted+2 || !strings.HasPrefix(s, u) || len(u) == 0 {
				t.Errorf("quote(%q) = %s", s, q)
			}
		}
	}
}
