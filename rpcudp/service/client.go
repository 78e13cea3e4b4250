package service

import (
	"context"
	"crypto/rand"
	"net/netip"
	"sync"

	"github.com/rpcudp/go-rpcudp/rpcudp"
)

// Client calls servers of this package over an rpcudp.Endpoint: calls
// with a namespace and version, claims, subscriptions and properties.
// Error replies that stand for this package's sentinels come back
// matching them (errors.Is), as well as *rpcudp.RemoteError. It is safe
// for concurrent use; Close ends its background goroutines.
type Client struct {
	ep   *rpcudp.Endpoint
	sink string // the method emissions are sent to

	ctx    context.Context // ends on Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
	subs   map[string]*Subscription // by id
}

// NewClient returns a client on ep. It registers on ep this package's
// error codes (see the package doc) and a Go-only method
// "svc.emit.<random>" that receives the emissions of its subscriptions,
// so several clients may share one endpoint.
func NewClient(ep *rpcudp.Endpoint) (*Client, error) {
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{
		ep: ep, sink: "svc.emit." + rand.Text()[:8], ctx: ctx, cancel: cancel,
		subs: map[string]*Subscription{},
	}
	if err := registerErrors(ep); err != nil {
		cancel()
		return nil, err
	}
	if err := ep.Handle(c.sink, rpcudp.HandlerFunc(c.handleEmit)); err != nil {
		cancel()
		return nil, err
	}
	return c, nil
}

// Close ends the client's subscriptions (their channels close; the
// servers are told with a notification, best effort) and stops
// reclaiming its claims, without unclaiming them (they lapse on the
// server); it removes its emission method from the endpoint and waits for
// its goroutines to end. It does not close the rpcudp.Endpoint. A second
// Close does nothing.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	subs := c.subs
	c.subs = map[string]*Subscription{}
	c.mu.Unlock()
	c.ep.Unhandle(c.sink)
	c.cancel()
	for _, s := range subs {
		s.end(ErrClosed)
	}
	c.wg.Wait()
	for _, s := range subs {
		s.unsubscribe()
	}
	return nil
}

// Target names where a call goes on the server: a namespace ("" is the
// null namespace) and a version ("M.N"; "" takes any). The zero Target
// makes a plain call, exactly as rpcudp makes it.
type Target struct {
	Namespace string
	Version   string
}

// Call calls method on the server at addr. A zero t sends the plain
// request [method, [args...]]; otherwise ["svc.call", [namespace, version,
// method, [args...]]]. Errors match this package's sentinels
// (ErrNoNamespace, ErrIncompatibleVersion, ErrNoSuchMethod, ErrBadToken,
// ErrStopped, ...) where the server's error reply stands for one.
func (c *Client) Call(ctx context.Context, addr netip.AddrPort, t Target, method string, args ...any) (rpcudp.Reply, error) {
	return c.callWith(ctx, rpcudp.CallOptions{}, addr, t, method, args...)
}

func (c *Client) callWith(ctx context.Context, o rpcudp.CallOptions, addr netip.AddrPort, t Target, method string, args ...any) (rpcudp.Reply, error) {
	if args == nil {
		args = []any{}
	}
	if o != (rpcudp.CallOptions{}) {
		ctx = rpcudp.WithCallOptions(ctx, o)
	}
	var r rpcudp.Reply
	var err error
	if t == (Target{}) {
		r, err = c.ep.Call(ctx, addr, method, args...)
	} else {
		r, err = c.ep.Call(ctx, addr, callMethod, t.Namespace, t.Version, method, args)
	}
	return r, err
}

// inventory asks the server at addr for its inventory.
func (c *Client) inventory(ctx context.Context, addr netip.AddrPort) (inventory, error) {
	var inv inventory
	r, err := c.Call(ctx, addr, Target{}, inventoryMethod)
	if err == nil {
		err = r.Decode(&inv)
	}
	return inv, err
}

// Get reads a property.
func (c *Client) Get(ctx context.Context, addr netip.AddrPort, property string) (rpcudp.Reply, error) {
	return c.Call(ctx, addr, Target{}, getMethod, property)
}

// Set sets a property; token is the claim token ("" for none), needed
// for a property whose setting is claimed.
func (c *Client) Set(ctx context.Context, addr netip.AddrPort, property string, value any, token string) error {
	var err error
	if token == "" {
		_, err = c.Call(ctx, addr, Target{}, setMethod, property, value)
	} else {
		_, err = c.Call(ctx, addr, Target{}, setMethod, property, value, token)
	}
	return err
}

// open fails with ErrClosed once the client is closed.
func (c *Client) open() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	return nil
}

// track adds s to the subscriptions emissions are handed to, unless the
// client is closed.
func (c *Client) track(s *Subscription) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	c.subs[s.id] = s
	return nil
}

// goBackground runs fn on a goroutine the client owns, unless closed.
func (c *Client) goBackground(fn func()) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		fn()
	}()
	return nil
}
