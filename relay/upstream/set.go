package upstream

import (
	"sync"
	"time"
)

// Check reports whether rawURL is an upstream URL New accepts, with the
// error New would give (which never repeats the URL). It opens nothing.
func Check(rawURL string) error {
	_, err := New(rawURL, Options{})
	return err
}

// Set keeps one Transport per URL, built on first use and shared by every
// route that names that URL, so that the sessions an SMTP transport keeps
// are shared too. A URL no route names any more is forgotten by Forget,
// once no delivery uses its transport: a changed URL is a new transport.
type Set struct {
	opts Options

	mu    sync.Mutex
	byURL map[string]*member
}

type member struct {
	t     Transport
	users int       // Delivers running
	last  time.Time // when the last one ended, by the caller's clock
}

// NewSet returns an empty Set whose transports are built with opts.
func NewSet(opts Options) *Set {
	return &Set{opts: opts, byURL: map[string]*member{}}
}

// Acquire returns the transport for rawURL, building it if the Set has
// none, and marks it in use until release is called with the time.
func (s *Set) Acquire(rawURL string) (t Transport, release func(now time.Time), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.byURL[rawURL]
	if m == nil {
		t, err := New(rawURL, s.opts)
		if err != nil {
			return nil, nil, err
		}
		m = &member{t: t}
		s.byURL[rawURL] = m
	}
	m.users++
	return m.t, func(now time.Time) {
		s.mu.Lock()
		defer s.mu.Unlock()
		m.users--
		m.last = now
	}, nil
}

// Forget drops from the Set, closing their kept sessions, the transports
// not in use and idle since before (the zero time: every one not in use).
// A later Acquire of the same URL builds a new transport.
func (s *Set) Forget(before time.Time) {
	s.mu.Lock()
	var gone []Transport
	for u, m := range s.byURL {
		if m.users == 0 && (before.IsZero() || m.last.Before(before)) {
			gone = append(gone, m.t)
			delete(s.byURL, u)
		}
	}
	s.mu.Unlock()
	for _, t := range gone {
		if c, ok := t.(IdleCloser); ok {
			c.CloseIdle()
		}
	}
}

// Interrupt interrupts the deliveries of every transport in the Set (see
// Interrupter).
func (s *Set) Interrupt() {
	s.mu.Lock()
	ts := make([]Transport, 0, len(s.byURL))
	for _, m := range s.byURL {
		ts = append(ts, m.t)
	}
	s.mu.Unlock()
	for _, t := range ts {
		if i, ok := t.(Interrupter); ok {
			i.Interrupt()
		}
	}
}

// Len is how many transports the Set holds.
func (s *Set) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byURL)
}
