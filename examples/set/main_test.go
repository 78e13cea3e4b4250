package main

import (
	"bytes"
	"net"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/rpcudp/go-rpcudp/kademlia"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSet(t *testing.T) {
	// Each subtest gets a fresh network: the closed clients of earlier
	// subtests would stay in the nodes' tables and slow lookups down by an
	// RPC timeout each.
	const boot = "BOOT"
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	silentPort := strconv.Itoa(silent.LocalAddr().(*net.UDPAddr).Port)

	tests := []struct {
		name string
		args []string
		code int
		out  string
		want any    // the value a Get from another node decodes to
		err  string // in stderr
	}{
		{"string", []string{"127.0.0.1", boot, "greeting", "hello world"}, 0, "Set greeting = hello world\n", "hello world", ""},
		{"digits stay a string", []string{"127.0.0.1", boot, "s42", "42"}, 0, "Set s42 = 42\n", "42", ""},
		{"int", []string{"-int", "127.0.0.1", boot, "answer", "-42"}, 0, "Set answer = -42\n", int64(-42), ""},
		{"big uint", []string{"-int", "127.0.0.1", boot, "big", "18446744073709551615"}, 0, "Set big = 18446744073709551615\n", uint64(18446744073709551615), ""},
		{"float", []string{"-float", "127.0.0.1", boot, "three", "3"}, 0, "Set three = 3.0\n", 3.0, ""},
		{"bytes", []string{"-bytes", "127.0.0.1", boot, "raw", "ab"}, 0, "Set raw = b'ab'\n", []byte("ab"), ""},
		{"not an int", []string{"-int", "127.0.0.1", boot, "k", "x1"}, 2, "", nil, "-int"},
		{"not a float", []string{"-float", "127.0.0.1", boot, "k", "one"}, 2, "", nil, "-float"},
		{"two types", []string{"-int", "-float", "127.0.0.1", boot, "k", "1"}, 2, "", nil, "exclude"},
		{"bad port", []string{"127.0.0.1", "99999", "k", "v"}, 2, "", nil, "bad port"},
		{"nobody at port", []string{"-timeout", "200ms", "127.0.0.1", silentPort, "k", "v"}, 2, "", nil, "bootstrap"},
		{"too few args", []string{"127.0.0.1", boot, "k"}, 2, "", nil, "usage"},
		{"flags after positionals", []string{"127.0.0.1", boot, "k", "1", "-int"}, 2, "", nil, "usage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nodes := startNetwork(t, 3)
			args := append([]string{"-timeout", "1s"}, tt.args...)
			for i, a := range args {
				if a == boot {
					args[i] = strconv.Itoa(int(nodes[0].Addr().Port()))
				}
			}
			var out, errOut bytes.Buffer
			code := run(testCtx(t), args, &out, &errOut)
			if code != tt.code || out.String() != tt.out {
				t.Fatalf("exit %d, stdout %q (stderr %q); want %d, %q", code, out.String(), errOut.String(), tt.code, tt.out)
			}
			if !strings.Contains(errOut.String(), tt.err) {
				t.Errorf("stderr %q does not mention %q", errOut.String(), tt.err)
			}
			if tt.want == nil {
				return
			}
			key := tt.args[len(tt.args)-2]
			v, found, err := nodes[2].Get(testCtx(t), key)
			if err != nil || !found {
				t.Fatalf("Get(%s) from another node: found %v, %v", key, found, err)
			}
			got, err := v.Interface()
			if err != nil {
				t.Fatal(err)
			}
			want, _ := kademlia.EncodeValue(tt.want)
			if !v.Equal(want) {
				t.Errorf("stored %#v (%v), want %#v", got, v, tt.want)
			}
		})
	}
}
