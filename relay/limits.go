package relay

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
)

// limitListener bounds the SMTP connections a listener hands to go-smtp:
// so many at once in all, and so many from one client address (an IPv6
// /64), so that
// one client cannot take every session (or file descriptor) for itself.
// A connection over a limit is answered 421 4.7.0 and closed before
// go-smtp sees it. Each connection admitted also gets an absolute
// deadline, the session's whole lifetime (see limitedConn).
//
// The counts are shared by every listener of the intake (smtp and smtps).
type limitListener struct {
	net.Listener
	lim    *connLimits
	greet  bool // answer refused connections with 421 (not on an implicit-TLS listener)
	domain string
}

// connLimits counts open connections.
type connLimits struct {
	max, perIP int           // 0 = no limit
	session    time.Duration // 0 = no limit
	log        *slog.Logger
	metrics    *Metrics

	mu    sync.Mutex
	total int
	byIP  map[netip.Addr]int
}

func newConnLimits(cfg IntakeConfig, log *slog.Logger) *connLimits {
	return &connLimits{max: cfg.MaxConnections, perIP: cfg.MaxConnectionsPerIP, session: cfg.MaxSessionDuration,
		log: log, metrics: cfg.Metrics, byIP: map[netip.Addr]int{}}
}

// admit counts a new connection from ip, or says which limit it is over.
func (l *connLimits) admit(ip netip.Addr) (over string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.max > 0 && l.total >= l.max:
		return "Too many connections, try again later"
	case l.perIP > 0 && l.byIP[ip] >= l.perIP:
		return "Too many connections from your address, try again later"
	}
	l.total++
	l.byIP[ip]++
	return ""
}

func (l *connLimits) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.byIP[ip]--; l.byIP[ip] <= 0 {
		delete(l.byIP, ip)
	}
}

// open reports how many connections are counted, for tests.
func (l *connLimits) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c)
		if over := l.lim.admit(ip); over != "" {
			l.refuse(c, ip, over)
			continue
		}
		lc := &limitedConn{Conn: c, lim: l.lim, ip: ip}
		if l.lim.session > 0 {
			lc.end = time.Now().Add(l.lim.session)
			lc.Conn.SetReadDeadline(lc.end)
		}
		return lc, nil
	}
}

// refuse answers a connection over a limit and closes it. The reply fits
// in a fresh socket's send buffer, so the write does not block the accept
// loop; the deadline is there all the same.
func (l *limitListener) refuse(c net.Conn, ip netip.Addr, why string) {
	l.lim.metrics.refuse(421)
	l.lim.log.Debug("connection refused", "remote", ip, "reason", why)
	if l.greet {
		c.SetWriteDeadline(time.Now().Add(time.Second))
		fmt.Fprintf(c, "421 4.7.0 %s %s\r\n", l.domain, why)
	}
	c.Close()
}

// remoteIP is the address a connection counts against. IPv6 clients
// count by /64, the block one host or customer usually has to itself.
func remoteIP(c net.Conn) netip.Addr {
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil {
		return netip.Addr{} // a unix socket: all such clients count as one address
	}
	ip := ap.Addr().Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}

// limitedConn is an admitted connection. It gives its place back when
// closed, and caps every read deadline go-smtp sets at the end of the
// session's lifetime: go-smtp's ReadTimeout bounds each command (and,
// since it sets no deadline during DATA, the whole DATA transfer), and
// this bounds the session, so that a client dripping a command every few
// minutes cannot hold it forever. Write deadlines are left alone, so that
// a goodbye can still be written when the time is up.
type limitedConn struct {
	net.Conn
	lim  *connLimits
	ip   netip.Addr
	end  time.Time // zero: no session limit
	once sync.Once

	mu sync.Mutex
	// replies is where go-smtp writes its replies, as its session last
	// saw it: this connection, or a TLS connection over it. nil while
	// not known: before the first EHLO, and from STARTTLS to the next.
	// (During the STARTTLS handshake it is still this connection: a
	// lifetime ending then is told so in plain text, which fails the
	// handshake of a session that was ending anyway.)
	replies net.Conn
}

func (c *limitedConn) Close() error {
	c.once.Do(func() { c.lim.release(c.ip) })
	return c.Conn.Close()
}

// Read says goodbye to a client whose session has outlived its lifetime,
// truthfully: go-smtp would take the expired deadline for an idle client
// ("Idle timeout") however busy it was. The reply goes out through the
// connection go-smtp writes to (under TLS this Read runs inside the TLS
// connection's Read, which lets it write meanwhile), the connection is
// closed, and
// go-smtp, reading a closed connection, says nothing more: not even a
// reply to a message cut off in its data, which is not stored.
func (c *limitedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err == nil || !c.lifetimeOver(err) {
		return n, err
	}
	w := c.replyConn()
	if w == nil {
		return n, err // go-smtp says its own goodbye
	}
	w.SetWriteDeadline(time.Now().Add(closeFlushTimeout))
	writeReply(w, errSessionTooLong)
	c.Close()
	return n, net.ErrClosed
}

func (c *limitedConn) lifetimeOver(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded) && !c.end.IsZero() && !time.Now().Before(c.end)
}

// setReplyConn records where go-smtp now writes its replies (see replies).
// A session calls it from go-smtp's goroutine, when the connection cannot
// be changing under it.
func (c *limitedConn) setReplyConn(w net.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.replies = w
}

func (c *limitedConn) replyConn() net.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.replies
}

// limitedConnOf returns the limitedConn under a connection go-smtp
// serves, or nil if it has none.
func limitedConnOf(c net.Conn) *limitedConn {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	lc, _ := c.(*limitedConn)
	return lc
}

func (c *limitedConn) clamp(t time.Time) time.Time {
	if !c.end.IsZero() && (t.IsZero() || t.After(c.end)) {
		return c.end
	}
	return t
}

func (c *limitedConn) SetReadDeadline(t time.Time) error { return c.Conn.SetReadDeadline(c.clamp(t)) }

func (c *limitedConn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetReadDeadline(c.clamp(t))
}

// hasLineLongerThan reports whether msg has a line of more than max
// octets, not counting its CRLF. go-smtp enforces the limit on commands
// and on DATA, but not inside BDAT chunks, where a longer line would only
// be refused (or cut) by the upstream after the client got its 250.
func hasLineLongerThan(msg []byte, max int) bool {
	for len(msg) > 0 {
		n := bytes.IndexByte(msg, '\n')
		if n < 0 {
			n = len(msg)
		}
		line := msg[:n]
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if len(line) > max {
			return true
		}
		msg = msg[min(n+1, len(msg)):]
	}
	return false
}
