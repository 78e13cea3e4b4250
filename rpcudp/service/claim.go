package service

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/vmihailenco/msgpack/v5"
)

// tokenLen is the length of a claim token.
const tokenLen = 16

// claims holds the server's one claim, as USRP's MPM: one client at a
// time controls the device.
type claims struct {
	timeout time.Duration
	release func(session string, lapsed bool)

	mu       sync.Mutex
	token    string // "" when unclaimed
	session  string
	deadline time.Time
	timer    *time.Timer
	gen      uint64  // counts claims, so that a stale timer does nothing
	ended    []ended // claims ended, their hook not run yet
	closed   bool    // by close: no claim any more

	releasing int        // release hooks running
	hookDone  *sync.Cond // on mu: signalled when one ends (see hooked)

	// busy counts armed timers and release hooks running, so that close
	// can wait for them. Add is called only under mu, and once closed is
	// set only by close itself before it waits: never concurrently with a
	// Wait while the count is zero.
	busy sync.WaitGroup
}

type ended struct {
	session string
	lapsed  bool
}

// unlock unlocks c and then runs the release hook for the claims that
// ended meanwhile, on the caller's goroutine, outside the lock.
func (c *claims) unlock() {
	todo := c.ended
	c.ended = nil
	run := len(todo) > 0 && c.release != nil
	if run {
		c.busy.Add(1)
		c.releasing++
	}
	c.mu.Unlock()
	if !run {
		return
	}
	defer c.busy.Done()
	for _, e := range todo {
		c.release(e.session, e.lapsed)
	}
	c.mu.Lock()
	c.releasing--
	c.hooked().Broadcast()
	c.mu.Unlock()
}

// hooked returns the condition signalled when release hooks end.
func (c *claims) hooked() *sync.Cond {
	if c.hookDone == nil {
		c.hookDone = sync.NewCond(&c.mu)
	}
	return c.hookDone
}

// claim takes the claim for session and returns its token. The release
// hooks of the claims ended before run to their end first, so that the
// new holder never sees the device released under it.
func (c *claims) claim(session string) (string, error) {
	c.mu.Lock()
	c.lapseLocked()
	for len(c.ended) > 0 || c.releasing > 0 {
		if len(c.ended) > 0 {
			c.unlock()
			c.mu.Lock()
		} else {
			c.hooked().Wait()
		}
		c.lapseLocked()
	}
	defer c.unlock()
	if c.closed {
		return "", errf(ErrStopped, "")
	}
	if c.token != "" {
		return "", errf(ErrClaimed, "by session "+quote(c.session))
	}
	c.token, c.session = rand.Text()[:tokenLen], session
	c.gen++
	c.armLocked()
	return c.token, nil
}

// reclaim extends the claim.
func (c *claims) reclaim(token string) error {
	c.mu.Lock()
	defer c.unlock()
	if err := c.checkLocked(token); err != nil {
		return err
	}
	c.armLocked()
	return nil
}

// unclaim ends the claim and runs the release hook.
func (c *claims) unclaim(token string) error {
	c.mu.Lock()
	defer c.unlock()
	if err := c.checkLocked(token); err != nil {
		return err
	}
	c.endLocked(false)
	return nil
}

// check reports whether token is the current claim's.
func (c *claims) check(token string) error {
	c.mu.Lock()
	defer c.unlock()
	return c.checkLocked(token)
}

func (c *claims) checkLocked(token string) error {
	c.lapseLocked()
	switch {
	case c.token == "":
		return errf(ErrBadToken, "not claimed")
	case token == "":
		return errf(ErrBadToken, "no token given")
	case subtle.ConstantTimeCompare([]byte(token), []byte(c.token)) != 1:
		return errf(ErrBadToken, "wrong token")
	}
	return nil
}

// current returns the session holding the claim.
func (c *claims) current() (string, bool) {
	c.mu.Lock()
	defer c.unlock()
	c.lapseLocked()
	return c.session, c.token != ""
}

