package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/rpcudp/go-rpcudp/kademlia"
)

// TestGetSigned reads a signed record by public key and salt: the newest
// value for its key; None (exit 1) for another key or another salt; exit
// 2 for a -pub that is not a public key in hex.
func TestGetSigned(t *testing.T) {
	nodes := startNetwork(t, 3)
	ctx := testCtx(t)
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"v1", "v2 is newer"} {
		if _, err := nodes[1].PutRecord(ctx, priv, []byte("greeting"), []byte(v), kademlia.PutRecordOptions{}); err != nil {
			t.Fatalf("PutRecord(%s): %v", v, err)
		}
	}
	other, _, _ := ed25519.GenerateKey(nil)
	pubHex, otherHex := hex.EncodeToString(pub), hex.EncodeToString(other)
	boot := port(nodes[0])
	tests := []struct {
		name string
		args []string
		code int
		out  string
		err  string // in stderr
	}{
		{"newest", []string{"-pub", pubHex, "127.0.0.1", boot, "greeting"}, 0, "Get result: v2 is newer\n", ""},
		{"upper-case hex", []string{"-pub", strings.ToUpper(pubHex), "127.0.0.1", boot, "greeting"}, 0, "Get result: v2 is newer\n", ""},
		{"other salt", []string{"-pub", pubHex, "127.0.0.1", boot, "farewell"}, 1, "Get result: None\n", ""},
		{"wrong key", []string{"-pub", otherHex, "127.0.0.1", boot, "greeting"}, 1, "Get result: None\n", ""},
		{"plain get of the name", []string{"127.0.0.1", boot, "greeting"}, 1, "Get result: None\n", ""},
		{"bad hex", []string{"-pub", "xyz", "127.0.0.1", boot, "greeting"}, 2, "", "-pub"},
		{"short key", []string{"-pub", pubHex[:62], "127.0.0.1", boot, "greeting"}, 2, "", "-pub"},
		{"too few args", []string{"-pub", pubHex, "127.0.0.1", boot}, 2, "", "usage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(ctx, append([]string{"-timeout", "1s"}, tt.args...), &out, &errOut)
			if code != tt.code || out.String() != tt.out {
				t.Fatalf("exit %d, stdout %q (stderr %q); want %d, %q", code, out.String(), errOut.String(), tt.code, tt.out)
			}
			if !strings.Contains(errOut.String(), tt.err) {
				t.Errorf("stderr %q does not mention %q", errOut.String(), tt.err)
			}
		})
	}
}
