package kademlia

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// Validator checks the values of one namespace (EnvelopeValue) and
// chooses among them, as libp2p's record.Validator (see
// Config.Validators); values of no validator's namespace are plain, as in
// Python. Implementations must be safe for concurrent use and must not keep
// body or bodies.
type Validator interface {
	// Validate returns an error when body (after the namespace) is not a
	// valid value to store under key.
	Validate(key ID, body []byte) error
	// Select returns the index of the best of bodies, all valid; a store
	// that would replace a value by a lesser one is refused (ErrStaleRecord),
	// and among equals the held one (index 0) stays.
	Select(key ID, bodies [][]byte) (int, error)
}

// conditioner is implemented by validators whose bodies may carry a
// condition on the store that carries them (the signed records'
// compare-and-swap). condition checks body's condition against held, the
// body held now (nil if none), and returns body as it is to be stored and
// returned (without the condition).
type conditioner interface {
	condition(key ID, held, body []byte) ([]byte, error)
}

// storeGuard is a node's validator registry, the locks that make a
// store's check and put one step per key, and the seq floors of the
// signed records stored.
type storeGuard struct {
	validators map[string]Validator
	locks      [64]sync.Mutex
	floors     *seqFloors // the highest seq stored per record key (seqfloor.go)
}

// newStoreGuard returns the registry of Config.Validators over the
// defaults (a nil entry removes a namespace).
func newStoreGuard(cfg map[string]Validator) (*storeGuard, error) {
	g := &storeGuard{validators: map[string]Validator{RecordNamespace: recordValidator{}}, floors: newSeqFloors(maxSeqFloors)}
	for ns, v := range cfg {
		if err := checkNamespace(ns); err != nil {
			return nil, fmt.Errorf("%w: Config.Validators: %w", ErrBadConfig, err)
		}
		if v == nil {
			delete(g.validators, ns)
		} else {
			g.validators[ns] = v
		}
	}
	return g, nil
}

// lock locks the stripe of key.
func (g *storeGuard) lock(key ID) *sync.Mutex {
	mu := &g.locks[int(key[IDLen-1])%len(g.locks)]
	mu.Lock()
	return mu
}

// validated is a value split for its validator: v's namespace, body and
// validator (nil for a plain value).
type validated struct {
	ns   string
	body []byte
	val  Validator
}

// split returns v's namespace, body and validator; a malformed envelope
// is an error wrapping ErrBadRecord.
func (g *storeGuard) split(v Value) (validated, error) {
	ns, body, err := v.envelope()
	if err != nil || ns == "" {
		return validated{}, err
	}
	return validated{ns: ns, body: body, val: g.validators[ns]}, nil
}

// check validates v found or to be stored under key. want, if not empty,
// is the namespace the caller asked for: any other value is invalid.
func (g *storeGuard) check(key ID, v Value, want string) (validated, error) {
	s, err := g.split(v)
	switch {
	case err != nil:
		return s, err
	case want != "" && s.ns != want:
		return s, fmt.Errorf("%w: %s holds no %q value", ErrBadRecord, key, want)
	case s.val == nil:
		return s, nil
	}
	if err := s.val.Validate(key, s.body); err != nil {
		return s, refusal(s.ns, err)
	}
	return s, nil
}

// refusal wraps a validator's error so that it names a sentinel (the
// writer maps a Go holder's error reply back to it).
func refusal(ns string, err error) error {
	if isRefusal(err) {
		return err
	}
	return fmt.Errorf("%w: namespace %q: %w", ErrBadRecord, ns, err)
}

// refusals are the errors a Go holder refuses a store with, the more
// specific first (an ErrBadSignature is a bad record too).
var refusals = []error{ErrSeqConflict, ErrStaleRecord, ErrBadSignature, ErrBadRecord}

