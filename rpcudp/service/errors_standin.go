package service

import (
	"errors"
	"strings"

	"github.com/rpcudp/go-rpcudp/rpcudp"
)

// This file stands in for rpcudp's (*Endpoint).RegisterError (issue 19)
// until it lands: error replies still carry rpcudp's codes (1, or 2 for
// the unknown-method kinds), and a Client finds the sentinel by the start
// of the message. To switch, replace the two functions below with
//
//	func registerError(ep *rpcudp.Endpoint, code rpcudp.ErrorCode, sentinel error) error {
//		return ep.RegisterError(code, sentinel)
//	}
//
//	func fromRemote(err error) error { return err }
//
// and delete the rest of this file.

// registerError is ep.RegisterError(code, sentinel), once rpcudp has it.
func registerError(ep *rpcudp.Endpoint, code rpcudp.ErrorCode, sentinel error) error {
	return nil
}

// fromRemote makes an error reply standing for one of wireErrors match
// it; other errors pass as they are. (With RegisterError, rpcudp does.)
func fromRemote(err error) error {
	var re *rpcudp.RemoteError
	if !errors.As(err, &re) {
		return err
	}
	for _, w := range wireErrors {
		if strings.HasPrefix(re.Message, w.err.Error()) {
			return &remoteErr{sentinel: w.err, re: re}
		}
	}
	return err
}

// remoteErr is an error reply recognised as one of this package's
// sentinels.
type remoteErr struct {
	sentinel error
	re       *rpcudp.RemoteError
}

func (e *remoteErr) Error() string   { return e.re.Error() }
func (e *remoteErr) Unwrap() []error { return []error{e.sentinel, e.re} }
