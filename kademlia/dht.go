package kademlia

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math"

	"github.com/rpcudp/go-rpcudp/rpcudp"
)

// GetOptions qualifies a Node.Get or Node.GetRecord.
type GetOptions struct {
	// SkipLocal asks the network even when this node holds the key.
	SkipLocal bool
	// Quorum is how many valid copies a lookup collects before it chooses:
	// 0 means, for Get, the first value (as Python; a local copy at once),
	// for GetRecord Config.Quorum. The local copy counts as one.
	Quorum int
}

// Get returns the value stored under key (hashed with Digest). A value
// held here is returned at once; otherwise value lookups ask the network
// (see PROTOCOL.md). found is false when no peer has it. Namespaced values
// are checked by their Validator: invalid copies are ignored, Select picks
// among the valid ones, and holders of others are written the one chosen.
// opts is at most one GetOptions. The error wraps ErrNoPeers when nobody
// could be asked or answered, ErrValueType for a key Digest cannot hash.
func (n *Node) Get(ctx context.Context, key any, opts ...GetOptions) (v Value, found bool, err error) {
	o, err := oneOption(opts)
	if err != nil {
		return Value{}, false, err
	}
	dkey, err := Digest(key)
	if err != nil {
		return Value{}, false, err
	}
	if n.ctx.Err() != nil {
		return Value{}, false, ErrNodeClosed
	}
	if !o.SkipLocal && o.Quorum <= 1 {
		if v, ok, err := n.storage.Get(dkey); err != nil || ok {
			return v, ok, n.closedOr(err)
		}
	}
	// Without a quorum the local copy was looked up above: none.
	return n.read(ctx, dkey, readPolicy{quorum: o.Quorum}, o.SkipLocal || o.Quorum <= 1)
}

// oneOption returns the option of a variadic options parameter: the zero
// value if none, an error if more than one.
func oneOption[O any](opts []O) (O, error) {
	var o O
	switch len(opts) {
	case 0:
		return o, nil
	case 1:
		return opts[0], nil
	}
	return o, fmt.Errorf("kademlia: %d %T given, at most one", len(opts), o)
}

// closedOr returns ErrNodeClosed if the node is closed (a storage the node
// closed fails with ErrStorageClosed meanwhile), else err.
func (n *Node) closedOr(err error) error {
	if err != nil && n.ctx.Err() != nil {
		return ErrNodeClosed
	}
	return err
}

// Set stores value under key (hashed with Digest) at the K nodes closest
// to it, and keeps it here too as its original, set again every
// Config.OriginalRepublishInterval. value is a string, []byte, any integer,
// float64, float32, bool or a Value; other types are an error wrapping
// ErrValueType, and a value over MaxValueSize one wrapping
// rpcudp.ErrMessageTooLarge, before anything is sent. The error wraps
// ErrNoPeers when no peer is known or answered, ErrStoreFailed when every
// store failed; for a namespaced value, ErrBadRecord or ErrStaleRecord when
// this node refuses it, and ErrSeqConflict or ErrStaleRecord when a Go
// holder did (even if others stored it).
func (n *Node) Set(ctx context.Context, key any, value any) error {
	v, err := encodeSetValue(value)
	if err != nil {
		return err
	}
	dkey, err := Digest(key)
	if err != nil {
		return err
	}
	return n.setDigest(ctx, dkey, v, PutOptions{Original: true})
}

// encodeSetValue checks a value given to Set. Its errors already name the
// package (ErrValueType's text begins with "kademlia:").
func encodeSetValue(value any) (Value, error) {
	v, err := EncodeValue(value)
	if err != nil {
		return Value{}, err
	}
	if v.Len() > MaxValueSize {
		return Value{}, fmt.Errorf("kademlia: set: %w: the value takes %d bytes, at most %d fit a store request",
			rpcudp.ErrMessageTooLarge, v.Len(), MaxValueSize)
	}
	return v, nil
}

