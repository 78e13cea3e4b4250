package kademlia

import (
	"errors"
	"strings"

	"github.com/rpcudp/go-rpcudp/rpcudp"
)

// A stand-in for rpcudp's (*Endpoint).RegisterError until it lands (issue
// 19's contract). To switch: delete this file, make registerError's one
// call `ep.RegisterError(w.code, w.err)` and refusalOf's `errors.Is(err, s)`.

// registerError will be ep.RegisterError(code, sentinel).
func registerError(ep *rpcudp.Endpoint, code rpcudp.ErrorCode, sentinel error) error { return nil }

// remoteIs will be errors.Is: until error replies carry registered codes,
// a Go holder's sentinel is known by the text of its error reply.
func remoteIs(err, sentinel error) bool {
	if errors.Is(err, sentinel) {
		return true
	}
	var rerr *rpcudp.RemoteError
	return errors.As(err, &rerr) && strings.Contains(rerr.Message, sentinel.Error())
}
