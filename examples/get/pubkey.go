package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
)

// parsePublicKey reads a public key in hex (64 hex digits, as
// hex.EncodeToString(pub) prints it).
var errBadKey = errors.New("bad ed25519 key")

func parsePublicKey(hexText string) (ed25519.PublicKey, error) {
	b, err := hex.DecodeString(string(bytes.TrimSpace([]byte(hexText))))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: want %d hex digits of a public key", errBadKey, 2*ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}
