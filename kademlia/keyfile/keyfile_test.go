package keyfile

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

// TestKeyFile: Load creates a key file of mode 0600 and reads it back;
// Read reads it and refuses a missing file; corrupt text and a file that
// others may read are refused; ParsePublic takes hex with white space and
// nothing else.
func TestKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key")
	if _, err := Read(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Read of a missing file: %v, want fs.ErrNotExist", err)
	}
	priv, created, err := Load(path)
	if err != nil || !created {
		t.Fatalf("Load (new) = %v, %v", created, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, %v; want 0600", fi.Mode(), err)
	}
	again, created, err := Load(path)
	if err != nil || created || !again.Equal(priv) {
		t.Errorf("Load (again) = %v, %v; same key %v", created, err, again.Equal(priv))
	}
	if read, err := Read(path); err != nil || !read.Equal(priv) {
		t.Errorf("Read = same key %v, %v", read.Equal(priv), err)
	}
	pub := priv.Public().(ed25519.PublicKey)
	if p, err := ParsePublic(" " + hex.EncodeToString(pub) + "\n"); err != nil || !p.Equal(pub) {
		t.Errorf("ParsePublic = %x, %v", p, err)
	}
	for _, bad := range []string{"", "zz", hex.EncodeToString(pub[:31])} {
		if _, err := ParsePublic(bad); !errors.Is(err, errBadKey) {
			t.Errorf("ParsePublic(%q): %v, want errBadKey", bad, err)
		}
		if _, err := parsePrivate([]byte(bad)); !errors.Is(err, errBadKey) {
			t.Errorf("parsePrivate(%q): %v, want errBadKey", bad, err)
		}
	}
	if err := os.WriteFile(path, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(path); !errors.Is(err, errBadKey) {
		t.Errorf("Load of a corrupt file: %v, want errBadKey", err)
	}
	if runtime.GOOS == "windows" {
		return
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		if err := os.WriteFile(path, marshal(priv), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		if _, _, err := Load(path); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("Load of a key file of mode %04o: %v, want fs.ErrPermission", mode, err)
		}
		if _, err := Read(path); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("Read of a key file of mode %04o: %v, want fs.ErrPermission", mode, err)
		}
	}
}

// TestLoadMissingDir: Load reports a key file it cannot create and leaves
// nothing behind.
func TestLoadMissingDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "key")
	if _, created, err := Load(path); err == nil || created {
		t.Fatalf("Load in a missing directory = %v, %v; want an error", created, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load left %s behind: %v", path, err)
	}
}
