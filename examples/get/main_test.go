package main

import (
	"bytes"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/rpcudp/go-rpcudp/kademlia"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func port(n *kademlia.Node) string { return strconv.Itoa(int(n.Addr().Port())) }

func TestGet(t *testing.T) {
	// A UDP socket that never answers.
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	silentPort := strconv.Itoa(silent.LocalAddr().(*net.UDPAddr).Port)

	// Each subtest gets a fresh network: the closed clients of earlier
	// subtests would stay in the nodes' tables and slow lookups down by an
	// RPC timeout each.
	const boot = "BOOT"
	tests := []struct {
		name string
		args []string
		code int
		out  string
		err  string // in stderr
	}{
		{"string", []string{"127.0.0.1", boot, "greeting"}, 0, "Get result: hello world\n", ""},
		{"int", []string{"127.0.0.1", boot, "answer"}, 0, "Get result: 42\n", ""},
		{"bytes", []string{"127.0.0.1", boot, "raw"}, 0, "Get result: b'ab'\n", ""},
		{"float", []string{"-timeout", "2s", "127.0.0.1", boot, "pi"}, 0, "Get result: 3.25\n", ""},
		{"bool", []string{"127.0.0.1", boot, "yes"}, 0, "Get result: True\n", ""},
		{"not found", []string{"127.0.0.1", boot, "missing"}, 1, "Get result: None\n", ""},
		{"bad port", []string{"127.0.0.1", "notaport", "greeting"}, 2, "", "bad port"},
		{"port 0", []string{"127.0.0.1", "0", "greeting"}, 2, "", "bad port"},
		{"nobody at port", []string{"-timeout", "200ms", "127.0.0.1", silentPort, "greeting"}, 2, "", "bootstrap"},
		{"too few args", []string{"127.0.0.1", boot}, 2, "", "usage"},
		{"bad flag", []string{"-nope", "127.0.0.1", boot, "greeting"}, 2, "", "not defined"},
		{"bad timeout", []string{"-timeout", "0s", "127.0.0.1", boot, "greeting"}, 2, "", "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nodes := startNetwork(t, 3)
			ctx := testCtx(t)
			for key, v := range map[string]any{"greeting": "hello world", "answer": 42, "raw": []byte("ab"), "pi": 3.25, "yes": true} {
				if err := nodes[1].Set(ctx, key, v); err != nil {
					t.Fatalf("Set(%s): %v", key, err)
				}
			}
			args := append([]string{"-timeout", "1s"}, tt.args...)
			for i, a := range args {
				if a == boot {
					args[i] = port(nodes[0])
				}
			}
			var out, errOut bytes.Buffer
			code := run(ctx, args, &out, &errOut)
			if code != tt.code || out.String() != tt.out {
				t.Fatalf("exit %d, stdout %q (stderr %q); want %d, %q", code, out.String(), errOut.String(), tt.code, tt.out)
			}
			if !strings.Contains(errOut.String(), tt.err) {
				t.Errorf("stderr %q does not mention %q", errOut.String(), tt.err)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	got, err := resolve("::ffff:127.0.0.1", "8468")
	if err != nil || got != netip.MustParseAddrPort("127.0.0.1:8468") {
		t.Errorf("resolve mapped address = %v, %v", got, err)
	}
	if got, err := resolve("::1", "8468"); err != nil || got != netip.MustParseAddrPort("[::1]:8468") {
		t.Errorf("resolve IPv6 = %v, %v", got, err)
	}
	for _, p := range []string{"", "-1", "0", "65536", "x"} {
		if _, err := resolve("127.0.0.1", p); err == nil {
			t.Errorf("resolve port %q: no error", p)
		}
	}
}
