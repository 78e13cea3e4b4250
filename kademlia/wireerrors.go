package kademlia

import (
	"errors"

	"github.com/rpcudp/go-rpcudp/rpcudp"
)

// wireErrors are the sentinels a Go holder's error reply names by code, so
// that errors.Is works at the caller (rpcudp.Endpoint.RegisterError; codes
// 100-199 are kademlia's). The message text is unchanged: Python ignores
// error replies. The more specific first: an error wrapping two gets the
// first's code.
var wireErrors = []struct {
	code rpcudp.ErrorCode
	err  error
}{
	{100, ErrSeqConflict},
	{101, ErrStaleRecord},
	{102, ErrBadSignature},
	{103, ErrBadRecord},
	{104, ErrStorageFull},
	// ErrValueType is not here: a store of a value Python cannot hold is
	// bad arguments (rpcudp.ErrBadArgs, code 3), as it always was.
}

// registerErrors registers wireErrors on ep.
func registerErrors(ep *rpcudp.Endpoint) error {
	for _, w := range wireErrors {
		if err := ep.RegisterError(w.code, w.err); err != nil {
			return err
		}
	}
	return nil
}

// refusalOf returns the refusal (see refusals) a store's error names, or nil.
func refusalOf(err error) error {
	for _, s := range refusals {
		if errors.Is(err, s) {
			return s
		}
	}
	return nil
}
