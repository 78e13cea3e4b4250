package main

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

// The key file of signed records: an ed25519 key (crypto/ed25519) kept as
// the hex of its 32-byte seed, readable by its owner only.

// errBadKey reports a key file or hex key that cannot be parsed.
var errBadKey = errors.New("bad ed25519 key")

// marshalPrivateKey returns the text of a key file for priv: the hex of
// its 32-byte seed and a newline. Keep it secret.
func marshalPrivateKey(priv ed25519.PrivateKey) []byte {
	return append(hex.AppendEncode(nil, priv.Seed()), '\n')
}

// parsePrivateKey reads the text marshalPrivateKey makes (64 hex digits;
// surrounding white space is ignored).
func parsePrivateKey(text []byte) (ed25519.PrivateKey, error) {
	seed, err := hex.DecodeString(string(bytes.TrimSpace(text)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%w: want %d hex digits of a private key seed", errBadKey, 2*ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// parsePublicKey reads a public key in hex (64 hex digits, as
// hex.EncodeToString(pub) prints it).
func parsePublicKey(hexText string) (ed25519.PublicKey, error) {
	b, err := hex.DecodeString(string(bytes.TrimSpace([]byte(hexText))))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: want %d hex digits of a public key", errBadKey, 2*ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// loadOrCreateKey reads the private key in the file at path
// (marshalPrivateKey's text) or, when there is no such file, creates it
// with a new random key, readable by its owner only (mode 0600). created
// reports that the key is new.
//
// An existing file that its group or others may read or write (mode bits
// 0077, as ssh refuses private keys) is refused, with an error wrapping
// fs.ErrPermission: the key may have leaked, and with it the right to
// write every record it signs. Mode bits are not checked on Windows.
func loadOrCreateKey(path string) (priv ed25519.PrivateKey, created bool, err error) {
	f, err := os.Open(path)
	if err == nil {
		defer f.Close()
		return readKeyFile(f, path)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	_, priv, err = ed25519.GenerateKey(nil)
	if err != nil {
		return nil, false, err
	}
	f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, false, err
	}
	if _, err := f.Write(marshalPrivateKey(priv)); err != nil {
		f.Close()
		os.Remove(path)
		return nil, false, err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return nil, false, err
	}
	return priv, true, nil
}

// readKeyFile reads the private key in f, opened at path, checking its
// mode bits first (see loadOrCreateKey).
func readKeyFile(f *os.File, path string) (ed25519.PrivateKey, bool, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, false, err
	}
	if perm := fi.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return nil, false, fmt.Errorf("%s: %w: the key file has mode %04o: others may read it; make it 0600 (chmod 600) if the key is still secret",
			path, fs.ErrPermission, perm)
	}
	text, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return nil, false, err
	}
	priv, err := parsePrivateKey(text)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", path, err)
	}
	return priv, false, nil
}
