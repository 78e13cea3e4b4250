package service

import (
	"context"
	"crypto/rand"
	"net/netip"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// TokenLen is the length of a claim token.
const TokenLen = 16

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
	}
	c.mu.Unlock()
	if !run {
		return
	}
	defer c.busy.Done()
	for _, e := range todo {
		c.release(e.session, e.lapsed)
	}
}

// claim takes the claim for session and returns its token.
func (c *claims) claim(session string) (string, error) {
	c.mu.Lock()
	defer c.unlock()
	c.lapseLocked()
	if c.closed {
		return "", errf(ErrStopped, "")
	}
	if c.token != "" {
		return "", errf(ErrClaimed, "by session "+quote(c.session))
	}
	c.token, c.session = rand.Text()[:TokenLen], session
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
	case token != c.token:
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

func quote(s string) string { return `"` + s + `"` }

// handleClaim serves claim [session] -> token.
func (s *Server) handleClaim(_ context.Context, _ netip.AddrPort, args []msgpack.RawMessage) (any, error) {
	var session string
	if err := decodeArgs(args, &session); err != nil {
		return nil, err
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

// Claimed returns the session holding the server's claim, if any.
func (s *Server) Claimed() (session string, ok bool) { return s.claims.current() }
