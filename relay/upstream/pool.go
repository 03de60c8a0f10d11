package upstream

import (
	"net"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// Connection reuse, as Postfix's connection cache does it: a session whose
// last transaction ended cleanly (the upstream answered the end-of-data dot,
// and not with 421) goes back to the pool, and the next Deliver starts with
// MAIL FROM on it instead of a TCP handshake, greeting, EHLO, STARTTLS and
// AUTH. A session that was aborted, failed on I/O, or stopped in the middle
// of a transaction is never pooled: it is closed, as before.
const (
	// maxIdleConns bounds the idle sessions kept.
	maxIdleConns = 64
	// idleLimit is how long an idle session is kept; older ones are closed
	// when next looked at (Postfix's smtp_connection_cache_time_limit is 2s).
	idleLimit = 2 * time.Second
	// reuseLimit is how long one session is used before it is retired
	// (Postfix's smtp_connection_reuse_time_limit is 300s).
	reuseLimit = 5 * time.Minute
)

// session is an upstream SMTP session ready for MAIL FROM.
type session struct {
	raw    net.Conn // under any TLS
	conn   net.Conn // what c talks over
	c      *smtp.Client
	secure bool
	born   time.Time
	idle   time.Time // when it went back to the pool
}

// pool holds idle sessions, newest last.
type pool struct {
	mu   sync.Mutex
	idle []*session
}

// get returns the newest idle session that is not too old, or nil. Stale
// sessions it meets are closed.
func (p *pool) get(now time.Time) *session {
	var stale []*session
	defer func() {
		for _, s := range stale {
			s.raw.Close() // the TCP connection: closing it never blocks
		}
	}()
	p.mu.Lock()
	defer p.mu.Unlock()
	for n := len(p.idle); n > 0; n = len(p.idle) {
		s := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		if now.Sub(s.idle) < idleLimit {
			return s
		}
		stale = append(stale, s)
	}
	return nil
}

// put keeps s for the next Deliver, or closes it (politely, with QUIT) if
// it is too old or the pool is full.
func (p *pool) put(s *session, now time.Time) {
	if now.Sub(s.born) < reuseLimit {
		s.idle = now
		p.mu.Lock()
		if len(p.idle) < maxIdleConns {
			p.idle = append(p.idle, s)
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
	}
	s.c.CommandTimeout = min(s.c.CommandTimeout, quitTimeout)
	s.c.Quit()
	s.raw.Close()
}

// closeIdle closes every idle session, without a QUIT (they may be dead
// already, and a QUIT could stall the caller).
func (p *pool) closeIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, s := range idle {
		s.raw.Close()
	}
}