// isRefusal reports whether err is one of the refusals.
func isRefusal(err error) bool {
	for _, s := range refusals {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// canonical returns a validated value as it is stored: without a
// condition (a signed record's CAS).
func (s validated) canonical(key ID, v Value) (Value, []byte, error) {
	c, ok := s.val.(conditioner)
	if !ok {
		return v, s.body, nil
	}
	body, err := c.condition(key, nil, s.body)
	if err != nil || bytes.Equal(body, s.body) {
		return v, s.body, err
	}
	nv, err := EnvelopeValue(s.ns, body)
	return nv, body, err
}

// admit decides what a store of v under key keeps, given held (the zero
// Value if nothing is held): v itself (a plain value), v without its
// condition (a validated one), or a refusal. A validated value is never
// replaced by a plain one or one of another namespace, nor by one its
// validator's Select ranks lower.
func (g *storeGuard) admit(key ID, v, held Value) (Value, error) {
	s, err := g.check(key, v, "")
	if err != nil {
		return Value{}, err
	}
	var h validated
	if !held.IsZero() {
		if h, err = g.split(held); err != nil || (h.val != nil && h.val.Validate(key, h.body) != nil) {
			h = validated{} // a held value that no longer validates protects nothing
		}
	}
	if s.val == nil {
		if h.val != nil {
			return Value{}, fmt.Errorf("%w: %s holds a %q value, which a plain value cannot replace", ErrBadRecord, key, h.ns)
		}
		return v, nil
	}
	if h.val != nil && h.ns != s.ns {
		return Value{}, fmt.Errorf("%w: %s holds a %q value, which a %q value cannot replace", ErrBadRecord, key, h.ns, s.ns)
	}
	body := s.body
	if c, ok := s.val.(conditioner); ok {
		if body, err = c.condition(key, h.body, s.body); err != nil {
			return Value{}, err
		}
	}
	if h.val != nil && !bytes.Equal(h.body, body) {
		i, err := s.val.Select(key, [][]byte{h.body, body})
		if err != nil {
			return Value{}, refusal(s.ns, err)
		}
		if i != 1 {
			return Value{}, fmt.Errorf("%w: %s: the value held wins over the one sent (namespace %q)", ErrStaleRecord, key, s.ns)
		}
	}
	if bytes.Equal(body, s.body) {
		return v, nil
	}
	return EnvelopeValue(s.ns, body)
}

// putChecked stores v under key, as a Set, a republish or a read repair
// does (a put of the node's own), if the node's validators admit it (see
// admit).
func (n *Node) putChecked(key ID, v Value, opts PutOptions) error {
	return n.putFrom(netip.AddrPort{}, key, v, opts)
}

// putFrom is putChecked for a store request from src (the zero AddrPort
// for the node's own puts), within the quota of src's network
// (storeQuota). A signed record older than one stored here before (even
// if that one has expired since) is refused (seqFloors).
func (n *Node) putFrom(src netip.AddrPort, key ID, v Value, opts PutOptions) error {
	g := n.guard
	defer g.lock(key).Unlock()
	held, _, err := n.storage.Get(key)
	if err != nil {
		return fmt.Errorf("store %s: %w", key, err)
	}
	nv, err := g.admit(key, v, held)
	if err != nil {
		return err
	}
	now := n.cfg.Now()
	seq, isRecord := g.recordSeq(nv)
	if isRecord {
		if err := g.floors.check(key, seq, now); err != nil {
			return err
		}
	}
	if err := n.putCounted(src, key, nv, opts); err != nil {
		return err
	}
	n.noteKey(key)
	if isRecord {
		g.floors.raise(key, seq, now, 2*n.storage.TTL())
	}
	return nil
}

// putCounted puts v under key, counting it against the quota of src's
// network unless src is the zero AddrPort (the node's own put).
func (n *Node) putCounted(src netip.AddrPort, key ID, v Value, opts PutOptions) error {
	if !src.IsValid() || n.quota == nil {
		return n.storage.Put(key, v, opts)
	}
	return n.quota.put(sourceOf(src), key, itemSize(v), func() (time.Time, error) {
		if err := n.storage.Put(key, v, opts); err != nil {
			return time.Time{}, err
		}
		if m, ok, err := n.storage.Meta(key); err == nil && ok {
			return m.Expires, nil
		}
		return expiryFor(n.cfg.Now(), n.storage.TTL()), nil
	})
}

// admissible tells, without storing anything, whether this node would
// store v under key now.
func (n *Node) admissible(key ID, v Value) error {
	held, _, err := n.storage.Get(key)
	if err != nil {
		return nil // the store itself will tell
	}
	g := n.guard
	nv, err := g.admit(key, v, held)
	if err != nil {
		return err
	}
	if seq, ok := g.recordSeq(nv); ok {
		return g.floors.check(key, seq, n.cfg.Now())
	}
	return nil
}
