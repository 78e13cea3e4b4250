package main

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/netip"
)

// errStopRefused: a stop from a caller not allowed to stop the server.
var errStopRefused = errors.New("stop refused")

// mayStop allows a stop from a loopback address, or, with a stop token
// set, from anywhere with that token (the argument of stop).
func mayStop(from netip.AddrPort, stopToken string, token []string) error {
	switch {
	case from.Addr().Unmap().IsLoopback():
		return nil
	case stopToken == "":
		return fmt.Errorf("%w: only from a loopback address (see -stop-token)", errStopRefused)
	case len(token) != 1 || subtle.ConstantTimeCompare([]byte(token[0]), []byte(stopToken)) != 1:
		return fmt.Errorf("%w: from %s, stop(token) needs the -stop-token", errStopRefused, from.Addr())
	}
	return nil
}
