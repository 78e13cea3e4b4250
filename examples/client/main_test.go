package main

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestClient(t *testing.T) {
	server, err := rpcudp.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	server.Handle("sayhi", func(_ context.Context, from netip.AddrPort, name string) (string, error) {
		return "Hello " + name, nil
	})
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	tests := []struct {
		name, addr string
		code       int
		out        string
	}{
		{"answer", server.LocalAddr().String(), 0, "Hello Snake Plissken\n"},
		{"no answer", silent.LocalAddr().String(), 1, "No response received.\n"},
		{"bad address", "not an address", 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(&out, &errOut, tt.addr, "127.0.0.1:0", "sayhi", "Snake Plissken", 100*time.Millisecond)
			if code != tt.code || out.String() != tt.out {
				t.Fatalf("exit %d, output %q (stderr %q); want %d, %q", code, out.String(), errOut.String(), tt.code, tt.out)
			}
			if code != 0 && !strings.HasPrefix(errOut.String(), "client:") {
				t.Errorf("stderr %q", errOut.String())
			}
		})
	}
}
