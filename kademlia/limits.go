package kademlia

import (
	"errors"
	"fmt"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/rpcudp/go-rpcudp/rpcudp/wire"
)

// NoLimit turns off the budget of the Config fields that say so.
const NoLimit = -1

// The ranges of Config's (and a State file's) numbers, past which they are
// ErrBadConfig, and the budgets' defaults.
const (
	// maxK is the largest Config.K (and State.K): a lookup reserves K
	// entries, a find_node answer carries K contacts.
	maxK = 1024
	// maxAlpha is the largest Config.Alpha (and State.Alpha).
	maxAlpha        = 256
	maxB            = IDLen * 8
	maxMaxFailures  = 1000
	maxTimeout      = time.Hour
	maxReplySources = 1 << 20

	defaultHandOffKeys  = 64
	defaultHandOffRate  = 64 << 10
	defaultReplyRate    = 64 << 10
	defaultReplyBurst   = 256 << 10
	defaultReplySources = 4096
	// maxDatagram is the largest datagram rpcudp sends: a budget's bucket
	// holds at least that much, so that every answer can fit.
	maxDatagram = wire.HeaderLen + rpcudp.MaxBody
)

// ErrBadConfig: a Config field (or a State file's number) is out of range.
var ErrBadConfig = errors.New("kademlia: bad config")

// rangeCheck is one field's allowed range.
type rangeCheck struct {
	name     string
	v, max   int64
	noLimit  bool // NoLimit is allowed
	duration bool // print as a duration
}

// checkRanges refuses negative numbers and numbers beyond their range.
func (cfg Config) checkRanges() error {
	for _, f := range []rangeCheck{
		{name: "K", v: int64(cfg.K), max: maxK},
		{name: "Alpha", v: int64(cfg.Alpha), max: maxAlpha},
		{name: "Quorum", v: int64(cfg.Quorum), max: maxK},
		{name: "B", v: int64(cfg.B), max: maxB},
		{name: "MaxFailures", v: int64(cfg.MaxFailures), max: maxMaxFailures},
		{name: "RPCTimeout", v: int64(cfg.RPCTimeout), max: int64(maxTimeout), duration: true},
		{name: "QueryTimeout", v: int64(cfg.QueryTimeout), max: int64(maxTimeout), duration: true},
		{name: "RefreshInterval", v: int64(cfg.RefreshInterval), max: -1, duration: true},
		{name: "OriginalRepublishInterval", v: int64(cfg.OriginalRepublishInterval), max: -1, duration: true},
		{name: "RevalidateInterval", v: int64(cfg.RevalidateInterval), max: -1, duration: true},
		{name: "HandOffKeys", v: int64(cfg.HandOffKeys), max: -1, noLimit: true},
		{name: "HandOffBytesPerSecond", v: int64(cfg.HandOffBytesPerSecond), max: -1, noLimit: true},
		{name: "ReplyBytesPerSecond", v: int64(cfg.ReplyBytesPerSecond), max: -1, noLimit: true},
		{name: "ReplyBurst", v: int64(cfg.ReplyBurst), max: -1},
		{name: "ReplySources", v: int64(cfg.ReplySources), max: maxReplySources},
	} {
		if err := f.check(); err != nil {
			return err
		}
	}
	return nil
}

func (f rangeCheck) check() error {
	show := func(v int64) any {
		if f.duration {
			return time.Duration(v)
		}
		return v
	}
	switch {
	case f.v < 0 && !(f.noLimit && f.v == NoLimit):
		return fmt.Errorf("%w: Config.%s is negative (%v)", ErrBadConfig, f.name, show(f.v))
	case f.max >= 0 && f.v > f.max:
		return fmt.Errorf("%w: Config.%s is %v, more than its maximum %v", ErrBadConfig, f.name, show(f.v), show(f.max))
	}
	return nil
}

// fillBudgets fills in the zero budget fields.
func (cfg *Config) fillBudgets() {
	orDefault := func(p *int, def int) {
		if *p == 0 {
			*p = def
		}
	}
	orDefault(&cfg.HandOffKeys, defaultHandOffKeys)
	orDefault(&cfg.HandOffBytesPerSecond, defaultHandOffRate)
	orDefault(&cfg.ReplyBytesPerSecond, defaultReplyRate)
	orDefault(&cfg.ReplyBurst, defaultReplyBurst)
	orDefault(&cfg.ReplySources, defaultReplySources)
	cfg.ReplyBurst = max(cfg.ReplyBurst, maxDatagram)
}

// checkStateNumbers applies Config's ranges to a State file's k and alpha.
func checkStateNumbers(k, alpha int) error {
	return Config{K: k, Alpha: alpha}.checkRanges()
}
