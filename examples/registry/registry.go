package main

import (
	"context"
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

// DefaultSlots is how many DHT keys hold the records of one name.
const DefaultSlots = 16

// ErrFull is returned by Announce when every slot of a name holds a live
// record of another address.
var ErrFull = errors.New("registry: every slot of the name is taken")

// DHT is the part of *kademlia.Node the registry uses.
type DHT interface {
	// GetWith is called with SkipLocal: a slot is read from the network.
	GetWith(ctx context.Context, key any, o kademlia.GetOptions) (kademlia.Value, bool, error)
	Set(ctx context.Context, key any, value any) error
}

// RegistryConfig tunes a Registry. Zero fields take the defaults.
type RegistryConfig struct {
	// Slots is the number of DHT keys per name (default DefaultSlots).
	// Every announcer and looker-up of a name must use the same value.
	Slots int
	// Now is the clock (default time.Now); tests inject a fake one.
	Now func() time.Time
	// Logger gets renewal failures (default: discarded).
	Logger *slog.Logger
}

// Registry is service discovery on a Kademlia DHT, in the manner of RPyC's
// registry: services announce NAME -> ADDR with a time to live and keep
// renewing it; a service that stops renewing vanishes after its TTL without
// anyone deleting anything.
//
// Representation: a name owns Slots DHT keys "registry:NAME:SLOT" (SLOT in
// 0..Slots-1). Each holds a string record "ADDR|EXPIRY_UNIX_MILLIS", a
// Python-compatible value. A service starts probing at the slot its address
// hashes to and takes the first slot that is empty, expired or already its
// own. Lookup reads every slot of the name at once and keeps the records
// whose expiry is still ahead. Expiries are wall-clock times of the
// announcer, so clocks should roughly agree (within a fraction of the TTL).
//
// Two services racing for one empty slot may both write it; the DHT keeps
// the last write. The loser sees the other's live record at its next
// renewal (TTL/3 later) and moves to another slot, well before its own
// record would have expired.
type Registry struct {
	dht   DHT
	slots int
	now   func() time.Time
	log   *slog.Logger

	mu  sync.Mutex
	ads map[adKey]*announcement
}

type adKey struct{ name, addr string }

// announcement is one (name, addr) this registry keeps alive.
type announcement struct {
	name, addr string
	ttl        time.Duration
	slot       int
}

// NewRegistry returns a registry working on dht.
func NewRegistry(dht DHT, cfg RegistryConfig) *Registry {
	if cfg.Slots <= 0 {
		cfg.Slots = DefaultSlots
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Registry{dht: dht, slots: cfg.Slots, now: cfg.Now, log: cfg.Logger, ads: map[adKey]*announcement{}}
}

// SlotKey is the DHT key of one slot of name.
func SlotKey(name string, slot int) string {
	return "registry:" + name + ":" + strconv.Itoa(slot)
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
func parseRecord(v kademlia.Value) (record, bool) {
	x, err := v.Interface()
	if err != nil {
		return record{}, false
	}
	s, ok := x.(string)
	if !ok {
		return record{}, false
	}
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
	present bool // a well-formed record is stored
	err     error
}

// readSlot reads one slot from the network. It skips the node's own copy:
// the copy a node keeps of its own Set would hide another service's later
// write.
func (r *Registry) readSlot(ctx context.Context, name string, slot int) slotState {
	v, found, err := r.dht.GetWith(ctx, SlotKey(name, slot), kademlia.GetOptions{SkipLocal: true})
	if err != nil {
		return slotState{err: err}
	}
	if !found {
		return slotState{}
	}
	rec, ok := parseRecord(v)
	return slotState{rec: rec, present: ok}
}

// readSlots reads every slot of name concurrently. It fails only when every
// read failed.
func (r *Registry) readSlots(ctx context.Context, name string) ([]slotState, error) {
	states := make([]slotState, r.slots)
	var wg sync.WaitGroup
	for i := range states {
		wg.Go(func() { states[i] = r.readSlot(ctx, name, i) })
	}
	wg.Wait()
	var errs []error
	for _, s := range states {
		if s.err != nil {
			errs = append(errs, s.err)
		}
	}
	if len(errs) == len(states) {
		return nil, fmt.Errorf("registry: reading %q: %w", name, errors.Join(errs...))
	}
	return states, nil
}

// live reports whether s holds an unexpired record at now.
func (s slotState) live(now time.Time) bool {
	return s.present && s.rec.expires.After(now)
}

// Lookup returns the sorted addresses announced under name whose records
// have not expired. All slots are read concurrently; it fails only when
// every read failed (a slot that could not be read is skipped).
func (r *Registry) Lookup(ctx context.Context, name string) ([]string, error) {
	if name == "" {
		return nil, errors.New("registry: empty name")
	}
	states, err := r.readSlots(ctx, name)
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

// Announce publishes addr under name for ttl and keeps it in the set that
// Renew and Run renew. It returns ErrFull when every slot holds another
// live address. Announcing the same (name, addr) again updates its TTL.
func (r *Registry) Announce(ctx context.Context, name, addr string, ttl time.Duration) error {
	switch {
	case name == "":
		return errors.New("registry: empty name")
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

// Slot returns the slot (name, addr) was last written to, and whether this
// registry announces it.
func (r *Registry) Slot(name, addr string) (int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.ads[adKey{name, addr}]
	if !ok {
		return 0, false
	}
	return a.slot, true
}

// announces reports whether (name, addr) is still being announced.
func (r *Registry) announces(name, addr string) bool {
	_, ok := r.Slot(name, addr)
	return ok
}

// preferredSlot is where addr starts probing.
func (r *Registry) preferredSlot(addr string) int {
	h := fnv.New32a()
	h.Write([]byte(addr))
	return int(h.Sum32() % uint32(r.slots))
}

// claim picks a slot for a and writes its record there.
func (r *Registry) claim(ctx context.Context, a *announcement) error {
	states, err := r.readSlots(ctx, a.name)
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
		return fmt.Errorf("%w: %q has %d live services", ErrFull, a.name, r.slots)
	}
	a.slot = slot
	return r.write(ctx, a, now.Add(a.ttl))
}

func (r *Registry) write(ctx context.Context, a *announcement, expires time.Time) error {
	rec := record{addr: a.addr, expires: expires}.encode()
	if err := r.dht.Set(ctx, SlotKey(a.name, a.slot), rec); err != nil {
		return fmt.Errorf("registry: announcing %s as %q: %w", a.addr, a.name, err)
	}
	return nil
}

// Renew rewrites the record of every announcement with a fresh expiry. An
// announcement whose slot was taken by another live address moves to a
// free slot.
func (r *Registry) Renew(ctx context.Context) error {
	var errs []error
	for _, a := range r.announcements() {
		if err := r.renew(ctx, a); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (r *Registry) renew(ctx context.Context, a announcement) error {
	s := r.readSlot(ctx, a.name, a.slot)
	if !r.announces(a.name, a.addr) {
		return nil // withdrawn meanwhile: do not bring it back
	}
	now := r.now()
	if s.err == nil && s.live(now) && s.rec.addr != a.addr {
		// Someone overwrote our slot: find another one.
		r.log.Info("slot taken over; moving", "name", a.name, "addr", a.addr, "slot", a.slot, "by", s.rec.addr)
		if err := r.claim(ctx, &a); err != nil {
			return err
		}
		r.mu.Lock()
		if cur, ok := r.ads[adKey{a.name, a.addr}]; ok {
			cur.slot = a.slot
		}
		r.mu.Unlock()
		return nil
	}
	return r.write(ctx, &a, now.Add(a.ttl))
}

// announcements returns a snapshot of the announcements.
func (r *Registry) announcements() []announcement {
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

// interval is how often Run renews: a third of the shortest TTL.
func (r *Registry) interval() time.Duration {
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

// Run renews every announcement every TTL/3 (of the shortest TTL) until
// ctx is done, then returns nil. Failed renewals are logged and retried at
// the next tick, so a record survives two failed renewals in a row.
func (r *Registry) Run(ctx context.Context) error {
	for {
		t := time.NewTimer(r.interval())
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		if err := r.Renew(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("renewal failed", "err", err)
		}
	}
}

// Withdraw stops renewing (name, addr) and marks its record expired, so it
// vanishes from lookups at once rather than after its TTL. The record is
// left alone if another address has taken the slot meanwhile.
func (r *Registry) Withdraw(ctx context.Context, name, addr string) error {
	r.mu.Lock()
	a, ok := r.ads[adKey{name, addr}]
	delete(r.ads, adKey{name, addr})
	r.mu.Unlock()
	if !ok {
		return nil
	}
	s := r.readSlot(ctx, a.name, a.slot)
	if s.err == nil && s.present && s.rec.addr != a.addr {
		return nil
	}
	// The node keeps the expired record as its original publisher and
	// would republish it every 24 hours while it runs; the command closes
	// its node right after, and a later owner of the slot rewrites it at
	// its next renewal anyway.
	return r.write(ctx, a, r.now())
}
