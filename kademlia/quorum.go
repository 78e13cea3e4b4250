package kademlia

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math"
)

// Quorum reads and read repair, and the signed records' calls (GetRecord,
// PutRecord). A read collects valid copies (lookup.go checks each with
// its Validator) and chooses one (choose); the copy chosen is written back
// to the holders that answered another one (repair).

// readPolicy is how a value lookup reads.
type readPolicy struct {
	// quorum is how many copies of the value chosen end the lookup (0 or
	// 1: the first valid value, as in Python); see quorumMet.
	quorum int
	// ns, if not empty, is the only namespace accepted: any other value
	// is invalid (GetRecord asks for RecordNamespace).
	ns string
	// local is this node's own valid copy, if any: one more answer to
	// choose from (repaired too, if stale).
	local *Value
	// failed are contacts that failed an earlier lookup of the same read
	// (a miss asks again, see read): they are not asked again, so that
	// dead peers and a liar's fakes cost the read once (issue 18).
	failed map[ID]struct{}
}

// quorumView: a quorum read of Q copies ends only once the quorumView*Q
// closest candidates have answered (see quorumMet).
const quorumView = 2

// need returns how many valid copies end the lookup.
func (p readPolicy) need() int { return max(p.quorum, 1) }

// quorumMet reports whether a value lookup has read enough: without a
// quorum, one valid value (Python's rule); with a quorum Q, Q copies of
// the value choose picks among those answered so far, once the
// quorumView*Q closest candidates in view have all answered. Copies from
// far peers alone cannot end it: liars anywhere on the path can answer
// stale copies first, but the nodes closest to the key, the holders, are
// asked before the read ends.
//
// Why twice Q: liars answer values, never contacts, so a lookup whose
// closest known candidates are liars learns of nobody closer; with only
// the Q closest required, 20% liars answering stale records made about 1%
// of reads (160 honest nodes, 40 liars, K 20, Q 3, simnet) return a stale
// record; with 2Q, none of 2,000 did, at 8.6 queries per read (a read run
// to convergence takes 21).
func (l *lookup) quorumMet() bool {
	q := l.pol.need()
	if len(l.values) < q {
		return false
	}
	if q == 1 {
		return true
	}
	for i, e := range l.cands.view() {
		if i == quorumView*q {
			break
		}
		if !e.answered {
			return false
		}
	}
	best, _, _ := l.n.guard.choose(l.target, l.values)
	copies := 0
	for _, a := range l.values {
		if a.value.Equal(best.value) {
			copies++
		}
	}
	return copies >= q
}

// choose returns the answer a read returns, the holders of other copies
// and whether the answer is a validated value. Validated values win over
// plain ones; among those of the first namespace seen, its Validator's
// Select chooses, and every holder of another copy is stale. Among plain
// values, the most common wins, as in Python, and none is stale.
func (g *storeGuard) choose(key ID, answers []queryResult) (best queryResult, stale []Contact, ok bool) {
	var (
		group  []int
		bodies [][]byte
		first  validated
	)
	for i, a := range answers {
		s, err := g.split(a.value)
		if err != nil || s.val == nil || (first.val != nil && s.ns != first.ns) {
			continue
		}
		if first.val == nil {
			first = s
		}
		group, bodies = append(group, i), append(bodies, s.body)
	}
	if first.val == nil {
		return mostCommon(answers), nil, false
	}
	i, err := first.val.Select(key, bodies)
	if err != nil || i < 0 || i >= len(group) {
		i = 0
	}
	best = answers[group[i]]
	if s, err := g.split(best.value); err == nil {
		if v, _, err := s.canonical(key, best.value); err == nil {
			best.value = v
		}
	}
	for _, a := range answers {
		if !a.value.Equal(best.value) {
			stale = append(stale, a.peer)
		}
	}
	return best, stale, true
}

// repair writes v, in the background, to the holders of stale or invalid
// copies and to the closest peer that answered without a value (the
// paper's caching store); and at once to this node, if its copy is
// among the stale ones.
func (l *lookup) repair(v Value, stale []Contact) {
	targets := stale
	what := "read repair"
	if len(stale) == 0 {
		what = "cache store"
	}
	if l.nearestWithout != nil {
		targets = append(targets[:len(targets):len(targets)], *l.nearestWithout)
	}
	if len(targets) == 0 {
		return
	}
	n, key := l.n, l.target
	remote := make([]Contact, 0, len(targets))
	for _, c := range targets {
		if c.ID != n.id {
			remote = append(remote, c)
			continue
		}
		// Our own stale copy is replaced at once: the read returns
		// with it in place.
		if opts, err := n.storeOptions(key); err == nil {
			if err := n.putChecked(key, v, opts); err != nil {
				n.log.Debug("kademlia: read repair: local store refused", "key", key, "err", err)
			}
		}
	}
	if len(remote) == 0 {
		return
	}
	n.spawn(what, func(ctx context.Context) {
		ok, failures := n.storeAll(ctx, remote, key, v)
		n.log.Debug("kademlia: "+what, "key", key, "stored", ok, "of", len(remote), "err", errors.Join(failures...))
	})
}

// read runs a value lookup of key by pol (the local copy, unless
// skipLocal, is one more answer) and, when it finds nothing, a second one
// keeping twice as many candidates in view (a defence against liars near
// the key). A node with no peers answers with its local copy.
func (n *Node) read(ctx context.Context, key ID, pol readPolicy, skipLocal bool) (Value, bool, error) {
	if !skipLocal {
		v, ok, err := n.storage.Get(key)
		if err != nil {
			return Value{}, false, n.closedOr(err)
		}
		if _, cerr := n.guard.check(key, v, pol.ns); ok && cerr == nil {
			pol.local = &v
		}
	}
	ctx, cancel, err := n.opContext(ctx)
	if err != nil {
		return Value{}, false, err
	}
	defer cancel()
	if n.rt.tab.len() == 0 {
		if pol.local != nil {
			return *pol.local, true, nil
		}
		return Value{}, false, fmt.Errorf("%w: no known peers to get %s from", ErrNoPeers, key)
	}
	res, err := n.lookupWith(ctx, key, true, n.cfg.K, pol)
	if err != nil {
		return Value{}, false, err
	}
	if res.copies == 0 && res.answered > 0 {
		// A miss asks again with twice the view: nodes that answer
		// lookups with only each other can fill a K-wide view and hide
		// the honest holders behind them (TestSuitePoisonedLookups).
		// It skips the contacts that failed the first.
		pol.failed = res.failed
		if res, err = n.lookupWith(ctx, key, true, 2*n.cfg.K, pol); err != nil {
			return Value{}, false, err
		}
	}
	if res.found {
		return res.value, true, nil
	}
	if res.answered == 0 {
		return Value{}, false, fmt.Errorf("%w: no peer answered the lookup of %s", ErrNoPeers, key)
	}
	return Value{}, false, nil
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
