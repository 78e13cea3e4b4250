package kademlia

import (
	"container/list"
	"fmt"
	"sync"
	"time"
)

// A signed record held here protects its key from older records only
// while it is held: once it expired, a replay of an older record, signed
// long ago, would be taken again (BEP 44 has the same weakness; issue 18,
// finding 10). So the node remembers the highest seq it stored for each
// record key past the record's expiry (seqFloors), and refuses a lower
// one (ErrStaleRecord) as if the newer record were still held.

// maxSeqFloors bounds the record keys whose highest seq is remembered
// (some 4 MiB at most): beyond, the key stored longest ago is forgotten.
const maxSeqFloors = 1 << 16

// seqFloors is the highest seq stored for each record key, each kept
// until a life (twice the storage TTL: the record's expiry, then one TTL
// more) after the last store of the key. At most max are kept, the least
// recently stored forgotten first; since every entry lives as long, that
// one also expires first, so expired entries are swept from the front.
type seqFloors struct {
	max int

	mu    sync.Mutex
	keys  map[ID]*list.Element // of *seqFloor
	order *list.List           // least recently stored first
}

type seqFloor struct {
	key   ID
	seq   uint64
	until time.Time
}

func newSeqFloors(max int) *seqFloors {
	return &seqFloors{max: max, keys: make(map[ID]*list.Element), order: list.New()}
}

// check returns an error wrapping ErrStaleRecord if a record of seq was
// stored under key after a record of a higher seq (that may since have
// expired).
func (f *seqFloors) check(key ID, seq uint64, now time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sweep(now)
	if e, ok := f.keys[key]; ok && e.Value.(*seqFloor).seq > seq {
		return fmt.Errorf("%w: %s: a record of seq %d was stored here, this one has seq %d",
			ErrStaleRecord, key, e.Value.(*seqFloor).seq, seq)
	}
	return nil
}

// raise records that a record of seq was stored under key at now, to be
// remembered until now+life.
func (f *seqFloors) raise(key ID, seq uint64, now time.Time, life time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sweep(now)
	until := expiryFor(now, life)
	if e, ok := f.keys[key]; ok {
		fl := e.Value.(*seqFloor)
		fl.seq, fl.until = max(fl.seq, seq), until
		f.order.MoveToBack(e)
		return
	}
	f.keys[key] = f.order.PushBack(&seqFloor{key: key, seq: seq, until: until})
	for f.order.Len() > f.max {
		f.remove(f.order.Front())
	}
}

// sweep forgets the entries expired at now.
func (f *seqFloors) sweep(now time.Time) {
	for e := f.order.Front(); e != nil && !now.Before(e.Value.(*seqFloor).until); e = f.order.Front() {
		f.remove(e)
	}
}

func (f *seqFloors) remove(e *list.Element) {
	delete(f.keys, e.Value.(*seqFloor).key)
	f.order.Remove(e)
}

// len returns the number of keys remembered.
func (f *seqFloors) len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.order.Len()
}

// recordSeq returns the seq of v if it is a signed record that the
// node's default record validator checks.
func (g *storeGuard) recordSeq(v Value) (uint64, bool) {
	s, err := g.split(v)
	if err != nil || s.ns != RecordNamespace {
		return 0, false
	}
	if _, ok := s.val.(recordValidator); !ok {
		return 0, false
	}
	r, _, err := parseRecordBody(s.body)
	if err != nil {
		return 0, false
	}
	return r.Seq, true
}
