package upstream

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/textproto"
	"strings"
	"time"
)

// STARTTLS is done here rather than by go-smtp: v0.25.1 only offers it inside
// NewClientStartTLS, which says "EHLO localhost" instead of our name and
// cannot tell us beforehand whether STARTTLS is offered, which the
// opportunistic mode must know to carry on in plain text.

// startTLS upgrades the session as the URL's tls= mode asks.
func (a *attempt) startTLS() error {
	if a.t.mode == tlsNone || a.t.mode == tlsImplicit {
		return nil
	}
	if ok, _ := a.c.Extension("STARTTLS"); !ok {
		if a.t.mode == tlsOpportunistic {
			return nil
		}
		return localf("the upstream does not offer STARTTLS, which the upstream URL requires " +
			"(tls=opportunistic or tls=none would allow plain text)")
	}
	if err := a.sayStartTLS(); err != nil {
		return err
	}
	tc := tls.Client(a.raw, a.t.tlsConfig)
	if err := a.handshake(tc); err != nil {
		return err
	}
	// A new client, with fresh buffers, so that nothing the server sent in
	// plain text before the handshake is read as if it came over TLS
	// (the STARTTLS command injection of CVE-2011-0411).
	a.c = a.client(resumed(tc))
	return a.c.Hello(a.t.hostname)
}

// sayStartTLS sends STARTTLS straight on the connection and reads the reply.
// go-smtp's reader is left behind: the server may send nothing more in plain
// text, so it holds nothing we need.
func (a *attempt) sayStartTLS() error {
	a.raw.SetDeadline(time.Now().Add(a.t.timeout))
	defer a.raw.SetDeadline(time.Time{})
	conn := bounded(a.raw)
	if _, err := io.WriteString(conn, "STARTTLS\r\n"); err != nil {
		return err
	}
	_, _, err := textproto.NewReader(bufio.NewReader(conn)).ReadResponse(220)
	var perr *textproto.Error
	if errors.As(err, &perr) {
		// A refusal after offering it is the server's hiccup, not a verdict
		// on the message: never a bounce.
		return localf("the upstream refused STARTTLS: %d %s", perr.Code, perr.Msg)
	}
	return err
}

// resumedConn feeds go-smtp's client the 220 greeting it always waits for
// and that no server sends after STARTTLS (RFC 3207, section 4.2).
type resumedConn struct {
	net.Conn
	r io.Reader
}

func resumed(conn net.Conn) net.Conn {
	greeting := strings.NewReader("220 resumed after STARTTLS\r\n")
	return &resumedConn{Conn: conn, r: io.MultiReader(greeting, conn)}
}

func (c *resumedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