// setDigest runs a node lookup for key, stores v locally with local (Set:
// Original; republish: KeepExpiry) and at every node the lookup found.
func (n *Node) setDigest(ctx context.Context, key ID, v Value, local PutOptions) error {
	ctx, cancel, err := n.opContext(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	if n.rt.tab.len() == 0 {
		return fmt.Errorf("%w: no known peers to store %s at", ErrNoPeers, key)
	}
	if err := n.admissible(key, v); err != nil {
		return err // refused here: a Go holder would refuse it too
	}
	// The lookup keeps 2K candidates in view, so that K liars closer to
	// key than the honest nodes (answering lookups with only each other)
	// cannot end it before honest nodes near key were asked: the value
	// goes to the K closest that answered (TestSuitePoisonedLookups).
	res, err := n.lookupWidth(ctx, key, 2*n.cfg.K)
	if err != nil {
		return err
	}
	nodes := res.closest
	if len(nodes) == 0 {
		return fmt.Errorf("%w: no peer answered the lookup of %s", ErrNoPeers, key)
	}
	// Python stores locally only when this node is closer than the
	// farthest of the nodes found. We always keep our own originals (they
	// carry the Original flag that drives the 24 h republish) and the keys
	// we republish (we hold them already); for them the rule is moot.
	if err := n.putChecked(key, v, local); err != nil {
		if isRefusal(err) {
			return err // a newer value arrived meanwhile
		}
		n.log.Warn("kademlia: set: local store failed", "key", key, "err", err)
	}
	ok, failures := n.storeAll(ctx, nodes, key, v)
	n.log.Debug("kademlia: set", "key", key, "stored", ok, "of", len(nodes))
	if err := n.refusedBy(ctx, key, v, failures); err != nil {
		return fmt.Errorf("kademlia: set %s: stored at %d of %d nodes, refused by some: %w", key, ok, len(nodes), err)
	}
	if ok == 0 {
		for i, f := range failures {
			var sr *storeRefusal
			if errors.As(f, &sr) && (sr.refused == ErrSeqConflict || sr.refused == ErrStaleRecord) {
				// Not backed by the refuser's value (see refusedBy):
				// a failure, not the sentinel.
				failures[i] = fmt.Errorf("kademlia: store at %s: an unconfirmed refusal: %v", sr.peer, sr.err)
			}
		}
		if ctx.Err() != nil || n.ctx.Err() != nil {
			return n.ctxError(ctx, ctx.Err())
		}
		return fmt.Errorf("%w: %s at %d nodes: %w", ErrStoreFailed, key, len(nodes), errors.Join(failures...))
	}
	return nil
}

// refusedBy returns the first refusal among a Set's failures for a
// compare-and-swap (ErrSeqConflict), or else for a newer value held
// (ErrStaleRecord), that the refusing holder backs up: it must serve a
// valid value that refuses v the same way (see confirmRefusal). An error
// reply alone proves nothing: any peer can send one, and a single liar
// among the K closest would otherwise make every write fail.
func (n *Node) refusedBy(ctx context.Context, key ID, v Value, failures []error) error {
	for _, refused := range []error{ErrSeqConflict, ErrStaleRecord} {
		for _, f := range failures {
			var sr *storeRefusal
			if !errors.As(f, &sr) || sr.refused != refused || !n.confirmRefusal(ctx, key, v, sr) {
				continue
			}
			if refused == ErrStaleRecord {
				// The holders that just took v (Python nodes store
				// anything) are written the newer value back: a read
				// finds them stale and repairs them.
				if _, _, err := n.read(ctx, key, readPolicy{quorum: n.cfg.Quorum}, false); err != nil {
					n.log.Debug("kademlia: set: reading the newer value failed", "key", key, "err", err)
				}
			}
			return f
		}
	}
	return nil
}

// confirmRefusal asks the peer that refused to store v under key for the
// value it holds: the refusal stands if that value is valid and this
// node's own validators, holding it, would refuse v alike (a value of a
// namespace this node has no validator for cannot be judged here: the
// refusal stands). The value is
// then stored here too (as a read repair would), so that this node stops
// republishing the value it replaces.
func (n *Node) confirmRefusal(ctx context.Context, key ID, v Value, sr *storeRefusal) bool {
	if s, err := n.guard.split(v); err != nil || s.val == nil {
		return true // v is plain here: this node cannot judge, the holder's word stands
	}
	held, found, _, err := n.callFindValue(ctx, sr.peer, key)
	if err != nil || !found {
		n.log.Debug("kademlia: set: a refusal not backed by a value", "key", key, "peer", sr.peer, "err", err)
		return false
	}
	if _, err := n.guard.check(key, held, ""); err != nil {
		n.log.Debug("kademlia: set: a refusal backed by an invalid value", "key", key, "peer", sr.peer, "err", err)
		return false
	}
	if _, err := n.guard.admit(key, v, held); !errors.Is(err, sr.refused) {
		n.log.Debug("kademlia: set: a refusal its holder's value does not justify", "key", key, "peer", sr.peer, "err", err)
		return false
	}
	if opts, err := n.storeOptions(key); err == nil {
		if err := n.putChecked(key, held, opts); err != nil {
			n.log.Debug("kademlia: set: keeping the newer value refused", "key", key, "err", err)
		}
	}
	return true
}

// storeAll stores v under key at every node, concurrently, and returns how
// many stored it and the failures.
func (n *Node) storeAll(ctx context.Context, nodes []Contact, key ID, v Value) (ok int, failures []error) {
	errs := make([]error, len(nodes))
	fanOut(ctx, nodes, 0, func(i int, c Contact) { errs[i] = n.callStore(ctx, c, key, v) })
	for _, err := range errs {
		if err != nil {
			failures = append(failures, err)
		} else {
			ok++
		}
	}
	return ok, failures
}

// GetRecord returns the newest valid record of pub and salt: it collects
// valid copies until Quorum holders (opts, else Config.Quorum) answered the
// newest one seen and the 2*Quorum candidates closest to the key answered,
// then writes that record, in the background, to the holders of stale or
// invalid copies. found is false, with a nil error, when no valid record
// was found. The error wraps ErrNoPeers when nobody could be asked, and
// ErrBadRecord for a key or salt of the wrong size.
func (n *Node) GetRecord(ctx context.Context, pub ed25519.PublicKey, salt []byte, options ...GetOptions) (Record, bool, error) {
	opts, err := oneOption(options)
	if err != nil {
		return Record{}, false, err
	}
	if err := (Record{PublicKey: pub, Salt: salt}).checkSizes(); err != nil {
		return Record{}, false, err
	}
	quorum := opts.Quorum
	if quorum <= 0 {
		quorum = n.cfg.Quorum
	}
	v, found, err := n.read(ctx, RecordKey(pub, salt), readPolicy{quorum: quorum, ns: RecordNamespace}, opts.SkipLocal)
	if err != nil || !found {
		return Record{}, false, err
	}
	r, err := DecodeRecord(v)
	if err != nil { // cannot happen: the lookup validated it
		return Record{}, false, err
	}
	return r, true, nil
}

// PutRecordOptions qualifies a Node.PutRecord.
type PutRecordOptions struct {
	// Seq is the new record's seq; 0 means ExpectSeq+1 when ExpectSeq is
	// set, else one more than the newest record GetRecord finds (1 if none).
	Seq uint64
	// ExpectSeq makes the put a compare-and-swap that guarantees one thing:
	// no Go holder of a record newer than ExpectSeq takes it (ErrSeqConflict).
	// A holder at ExpectSeq or behind it (one that missed updates) takes it,
	// so ExpectSeq 5 over a record at seq 1 succeeds: a put never waits for
	// lagging holders to catch up. Python holders store anything.
	ExpectSeq *uint64
}

// PutRecord signs value under salt with priv and stores the record as Set
// does, and returns it. The error wraps ErrSeqConflict when a holder (this
// node included) refused the compare-and-swap, ErrStaleRecord when one holds
// a newer record (even if others stored it), else ErrNoPeers or
// ErrStoreFailed as Set's. A refusal counts only when the refuser serves a
// valid record that justifies it. Without Seq or ExpectSeq, a put that
// meets a newer record than its read found is tried once more, one higher.
// To store a record signed elsewhere, Set its Encode under its Key.
func (n *Node) PutRecord(ctx context.Context, priv ed25519.PrivateKey, salt, value []byte, options ...PutRecordOptions) (Record, error) {
	opts, err := oneOption(options)
	if err != nil {
		return Record{}, err
	}
	r, err := n.putRecord(ctx, priv, salt, value, opts)
	if opts.Seq == 0 && opts.ExpectSeq == nil && errors.Is(err, ErrStaleRecord) {
		// The read that chose the seq missed the newest record (its
		// holders did not answer in time), but a holder that refused
		// showed it, and this node now keeps it (see confirmRefusal):
		// one more try reads it and goes one higher.
		n.log.Debug("kademlia: put record: a newer record was found; trying again", "err", err)
		r, err = n.putRecord(ctx, priv, salt, value, opts)
	}
	return r, err
}

// putRecord is one attempt of PutRecord.
func (n *Node) putRecord(ctx context.Context, priv ed25519.PrivateKey, salt, value []byte, opts PutRecordOptions) (Record, error) {
	seq := opts.Seq
	if seq == 0 && opts.ExpectSeq != nil {
		seq = *opts.ExpectSeq + 1
	}
	if seq == 0 && len(priv) == ed25519.PrivateKeySize {
		old, found, err := n.GetRecord(ctx, priv.Public().(ed25519.PublicKey), salt, GetOptions{})
		switch {
		case err != nil:
			return Record{}, err
		case found && old.Seq == math.MaxUint64:
			return Record{}, fmt.Errorf("%w: seq %d cannot grow", ErrStaleRecord, old.Seq)
		case found:
			seq = old.Seq + 1
		default:
			seq = 1
		}
	}
	r, err := NewRecord(priv, salt, seq, value)
	if err != nil {
		return Record{}, err
	}
	v, err := EnvelopeValue(RecordNamespace, r.appendBody(nil, opts.ExpectSeq))
	if err != nil {
		return Record{}, err
	}
	if err := n.setDigest(ctx, r.Key(), v, PutOptions{Original: true}); err != nil {
		return Record{}, err
	}
	return r, nil
}
