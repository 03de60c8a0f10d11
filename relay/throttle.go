package relay

import (
	"net/netip"
	"sync"
	"time"

	"github.com/holdrelay/relay/internal/clock"
)

// throttle slows password guessing without letting a stranger lock a real
// application out. Failures are counted per client address and per
// username over a window. An address over its limit may not try at all;
// a username over its (higher) limit may only be tried from addresses
// that logged in with it successfully of late, which is where the real
// application connects from. A refused attempt costs no argon2 work.
type throttle struct {
	clock clock.Clock

	mu     sync.Mutex
	byAddr map[netip.Addr]*window
	byUser map[string]*window
	good   map[string]map[netip.Addr]time.Time // username -> address -> last success
}

type window struct {
	start time.Time
	n     int
}

const (
	throttleWindow = 15 * time.Minute
	addrFailures   = 10             // failures an address may make per window
	userFailures   = 30             // failures a username may see per window from unknown addresses
	goodFor        = 24 * time.Hour // how long a successful login vouches for its address
	maxTracked     = 100000         // entries per map before old ones are swept
)

func newThrottle(clk clock.Clock) *throttle {
	return &throttle{clock: clk, byAddr: map[netip.Addr]*window{}, byUser: map[string]*window{},
		good: map[string]map[netip.Addr]time.Time{}}
}

// allow reports whether a login attempt may be checked at all.
func (t *throttle) allow(addr netip.Addr, user string) bool {
	now := t.clock.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if w := t.byAddr[addr]; w.active(now) && w.n >= addrFailures {
		return false
	}
	if w := t.byUser[user]; w.active(now) && w.n >= userFailures {
		last, ok := t.good[user][addr]
		return ok && now.Sub(last) < goodFor
	}
	return true
}

func (t *throttle) failed(addr netip.Addr, user string) {
	now := t.clock.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	bump(t.byAddr, addr, now)
	bump(t.byUser, user, now)
}

func (t *throttle) succeeded(addr netip.Addr, user string) {
	now := t.clock.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.byAddr, addr)
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

// bump counts a failure, sweeping expired windows when the map is full so
// that a flood of addresses or made-up usernames cannot grow it forever.
func bump[K comparable](m map[K]*window, k K, now time.Time) {
	w := m[k]
	if !w.active(now) {
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
		w = &window{start: now}
		m[k] = w
	}
	w.n++
}
