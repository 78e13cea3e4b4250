package service

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
)

// Proxy is a client's view of a server's property: it follows the
// property's change signal, and re-reads the value when a lease renewal
// shows that the last emissions were lost, so that it catches up.
type Proxy[T any] struct {
	c    *Client
	addr netip.AddrPort
	name string
	sub  *Subscription
	ch   chan T

	mu  sync.Mutex
	v   T
	raw []byte // the value's msgpack, to tell a change from a re-read
}

// NewProxy returns a proxy of the property name on the server at addr,
// subscribed to its change signal with lease (30 s if 0).
func NewProxy[T any](ctx context.Context, c *Client, addr netip.AddrPort, name string, lease time.Duration) (*Proxy[T], error) {
	if err := c.open(); err != nil {
		return nil, err
	}
	inv, err := c.inventory(ctx, addr)
	if err != nil {
		return nil, err
	}
	var info *propertyInfo
	for i := range inv.Properties {
		if inv.Properties[i].Name == name {
			info = &inv.Properties[i]
		}
	}
	switch {
	case info == nil:
		return nil, fmt.Errorf("%w: %q", ErrNoSuchProperty, name)
	case info.Changed == "":
		return nil, fmt.Errorf("%w: property %q has no change signal", ErrNoSuchSignal, name)
	}
	p := &Proxy[T]{c: c, addr: addr, name: name, ch: make(chan T, emissionBuffer)}
	if p.sub, err = c.Subscribe(ctx, addr, info.Changed, lease); err != nil {
		return nil, err
	}
	if err = p.reread(ctx); err == nil {
		err = c.goBackground(p.loop)
	}
	if err != nil {
		p.sub.Close()
		return nil, err
	}
	return p, nil
}

// Get returns the latest value seen.
func (p *Proxy[T]) Get() T {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.v
}

// Changes returns a channel of the values the property took, in order,
// one per change seen (emissions lost on the network are caught up by
// the next change or re-read). If the reader falls behind by more than
// 64 values, the newest are dropped. It is closed when the proxy ends.
func (p *Proxy[T]) Changes() <-chan T { return p.ch }

// Close ends the proxy and its subscription.
func (p *Proxy[T]) Close() error { return p.sub.Close() }

// loop applies emissions and re-reads the value every renewal period.
func (p *Proxy[T]) loop() {
	defer close(p.ch)
	for {
		select {
		case em, ok := <-p.sub.C():
			if !ok {
				return
			}
			if len(em.Args) == 1 {
				p.update(em.Args[0])
			}
		case <-p.sub.gap:
			ctx, cancel := context.WithTimeout(p.sub.ctx, p.sub.every)
			p.reread(ctx)
			cancel()
		}
	}
}

// reread reads the value from the server.
func (p *Proxy[T]) reread(ctx context.Context) error {
	r, err := p.c.Get(ctx, p.addr, p.name)
	if err != nil {
		return err
	}
	return p.update(r)
}

// update takes a value's msgpack; a new one is stored and sent on.
func (p *Proxy[T]) update(raw []byte) error {
	var v T
	if err := rpcudp.Reply(raw).Decode(&v); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.raw != nil && bytes.Equal(p.raw, raw) {
		return nil
	}
	first := p.raw == nil
	p.v, p.raw = v, bytes.Clone(raw)
	if !first {
		select {
		case p.ch <- v:
		default:
		}
	}
	return nil
}
