package main

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rpcudp/go-rpcudp/kademlia"
)

// defaultSlots is how many DHT keys hold the records of one name.
const defaultSlots = 16

var (
	// errFull is returned by announce when every slot of a name holds a
	// live record of another address.
	errFull = errors.New("registry: every slot of the name is taken")
	// errNameTooLong: the slot salts of the name would not fit a record's
	// salt (kademlia.MaxSaltSize bytes).
	errNameTooLong = errors.New("registry: name too long")
)

// recordStore is the part of *kademlia.Node the registry uses.
type recordStore interface {
	// GetRecord is called with SkipLocal: a slot is read from the network.
	GetRecord(ctx context.Context, pub ed25519.PublicKey, salt []byte, o ...kademlia.GetOptions) (kademlia.Record, bool, error)
	PutRecord(ctx context.Context, priv ed25519.PrivateKey, salt, value []byte, o ...kademlia.PutRecordOptions) (kademlia.Record, error)
}

// registryOptions tunes a registry. Zero fields take the defaults.
type registryOptions struct {
	// slots is the number of DHT keys per name (default defaultSlots).
	// Every announcer and looker-up of a name must use the same value.
	slots int
	// now is the clock (default time.Now); tests inject a fake one.
	now func() time.Time
	// logger gets renewal failures (default: discarded).
	logger *slog.Logger
	// key signs the announcements of this registry (announce, renewAll,
	// withdraw): only its holder can write, overwrite or withdraw them.
	// Nil: each name's openKey, which anybody can compute.
	key ed25519.PrivateKey
	// owner is the key whose announcements lookup reads. Nil: key's public
	// key, or each name's open key when key is nil too.
	owner ed25519.PublicKey
}

// registry is service discovery on a Kademlia DHT, in the manner of RPyC's
// registry: services announce NAME -> ADDR with a time to live and keep
// renewing it; a service that stops renewing vanishes after its TTL without
// anyone deleting anything.
//
// Representation: a name's services are signed records (kademlia.Record)
// of one owner key under the salts slotKey(NAME, SLOT), SLOT in
// 0..Slots-1, each "ADDR|EXPIRY_UNIX_MILLIS". Go nodes keep only validly
// signed records of a higher seq than they hold, and reads keep the newest
// valid copy: without the owner's private key nobody can add, overwrite or
// withdraw a service, nor bring an old record back. The replicas of a
// service share the owner key (one key file); lookups take its public key.
// Without keys, a name's openKey is used: anybody can write those records.
//
// A service probes from the slot its address hashes to and takes the first
// slot empty, expired or already its own, with a compare-and-swap on the
// seq it read: of two replicas racing for a slot, the loser re-reads and
// takes another. lookup reads every slot at once and keeps the records
// whose expiry is ahead. Expiries are the announcer's wall-clock times, so
// clocks should roughly agree (within a fraction of the TTL).
type registry struct {
	dht   recordStore
	slots int
	now   func() time.Time
	log   *slog.Logger
	key   ed25519.PrivateKey // nil: open keys
	owner ed25519.PublicKey  // nil: key's, or open keys

	mu  sync.Mutex
	ads map[adKey]*announcement
}

type adKey struct{ name, addr string }

// announcement is one (name, addr) this registry keeps alive.
type announcement struct {
	name, addr string
	ttl        time.Duration
	slot       int
	seq        uint64 // of the last record written
}

