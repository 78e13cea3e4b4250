package service

import (
	"context"
	"fmt"
	"net/netip"
	"sync"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/vmihailenco/msgpack/v5"
)

// PropertyDef declares a property: a value clients read with svc.get,
// may set with svc.set, and may watch through its change signal.
type PropertyDef[T any] struct {
	Name, Doc string
	Initial   T
	// Changed names the signal emitted, with the new value as its one
	// argument, after each Set; declared if need be. "" for none.
	Changed string
	// Settable allows clients to set the property (svc.set).
	Settable bool
	// Claimed makes a client's set need the claim token.
	Claimed bool
	// OnSet, if not nil, runs before a new value is stored (a client's
	// set or Property.Set): an error refuses the value.
	OnSet func(ctx context.Context, v T) error
}

// Property is a property a server holds; see PropertyDef.
type Property[T any] struct {
	def     PropertyDef[T]
	changed *Signal

	setMu sync.Mutex // orders Sets with their emissions
	mu    sync.Mutex
	v     T
}

// propEntry is what the server needs of a Property of any type.
type propEntry interface {
	info() propertyInfo
	get() any
	setRaw(ctx context.Context, raw msgpack.RawMessage) error
}

// AddProperty declares a property on s (and its change signal).
func AddProperty[T any](s *Server, d PropertyDef[T]) (*Property[T], error) {
	if d.Name == "" {
		return nil, fmt.Errorf("service: empty property name")
	}
	p := &Property[T]{def: d, v: d.Initial}
	if d.Claimed {
		s.useClaims()
	}
	if d.Changed != "" {
		var err error
		if p.changed, err = s.Signal(d.Changed, "change of property "+d.Name); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.props[d.Name] != nil {
		return nil, fmt.Errorf("service: property %q declared twice", d.Name)
	}
	s.props[d.Name] = p
	return p, nil
}

// Get returns the property's value.
func (p *Property[T]) Get() T {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.v
}

// Set runs OnSet, stores v and emits the change signal with v.
func (p *Property[T]) Set(ctx context.Context, v T) error {
	p.setMu.Lock()
	defer p.setMu.Unlock()
	if p.def.OnSet != nil {
		if err := p.def.OnSet(ctx, v); err != nil {
			return err
		}
	}
	p.mu.Lock()
	p.v = v
	p.mu.Unlock()
	if p.changed != nil {
		p.changed.Emit(ctx, v)
	}
	return nil
}

func (p *Property[T]) get() any { return p.Get() }

func (p *Property[T]) setRaw(ctx context.Context, raw msgpack.RawMessage) error {
	var v T
	if err := rpcudp.Reply(raw).Decode(&v); err != nil {
		return fmt.Errorf("%w: property %s: %w", rpcudp.ErrBadArgs, p.def.Name, err)
	}
	return p.Set(ctx, v)
}

func (p *Property[T]) info() propertyInfo {
	return propertyInfo{Name: p.def.Name, Doc: p.def.Doc, Changed: p.def.Changed, Settable: p.def.Settable, Claimed: p.def.Claimed}
}

func (s *Server) property(name string) (propEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.props[name]; p != nil {
		return p, nil
	}
	return nil, errf(ErrNoSuchProperty, quote(name))
}

// handleGet serves svc.get [name] -> value.
func (s *Server) handleGet(_ context.Context, _ netip.AddrPort, args []msgpack.RawMessage) (any, error) {
	var name string
	if err := decodeArgs(args, &name); err != nil {
		return nil, err
	}
	p, err := s.property(name)
	if err != nil {
		return nil, err
	}
	return p.get(), nil
}

// handleSet serves svc.set [name, value] or [name, value, token] -> nil.
func (s *Server) handleSet(ctx context.Context, _ netip.AddrPort, args []msgpack.RawMessage) (any, error) {
	if len(args) != 2 && len(args) != 3 {
		return nil, fmt.Errorf("%w: svc.set takes [name, value] or [name, value, token]", rpcudp.ErrBadArgs)
	}
	var name, token string
	if err := decodeArgs(args[:1], &name); err != nil {
		return nil, err
	}
	if len(args) == 3 {
		if err := decodeArgs(args[2:], &token); err != nil {
			return nil, err
		}
	}
	p, err := s.property(name)
	if err != nil {
		return nil, err
	}
	in := p.info()
	if !in.Settable {
		return nil, errf(ErrReadOnly, quote(name))
	}
	if in.Claimed {
		if err := s.claims.check(token); err != nil {
			return nil, err
		}
	}
	return nil, p.setRaw(ctx, args[1])
}
