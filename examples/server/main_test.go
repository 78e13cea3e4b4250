package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestGreeter(t *testing.T) {
	server, err := rpcudp.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	if err := server.Register(greeter{slow: 10 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	client, err := rpcudp.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	for _, m := range []string{"sayhi", "sayhi_quickly", "sayhi_slowly"} {
		got, err := rpcudp.Invoke[string](context.Background(), client, server.LocalAddr(), m, "Snake Plissken")
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		want := "Hello Snake Plissken you live at " + client.LocalAddr().String()
		if !strings.HasPrefix(got, want) {
			t.Errorf("%s = %q, want %q", m, got, want)
		}
	}
}