// armLocked starts (or restarts) the claim's timeout.
func (c *claims) armLocked() {
	c.deadline = time.Now().Add(c.timeout)
	c.stopTimerLocked()
	gen := c.gen
	c.busy.Add(1)
	c.timer = time.AfterFunc(c.timeout, func() {
		defer c.busy.Done()
		c.mu.Lock()
		defer c.unlock()
		if c.gen == gen {
			c.lapseLocked()
		}
	})
}

// stopTimerLocked stops the claim's timer; one that fired already
// counts itself out of busy when done.
func (c *claims) stopTimerLocked() {
	if c.timer != nil && c.timer.Stop() {
		c.busy.Done()
	}
	c.timer = nil
}

// close ends the claim (its release hook runs before close returns) and
// waits for the timer and the release hooks running elsewhere: after
// close, none runs. Later claims are refused.
func (c *claims) close() {
	c.mu.Lock()
	if !c.closed {
		c.lapseLocked()
		if c.token != "" {
			c.endLocked(false)
		}
		c.closed = true
	}
	c.unlock()
	c.busy.Wait()
}

// lapseLocked ends a claim whose deadline has passed (its timer may not
// have fired yet).
func (c *claims) lapseLocked() {
	if c.token != "" && !time.Now().Before(c.deadline) {
		c.endLocked(true)
	}
}

// endLocked ends the claim; unlock runs the release hook.
func (c *claims) endLocked(lapsed bool) {
	session := c.session
	c.token, c.session = "", ""
	c.gen++
	c.stopTimerLocked()
	c.ended = append(c.ended, ended{session, lapsed})
}

// maxSession bounds a claim's session name.
const maxSession = 256

// claimMethod is the claim method's wire name, and its cookies' purpose.
const claimMethod = "claim"

// handleClaim serves claim [session] or [session, cookie] -> token.
// Without the cookie of the caller's IP address (or with a stale one) it
// claims nothing and answers [cookie]: the caller must claim again with
// it, which proves it receives at its address, so that a claim forged
// with another's address cannot take the claim and lock the legitimate
// client out for the claim timeout. The cookie is the IP address's,
// whatever the port: a claim made by hand, from a new socket each time,
// works too; whoever receives at the address may claim from it anyway.
func (s *Server) handleClaim(_ context.Context, from netip.AddrPort, args []msgpack.RawMessage) (any, error) {
	var session, cookie string
	var err error
	switch len(args) {
	case 1:
		err = decodeArgs(args, &session)
	case 2:
		err = decodeArgs(args, &session, &cookie)
	default:
		err = fmt.Errorf("%w: claim takes [session] or [session, cookie]", rpcudp.ErrBadArgs)
	}
	if err != nil {
		return nil, err
	}
	if len(session) > maxSession {
		return nil, fmt.Errorf("%w: session longer than %d bytes", rpcudp.ErrBadArgs, maxSession)
	}
	if want, ok := s.checkCookie(cookie, claimMethod, from.Addr().Unmap().String()); !ok {
		return []any{want}, nil
	}
	return s.claims.claim(session)
}

// handleReclaim serves reclaim [token] -> true.
func (s *Server) handleReclaim(_ context.Context, _ netip.AddrPort, args []msgpack.RawMessage) (any, error) {
	var token string
	if err := decodeArgs(args, &token); err != nil {
		return nil, err
	}
	if err := s.claims.reclaim(token); err != nil {
		return nil, err
	}
	return true, nil
}

// handleUnclaim serves unclaim [token] -> nil.
func (s *Server) handleUnclaim(_ context.Context, _ netip.AddrPort, args []msgpack.RawMessage) (any, error) {
	var token string
	if err := decodeArgs(args, &token); err != nil {
		return nil, err
	}
	return nil, s.claims.unclaim(token)
}
