package rpcudp

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newTestEndpoint opens an endpoint on loopback and closes it with the test.
func newTestEndpoint(t testing.TB, addr string, opts ...Option) *Endpoint {
	t.Helper()
	e, err := Listen(context.Background(), addr, opts...)
	if err != nil {
		t.Fatalf("Listen(%s): %v", addr, err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// testCtx is a context bounded well inside the test binary's deadline.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func sayhi(_ context.Context, _ netip.AddrPort, name string) (string, error) {
	return "Hello " + name, nil
}
