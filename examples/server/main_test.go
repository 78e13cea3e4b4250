package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"go.uber.org/goleak"

	"github.com/rpcudp/go-rpcudp/rpcudp"
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

func TestEcho(t *testing.T) {
	server, err := rpcudp.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	if err := server.Register(greeter{}); err != nil {
		t.Fatal(err)
	}
	client, err := rpcudp.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	for _, arg := range []any{[]byte("payload"), "text", int64(-7), []any{"a", 1.5}, map[string]any{"k": true}, nil} {
		// Compact ints, as rpcudp encodes them (like Python's msgpack).
		var buf bytes.Buffer
		enc := msgpack.NewEncoder(&buf)
		enc.UseCompactInts(true)
		if err := enc.Encode(arg); err != nil {
			t.Fatal(err)
		}
		want := buf.Bytes()
		reply, err := client.Call(context.Background(), server.LocalAddr(), "echo", arg)
		if err != nil {
			t.Fatalf("echo %#v: %v", arg, err)
		}
		if !bytes.Equal(reply, want) {
			t.Errorf("echo %#v = %x, want %x", arg, []byte(reply), want)
		}
	}
}
