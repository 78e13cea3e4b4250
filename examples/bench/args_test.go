package main

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/rpcudp/go-rpcudp/rpcudp/wire"
)

// TestMethodArgs benchmarks a method other than echo, with -args, on a
// server that serves no echo at all.
func TestMethodArgs(t *testing.T) {
	ep, err := rpcudp.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ep.Close() })
	var got []string
	ep.Handle("greet", func(_ context.Context, _ netip.AddrPort, name string, n int64, b []byte) (string, error) {
		if name != "Snake" || n != 3 || string(b) != "\x00\xff" {
			return "", errors.New("bad args")
		}
		return "hi " + name, nil
	})
	for _, args := range [][]string{
		{"-args", `"Snake"`, "-args", "3", "-args", `{"bin":"00ff"}`},
		{"-args", `["Snake", 3, {"bin":"00ff"}]`},
	} {
		argv := append([]string{"-addr", ep.LocalAddr().String(), "-method", "greet", "-n", "100", "-c", "4", "-timeout", "10s"}, args...)
		cfg, err := parseFlags(argv, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		res, stdout, _ := runOK(t, cfg)
		checkSane(t, res.RPC, 100)
		if res.Config.Method != "greet" || res.Config.RequestBytes <= wire.HeaderLen {
			t.Errorf("config %+v", res.Config)
		}
		if !strings.Contains(stdout, "rpcudp bench: greet on") || !strings.Contains(stdout, "args [") {
			t.Errorf("header:\n%s", stdout)
		}
		got = append(got, cfg.Args)
	}
	if got[0] != `["Snake",3,{"bin":"00ff"}]` || got[1] != `["Snake", 3, {"bin":"00ff"}]` {
		t.Errorf("-args joined as %q", got)
	}
}

func TestPreflightErrors(t *testing.T) {
	// A port with nothing behind it: a socket opened and closed.
	gone, err := rpcudp.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	goneAddr := gone.LocalAddr().String()
	gone.Close()
	other := echoServer(t, true)
	for _, tt := range []struct {
		name string
		mod  func(*Config)
		want []string
	}{
		{"nothing listening", func(c *Config) { c.Addr = goneAddr }, []string{"got no answer", "nothing is listening", "Python"}},
		{"unknown method", func(c *Config) { c.Addr = other.LocalAddr().String(); c.Method = "nope" },
			[]string{"answered with error", "unknown method"}},
		{"bad args", func(c *Config) { c.Addr = other.LocalAddr().String(); c.Args = `[1, 2]` },
			[]string{"preflight call of echo", "answered with error"}},
		{"method in-process", func(c *Config) { c.Method = "nope" }, []string{"-method nope needs -addr"}},
		{"bad rate", func(c *Config) { c.Rate = "fast" }, []string{"-rate"}},
		{"raw with method", func(c *Config) { c.Raw = true; c.Args = "[1]" }, []string{"-raw"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := smallConfig()
			cfg.Timeout = 100 * time.Millisecond
			tt.mod(&cfg)
			res, err := run(testCtx(t), cfg, io.Discard, io.Discard)
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("run: %v, want an error saying %q", err, w)
				}
			}
			if got := exitCode(res, err, io.Discard); got != 2 {
				t.Errorf("exit code %d, want 2", got)
			}
		})
	}
}

func TestParseNewFlags(t *testing.T) {
	cfg, err := parseFlags(strings.Fields("-rate 10k,50k -method ping -args 1 -html out.html -addr 1.2.3.4:5"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Rate != "10k,50k" || cfg.Method != "ping" || cfg.Args != "[1]" || cfg.HTML != "out.html" {
		t.Errorf("parseFlags = %+v", cfg)
	}
	for _, args := range []string{"-args {", "-rate 0", "-method x"} {
		if _, err := parseFlags(strings.Fields(args), io.Discard); err == nil {
			t.Errorf("parseFlags(%s) accepted", args)
		}
	}
}
