package relay

import (
	"net/netip"
	"sync"
	"time"

	"github.com/holdrelay/relay/internal/clock"
)

// throttle slows password guessing without letting a stranger lock a real
// application out.
//
// Every login attempt is counted when it starts, before its argon2 check,
// against its client address and against its username, each over a
// window of throttleWindow: checking and counting are one step under one
// lock, so concurrent attempts cannot all pass a check that none of them
// has been counted in yet. An address with addrFailures attempts counted
// may not try at all; a username with userFailures counted may be tried
// only from addresses where it logged in successfully within goodFor,
// which is where the real application connects from. A refused attempt
// costs no argon2 work and is not counted.
//
// A failed attempt stays counted. A successful one gives back only what
// it proves: that the client holds the password of that username. So
//   - against the address, its attempts at that username this window (the
//     success itself, and misses such as a stale password after a
//     rotation) are no longer counted: they were no guesses. Its attempts
//     at any other username stay counted: a holder of one credential
//     cannot guess another's by logging in between guesses;
//   - against the username, only the success itself is given back: misses
//     at it from elsewhere may be an attack on it.
//
// A password this process has already proven (auth's login cache) needs
// no check: it is let in unless the attempts that have ended put the
// address or username over a limit, and it counts nothing. Attempts still
// being checked do count for new checks, but not against such a login,
// so an application opening many sessions at once is not turned away by
// its own sessions' checks in flight.
type throttle struct {
	clock clock.Clock

	mu     sync.Mutex
	byAddr map[netip.Addr]*window
	byUser map[string]*window
	good   map[string]map[netip.Addr]time.Time // username -> address -> last success
}

// window counts attempts from its start. An address's window also counts
// them by username (at most addrFailures names, as no more are let in).
type window struct {
	start    time.Time
	n        int
	checking int // of n, attempts whose check has not ended yet
	byUser   map[string]int
}

const (
	throttleWindow = 15 * time.Minute
	addrFailures   = 10             // attempts an address may have counted per window
	userFailures   = 30             // attempts a username may have counted per window, beyond its good addresses
	goodFor        = 24 * time.Hour // how long a successful login vouches for its address
	maxTracked     = 100000         // entries per map before old ones are swept
)

func newThrottle(clk clock.Clock) *throttle {
	return &throttle{clock: clk, byAddr: map[netip.Addr]*window{}, byUser: map[string]*window{},
		good: map[string]map[netip.Addr]time.Time{}}
}

// attempt is a login attempt counted by allow.
type attempt struct {
	addr    netip.Addr
	user    string
	addrWin *window // the address's window it was counted in
	userWin *window // the username's window it was counted in
}

// allow counts a login attempt and returns it, or returns nil if the
// attempt may not be checked at all.
func (t *throttle) allow(addr netip.Addr, user string) *attempt {
	now := t.clock.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.refuses(addr, user, now, false) {
		return nil
	}
	aw := current(t.byAddr, addr, now)
	aw.n++
	aw.checking++
	if aw.byUser == nil {
		aw.byUser = map[string]int{}
	}
	aw.byUser[user]++
	a := &attempt{addr: addr, user: user, addrWin: aw, userWin: current(t.byUser, user, now)}
	a.userWin.n++
	return a
}

// blocked reports whether addr is refused for user by attempts that have
// ended, without counting one: the test for a password already proven,
// which needs no check, so that other sessions' checks in flight do not
// turn away an application's own.
func (t *throttle) blocked(addr netip.Addr, user string) bool {
	now := t.clock.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.refuses(addr, user, now, true)
}

// refuses applies the limits; ended leaves out the address's attempts
// still being checked.
func (t *throttle) refuses(addr netip.Addr, user string, now time.Time, ended bool) bool {
	if w := t.byAddr[addr]; w.active(now) {
		n := w.n
		if ended {
			n -= w.checking
		}
		if n >= addrFailures {
			return true
		}
	}
	w := t.byUser[user]
	return w.active(now) && w.n >= userFailures && !t.vouched(addr, user, now)
}

// vouched reports whether user logged in from addr within goodFor.
func (t *throttle) vouched(addr netip.Addr, user string, now time.Time) bool {
	last, ok := t.good[user][addr]
	return ok && now.Sub(last) < goodFor
}

// succeeded gives back what a successful attempt proves (see throttle)
// and remembers its address as good for its username. An attempt that
// allow did not count (a password already proven, which needs no check)
// has no userWin, and gives back only the address's attempts.
func (t *throttle) succeeded(a *attempt) {
	now := t.clock.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	a.ended()
	if w := t.byAddr[a.addr]; w != nil {
		w.n -= w.byUser[a.user]
		delete(w.byUser, a.user)
	}
	if a.userWin != nil && t.byUser[a.user] == a.userWin {
		a.userWin.n--
	}
	t.remember(a.addr, a.user, now)
}

// failed ends a counted attempt whose password was wrong: it stays
// counted.
func (t *throttle) failed(a *attempt) {
	t.mu.Lock()
	defer t.mu.Unlock()
	a.ended()
}

func (a *attempt) ended() {
	if a.addrWin != nil {
		a.addrWin.checking--
		a.addrWin = nil
	}
}

func (t *throttle) remember(addr netip.Addr, user string, now time.Time) {
	if t.good[user] == nil {
		if len(t.good) >= maxTracked {
			clear(t.good)
		}
		t.good[user] = map[netip.Addr]time.Time{}
	}
	if len(t.good[user]) >= maxTracked {
		clear(t.good[user])
	}
	t.good[user][addr] = now
}

func (w *window) active(now time.Time) bool {
	return w != nil && now.Sub(w.start) < throttleWindow
}

// current returns k's active window, starting a new one if it has none.
// It sweeps expired windows when the map is full, so that a flood of
// addresses or made-up usernames cannot grow it forever.
func current[K comparable](m map[K]*window, k K, now time.Time) *window {
	if w := m[k]; w.active(now) {
		return w
	}
	if len(m) >= maxTracked {
		for key, old := range m {
			if !old.active(now) {
				delete(m, key)
			}
		}
		if len(m) >= maxTracked {
			clear(m)
		}
	}
	w := &window{start: now}
	m[k] = w
	return w
}
