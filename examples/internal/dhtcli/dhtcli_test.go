package dhtcli

import (
	"context"
	"io"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestListenAddrFor(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:8468":   "127.0.0.1:0",
		"127.1.2.3:8468":   "127.0.0.1:0",
		"192.0.2.7:8468":   "0.0.0.0:0",
		"[::1]:8468":       "[::]:0",
		"[2001:db8::1]:80": "[::]:0",
	} {
		if got := ListenAddrFor(netip.MustParseAddrPort(in)); got != want {
			t.Errorf("ListenAddrFor(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestResolve(t *testing.T) {
	ctx := context.Background()
	got, err := Resolve(ctx, "::ffff:127.0.0.1", "8468")
	if err != nil || got != netip.MustParseAddrPort("127.0.0.1:8468") {
		t.Errorf("Resolve mapped address = %v, %v", got, err)
	}
	for _, p := range []string{"", "-1", "0", "65536", "x"} {
		if _, err := Resolve(ctx, "127.0.0.1", p); err == nil {
			t.Errorf("Resolve port %q: no error", p)
		}
	}
	if got, err := ResolveHostPort(ctx, "[::1]:8468"); err != nil || got != netip.MustParseAddrPort("[::1]:8468") {
		t.Errorf("ResolveHostPort = %v, %v", got, err)
	}
	if _, err := ResolveHostPort(ctx, "no-port"); err == nil {
		t.Error("ResolveHostPort without a port: no error")
	}
}

func TestJoinNoAnswer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Nothing listens on port 9 of loopback's discard service here; the
	// bootstrap must fail, not hang.
	if _, err := Join(ctx, netip.MustParseAddrPort("127.0.0.1:9"), "", 200*time.Millisecond, NewLogger(io.Discard, false)); err == nil {
		t.Fatal("Join with nobody answering: no error")
	}
}
