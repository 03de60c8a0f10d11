package smtptest

import (
	"bytes"
	"net"
	"sync"
)

// Gate holds sessions at one point of the dialogue until released.
type Gate struct {
	reached, released     chan struct{}
	reachOnce, releaseOne sync.Once
}

func newGate() *Gate {
	return &Gate{reached: make(chan struct{}), released: make(chan struct{})}
}

// Reached is closed when the first session arrives at the gate.
func (g *Gate) Reached() <-chan struct{} { return g.reached }

// Release lets every held session, and all later ones, through.
func (g *Gate) Release() { g.releaseOne.Do(func() { close(g.released) }) }

// wait holds the caller until Release or until the server closes.
func (g *Gate) wait(closed <-chan struct{}) {
	g.reachOnce.Do(func() { close(g.reached) })
	select {
	case <-g.released:
	case <-closed:
	}
}

// StallDATA makes the server hold its 354 reply to every DATA command until
// the returned gate is released: the client waits for a go-ahead and cannot
// have sent any of the message. It watches the clear-text replies, so it
// works on Plain servers only.
func (s *Server) StallDATA() *Gate {
	if s.TLS != Plain {
		panic("smtptest: StallDATA needs a Plain server")
	}
	g := newGate()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dataGate = g
	return g
}

// StallEndOfData makes the server hold its reply to the final dot until the
// returned gate is released. The message is then wholly received: once
// released, the server accepts it as usual (it is recorded even if the client
// has gone), as a real upstream would.
func (s *Server) StallEndOfData() *Gate {
	g := newGate()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endGate = g
	return g
}

func (s *Server) gate(which **Gate) *Gate {
	s.mu.Lock()
	defer s.mu.Unlock()
	return *which
}

// listener tracks connections, for WaitIdle and Close, and wraps them so
// that StallDATA can hold the 354 reply.
type listener struct {
	net.Listener
	s *Server

	mu    sync.Mutex
	conns map[*conn]struct{}
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &conn{Conn: c, s: l.s, l: l}
	l.mu.Lock()
	if l.conns == nil {
		l.conns = make(map[*conn]struct{})
	}
	l.conns[tc] = struct{}{}
	l.mu.Unlock()
	l.s.opened()
	select {
	case <-l.s.done:
		tc.Close() // accepted while Close ran: nobody else would close it
	default:
	}
	return tc, nil
}

// closeAll closes connections go-smtp may not know of yet: one accepted
// but not yet handed to its session goroutine.
func (l *listener) closeAll() {
	l.mu.Lock()
	conns := make([]*conn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

type conn struct {
	net.Conn
	s       *Server
	l       *listener
	closing sync.Once
}

func (c *conn) Write(p []byte) (int, error) {
	if bytes.HasPrefix(p, []byte("354 ")) {
		if g := c.s.gate(&c.s.dataGate); g != nil {
			g.wait(c.s.done)
		}
	}
	return c.Conn.Write(p)
}

func (c *conn) Close() error {
	c.closing.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
		c.s.closed()
	})
	return c.Conn.Close()
}

func (s *Server) opened() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open == 0 {
		s.idle = make(chan struct{})
	}
	s.open++
}

func (s *Server) closed() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.open--
	if s.open == 0 {
		close(s.idle)
	}
}
