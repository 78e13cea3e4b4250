package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rpcudp/go-rpcudp/kademlia"
)

// TestSetSigned publishes a signed record twice with a key file that does
// not exist yet: the file is created with mode 0600, the second run
// publishes seq 2, and another node reads the newest value back.
func TestSetSigned(t *testing.T) {
	nodes := startNetwork(t, 3)
	keyFile := filepath.Join(t.TempDir(), "my.key")
	boot := strconv.Itoa(int(nodes[0].Addr().Port()))
	setSigned := func(value string) (string, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := run(testCtx(t), []string{"-sign", keyFile, "-timeout", "1s", "127.0.0.1", boot, "greeting", value}, &out, &errOut); code != 0 {
			t.Fatalf("set -sign %s: exit %d, stdout %q, stderr %q", value, code, out.String(), errOut.String())
		}
		return out.String(), errOut.String()
	}

	out, errOut := setSigned("hello")
	fi, err := os.Stat(keyFile)
	if err != nil {
		t.Fatalf("key file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	if !strings.Contains(errOut, "created") {
		t.Errorf("stderr %q does not say the key file was created", errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "Public key: ") || lines[1] != "Set greeting = hello (seq 1)" {
		t.Fatalf("first run printed %q", out)
	}
	pubHex := strings.TrimPrefix(lines[0], "Public key: ")
	pub, err := hex.DecodeString(pubHex)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		t.Fatalf("public key %q: %v", pubHex, err)
	}

	out2, errOut2 := setSigned("hello again")
	if want := "Public key: " + pubHex + "\nSet greeting = hello again (seq 2)\n"; out2 != want {
		t.Errorf("second run printed %q, want %q", out2, want)
	}
	if strings.Contains(errOut2, "created") {
		t.Errorf("second run created the key file again: %q", errOut2)
	}
	r, found, err := nodes[2].GetRecord(testCtx(t), ed25519.PublicKey(pub), []byte("greeting"), kademlia.GetOptions{SkipLocal: true})
	if err != nil || !found {
		t.Fatalf("GetRecord: found %v, %v", found, err)
	}
	if r.Seq != 2 || string(r.Value) != "hello again" {
		t.Errorf("GetRecord = seq %d %q, want seq 2 %q", r.Seq, r.Value, "hello again")
	}
}

func TestSetSignedBadArgs(t *testing.T) {
	dir := t.TempDir()
	notAKey := filepath.Join(dir, "bad.key")
	if err := os.WriteFile(notAKey, []byte("not hex\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		args []string
		err  string
	}{
		{"with -int", []string{"-sign", filepath.Join(dir, "k"), "-int", "127.0.0.1", "1", "n", "1"}, "-sign excludes"},
		{"bad key file", []string{"-sign", notAKey, "127.0.0.1", "1", "n", "v"}, "set:"},
		{"key file in a missing directory", []string{"-sign", filepath.Join(dir, "no", "k"), "127.0.0.1", "1", "n", "v"}, "set:"},
		{"too few args", []string{"-sign", filepath.Join(dir, "k"), "127.0.0.1", "1", "n"}, "usage"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run(testCtx(t), tt.args, &out, &errOut); code != 2 || out.Len() != 0 || !strings.Contains(errOut.String(), tt.err) {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2, nothing, %q", code, out.String(), errOut.String(), tt.err)
			}
		})
	}
}