// newRegistry returns a registry working on dht.
func newRegistry(dht recordStore, cfg registryOptions) *registry {
	if cfg.slots <= 0 {
		cfg.slots = defaultSlots
	}
	if cfg.now == nil {
		cfg.now = time.Now
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	if cfg.owner == nil && cfg.key != nil {
		cfg.owner = cfg.key.Public().(ed25519.PublicKey)
	}
	return &registry{dht: dht, slots: cfg.slots, now: cfg.now, log: cfg.logger, key: cfg.key, owner: cfg.owner,
		ads: map[adKey]*announcement{}}
}

// slotKey is the record salt of one slot of name.
func slotKey(name string, slot int) string {
	return "registry:" + name + ":" + strconv.Itoa(slot)
}

// openKey is the key of an open name: derived from the name alone, so that
// registries without keys agree on it, and anybody can sign with it.
func openKey(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("registry open name\x00" + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

// keys returns the key announcements of name are signed with, its public
// key, and the key whose records of name lookup reads.
func (r *registry) keys(name string) (signer ed25519.PrivateKey, pub, owner ed25519.PublicKey) {
	signer, owner = r.key, r.owner
	if signer == nil {
		signer = openKey(name)
	}
	if owner == nil {
		owner = openKey(name).Public().(ed25519.PublicKey)
	}
	return signer, signer.Public().(ed25519.PublicKey), owner
}

// checkName reports an empty name, or one too long for a slot's salt.
func (r *registry) checkName(name string) error {
	switch {
	case name == "":
		return errors.New("registry: empty name")
	case len(slotKey(name, r.slots-1)) > kademlia.MaxSaltSize:
		return fmt.Errorf("%w: %d bytes, at most %d", errNameTooLong, len(name), kademlia.MaxSaltSize-len(slotKey("", r.slots-1)))
	}
	return nil
}

// record is one decoded slot value.
type record struct {
	addr    string
	expires time.Time
}

func (r record) encode() string {
	return r.addr + "|" + strconv.FormatInt(r.expires.UnixMilli(), 10)
}

// parseRecord decodes "ADDR|EXPIRY_UNIX_MILLIS".
func parseRecord(s string) (record, bool) {
	i := strings.LastIndexByte(s, '|')
	if i <= 0 {
		return record{}, false
	}
	ms, err := strconv.ParseInt(s[i+1:], 10, 64)
	if err != nil {
		return record{}, false
	}
	return record{addr: s[:i], expires: time.UnixMilli(ms)}, true
}

// slotState is what one slot read returned.
type slotState struct {
	rec     record
	present bool   // a well-formed announcement is stored
	seq     uint64 // the record's seq (0: no record)
	err     error
}

// readSlot reads one slot of the records of pub from the network. It skips
// the node's own copy: the copy a node keeps of its own put would hide
// another replica's later write.
func (r *registry) readSlot(ctx context.Context, pub ed25519.PublicKey, name string, slot int) slotState {
	rec, found, err := r.dht.GetRecord(ctx, pub, []byte(slotKey(name, slot)), kademlia.GetOptions{SkipLocal: true})
	if err != nil {
		return slotState{err: err}
	}
	if !found {
		return slotState{}
	}
	ad, ok := parseRecord(string(rec.Value))
	return slotState{rec: ad, present: ok, seq: rec.Seq}
}

// readSlots reads every slot of the records of pub under name
// concurrently. It fails only when every read failed.
func (r *registry) readSlots(ctx context.Context, pub ed25519.PublicKey, name string) ([]slotState, error) {
	states := make([]slotState, r.slots)
	var wg sync.WaitGroup
	for i := range states {
		wg.Go(func() { states[i] = r.readSlot(ctx, pub, name, i) })
	}
	wg.Wait()
	var errs []error
	for _, s := range states {
		errs = append(errs, s.err)
	}
	if !slices.Contains(errs, nil) {
		return nil, fmt.Errorf("registry: reading %q: %w", name, errors.Join(errs...))
	}
	return states, nil
}

// live reports whether s holds an unexpired record at now.
func (s slotState) live(now time.Time) bool {
	return s.present && s.rec.expires.After(now)
}

// lookup returns the sorted addresses announced under name whose records
// have not expired. All slots are read concurrently; it fails only when
// every read failed (a slot that could not be read is skipped).
func (r *registry) lookup(ctx context.Context, name string) ([]string, error) {
	if err := r.checkName(name); err != nil {
		return nil, err
	}
	_, _, owner := r.keys(name)
	states, err := r.readSlots(ctx, owner, name)
	if err != nil {
		return nil, err
	}
	now := r.now()
	var addrs []string
	for _, s := range states {
		if s.live(now) && !slices.Contains(addrs, s.rec.addr) {
			addrs = append(addrs, s.rec.addr)
		}
	}
	slices.Sort(addrs)
	return addrs, nil
}

// announce publishes addr under name for ttl and keeps it in the set that
// renewAll and keepRenewing renew. It returns errFull when every slot holds another
// live address. Announcing the same (name, addr) again updates its TTL.
func (r *registry) announce(ctx context.Context, name, addr string, ttl time.Duration) error {
	if err := r.checkName(name); err != nil {
		return err
	}
	switch {
	case addr == "":
		return errors.New("registry: empty address")
	case ttl <= 0:
		return fmt.Errorf("registry: ttl %v must be positive", ttl)
	}
	a := &announcement{name: name, addr: addr, ttl: ttl}
	if err := r.claim(ctx, a); err != nil {
		return err
	}
	r.mu.Lock()
	r.ads[adKey{name, addr}] = a
	r.mu.Unlock()
	return nil
}

// slotOf returns the slot (name, addr) was last written to, and whether this
// registry announces it.
func (r *registry) slotOf(name, addr string) (int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.ads[adKey{name, addr}]
	if !ok {
		return 0, false
	}
	return a.slot, true
}

// preferredSlot is where addr starts probing.
func (r *registry) preferredSlot(addr string) int {
	h := fnv.New32a()
	h.Write([]byte(addr))
	return int(h.Sum32() % uint32(r.slots))
}

// claimAttempts bounds the slot claims of one announce or renewal that
// lose a compare-and-swap to another replica.
const claimAttempts = 3

// claim picks a slot for a and writes its record there. A claim that loses
// a race for the slot (another replica wrote it since it was read) reads
// the slots again and picks anew.
func (r *registry) claim(ctx context.Context, a *announcement) error {
	var err error
	for range claimAttempts {
		if err = r.claimOnce(ctx, a); !errors.Is(err, kademlia.ErrSeqConflict) {
			return err
		}
		r.log.Info("lost a slot to another writer; retrying", "name", a.name, "addr", a.addr, "slot", a.slot)
	}
	return err
}

func (r *registry) claimOnce(ctx context.Context, a *announcement) error {
	_, pub, _ := r.keys(a.name)
	states, err := r.readSlots(ctx, pub, a.name)
	if err != nil {
		return err
	}
	now := r.now()
	slot := -1
	// A slot already holding this address (a restart, or a renewal) is
	// reused, so an address never holds two slots.
	for i, s := range states {
		if s.present && s.rec.addr == a.addr {
			slot = i
			break
		}
	}
	if slot < 0 {
		pref := r.preferredSlot(a.addr)
		for d := range r.slots {
			i := (pref + d) % r.slots
			if s := states[i]; s.err == nil && !s.live(now) {
				slot = i
				break
			}
		}
	}
	if slot < 0 {
		return fmt.Errorf("%w: %q has %d live services", errFull, a.name, r.slots)
	}
	a.slot, a.seq = slot, 0
	return r.write(ctx, a, states[slot].seq, now.Add(a.ttl))
}

// write signs and stores a's record with the given expiry, replacing the
// record of seq expect (or a's own last one, if newer): a holder with a
// newer record refuses it (kademlia.ErrSeqConflict).
func (r *registry) write(ctx context.Context, a *announcement, expect uint64, expires time.Time) error {
	expect = max(expect, a.seq)
	value := []byte(record{addr: a.addr, expires: expires}.encode())
	signer, _, _ := r.keys(a.name)
	rec, err := r.dht.PutRecord(ctx, signer, []byte(slotKey(a.name, a.slot)), value,
		kademlia.PutRecordOptions{ExpectSeq: &expect})
	if err != nil {
		return fmt.Errorf("registry: announcing %s as %q: %w", a.addr, a.name, err)
	}
	a.seq = rec.Seq
	return nil
}

// renewAll rewrites the record of every announcement with a fresh expiry. An
// announcement whose slot was taken by another live address moves to a
// free slot.
func (r *registry) renewAll(ctx context.Context) error {
	var errs []error
	for _, a := range r.announcements() {
		if err := r.renew(ctx, a); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (r *registry) renew(ctx context.Context, a announcement) error {
	_, pub, _ := r.keys(a.name)
	s := r.readSlot(ctx, pub, a.name, a.slot)
	if _, ok := r.slotOf(a.name, a.addr); !ok {
		return nil // withdrawn meanwhile: do not bring it back
	}
	now := r.now()
	var err error
	if s.err == nil && s.live(now) && s.rec.addr != a.addr {
		// Another replica took our slot: find another one.
		r.log.Info("slot taken over; moving", "name", a.name, "addr", a.addr, "slot", a.slot, "by", s.rec.addr)
		err = r.claim(ctx, &a)
	} else if err = r.write(ctx, &a, s.seq, now.Add(a.ttl)); errors.Is(err, kademlia.ErrSeqConflict) {
		err = r.claim(ctx, &a) // someone wrote the slot since the read
	}
	if err != nil {
		return err
	}
	r.mu.Lock()
	if cur, ok := r.ads[adKey{a.name, a.addr}]; ok {
		cur.slot, cur.seq = a.slot, a.seq
	}
	r.mu.Unlock()
	return nil
}

// announcements returns a snapshot of the announcements.
func (r *registry) announcements() []announcement {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]announcement, 0, len(r.ads))
	for _, a := range r.ads {
		out = append(out, *a)
	}
	slices.SortFunc(out, func(x, y announcement) int {
		return strings.Compare(x.name+"\x00"+x.addr, y.name+"\x00"+y.addr)
	})
	return out
}

// interval is how often keepRenewing renews: a third of the shortest TTL.
func (r *registry) interval() time.Duration {
	d := time.Duration(0)
	for _, a := range r.announcements() {
		if d == 0 || a.ttl < d {
			d = a.ttl
		}
	}
	if d == 0 {
		return time.Second
	}
	return max(d/3, time.Millisecond)
}

// keepRenewing renews every announcement every TTL/3 (of the shortest TTL) until
// ctx is done, then returns nil. Failed renewals are logged and retried at
// the next tick, so a record survives two failed renewals in a row.
func (r *registry) keepRenewing(ctx context.Context) error {
	for {
		t := time.NewTimer(r.interval())
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		if err := r.renewAll(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("renewal failed", "err", err)
		}
	}
}

// withdraw stops renewing (name, addr) and marks its record expired, with
// a higher seq, so it vanishes from lookups at once rather than after its
// TTL. The record is left alone if another address has taken the slot
// meanwhile.
func (r *registry) withdraw(ctx context.Context, name, addr string) error {
	r.mu.Lock()
	a, ok := r.ads[adKey{name, addr}]
	delete(r.ads, adKey{name, addr})
	r.mu.Unlock()
	if !ok {
		return nil
	}
	_, pub, _ := r.keys(name)
	s := r.readSlot(ctx, pub, a.name, a.slot)
	if s.err == nil && s.present && s.rec.addr != a.addr {
		return nil
	}
	// (The node republishes the expired record daily while it runs; the
	// command closes it right after.)
	return r.write(ctx, a, s.seq, r.now())
}
