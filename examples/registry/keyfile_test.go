package main

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key")
	priv, created, err := loadOrCreateKey(path)
	if err != nil || !created {
		t.Fatalf("loadOrCreateKey (new) = %v, %v", created, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, %v; want 0600", fi.Mode(), err)
	}
	again, created, err := loadOrCreateKey(path)
	if err != nil || created || !again.Equal(priv) {
		t.Errorf("loadOrCreateKey (again) = %v, %v; same key %v", created, err, again.Equal(priv))
	}
	pub := priv.Public().(ed25519.PublicKey)
	if p, err := parsePublicKey(" " + string(marshalPrivateKey(priv)[:0]) + hex.EncodeToString(pub) + "\n"); err != nil || !p.Equal(pub) {
		t.Errorf("parsePublicKey = %x, %v", p, err)
	}
	for _, bad := range []string{"", "zz", hex.EncodeToString(pub[:31])} {
		if _, err := parsePublicKey(bad); err == nil {
			t.Errorf("parsePublicKey(%q) accepted", bad)
		}
		if _, err := parsePrivateKey([]byte(bad)); err == nil {
			t.Errorf("parsePrivateKey(%q) accepted", bad)
		}
	}
	if err := os.WriteFile(path, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := loadOrCreateKey(path); err == nil {
		t.Error("loadOrCreateKey accepted a corrupt file")
	}
	if runtime.GOOS == "windows" {
		return
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		if err := os.WriteFile(path, marshalPrivateKey(priv), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		if _, _, err := loadOrCreateKey(path); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("key file of mode %04o: %v, want fs.ErrPermission", mode, err)
		}
	}
}
