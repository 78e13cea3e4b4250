// Package keyfile keeps the ed25519 key that signs a node's records (see
// kademlia.Record) in a file: the hex of its 32-byte seed and a newline,
// readable by its owner only, as ssh keeps private keys. Load creates the
// file on first use; Read only reads it; ParsePublic reads the public key
// a reader of the records is given, in hex.
//
// Whoever holds the file can write every record the key signs, so a file
// that its group or others may read or write (mode bits 0077) is refused
// with an error wrapping fs.ErrPermission. Mode bits are not checked on
// Windows.
package keyfile

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
)

// errBadKey reports a key file or hex key that cannot be parsed.
var errBadKey = errors.New("bad ed25519 key")

// maxFileSize bounds what is read of a key file (its text is 65 bytes).
const maxFileSize = 4096

// Load reads the private key in the file at path or, when there is no
// such file, creates it with a new random key, readable by its owner only
// (mode 0600). created reports that the key is new. An existing file that
// others may read is refused (see the package doc).
func Load(path string) (priv ed25519.PrivateKey, created bool, err error) {
	priv, err = Read(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return priv, false, err
	}
	_, priv, err = ed25519.GenerateKey(nil)
	if err != nil {
		return nil, false, err
	}
	if err := create(path, marshal(priv)); err != nil {
		return nil, false, err
	}
	return priv, true, nil
}

// Read reads the private key in the existing file at path, which Load
// wrote; a file that others may read is refused (see the package doc).
func Read(path string) (ed25519.PrivateKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if perm := fi.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return nil, fmt.Errorf("%s: %w: the key file has mode %04o: others may read it; make it 0600 (chmod 600) if the key is still secret",
			path, fs.ErrPermission, perm)
	}
	text, err := io.ReadAll(io.LimitReader(f, maxFileSize))
	if err != nil {
		return nil, err
	}
	priv, err := parsePrivate(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return priv, nil
}

// ParsePublic reads a public key in hex (64 hex digits, as
// hex.EncodeToString(pub) prints it; surrounding white space is ignored).
func ParsePublic(hexText string) (ed25519.PublicKey, error) {
	b, err := hex.DecodeString(string(bytes.TrimSpace([]byte(hexText))))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: want %d hex digits of a public key", errBadKey, 2*ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// create writes text to a new file at path, mode 0600, failing if the
// file exists (another process may have created it since Read looked);
// it leaves no partial file behind.
func create(path string, text []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(text); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

// marshal returns the text of a key file for priv: the hex of its 32-byte
// seed and a newline.
func marshal(priv ed25519.PrivateKey) []byte {
	return append(hex.AppendEncode(nil, priv.Seed()), '\n')
}

// parsePrivate reads the text marshal makes (64 hex digits; surrounding
// white space is ignored).
func parsePrivate(text []byte) (ed25519.PrivateKey, error) {
	seed, err := hex.DecodeString(string(bytes.TrimSpace(text)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%w: want %d hex digits of a private key seed", errBadKey, 2*ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}
