package relay

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/holdrelay/relay/internal/smtptest"
	"github.com/holdrelay/relay/spool"
)

// rawConn is an SMTP client that speaks line by line, for dialogues a
// well-behaved client would not have.
type rawConn struct {
	t testing.TB
	net.Conn
	r *bufio.Reader
}

// dialFrom connects to addr from the local address from ("" = any).
func dialFrom(t testing.TB, addr, from string) *rawConn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second)) // the test's own bound
	return &rawConn{t: t, Conn: c, r: bufio.NewReader(c)}
}

// reply reads one reply (all its lines) and returns its last line.
func (c *rawConn) reply() (string, error) {
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return line, err
		}
		if len(line) < 4 || line[3] != '-' {
			return strings.TrimRight(line, "\r\n"), nil
		}
	}
}

func (c *rawConn) expect(prefix string) string {
	c.t.Helper()
	line, err := c.reply()
	if err != nil || !strings.HasPrefix(line, prefix) {
		c.t.Fatalf("reply %q, %v; want %s", line, err, prefix)
	}
	return line
}

func (c *rawConn) cmd(line, want string) string {
	c.t.Helper()
	if _, err := io.WriteString(c, line+"\r\n"); err != nil {
		c.t.Fatal(err)
	}
	return c.expect(want)
}

// closedBy reports whether the server closes the connection (after any
// replies) within d. A reset is a close too: the server's kernel resets a
// connection closed with input unread, such as a command that crossed the
// server's goodbye; the replies sent before it are still read first.
func (c *rawConn) closedBy(d time.Duration) (last string, closed bool) {
	c.SetReadDeadline(time.Now().Add(d))
	for {
		line, err := c.r.ReadString('\n')
		if line != "" {
			last = strings.TrimRight(line, "\r\n")
		}
		if err == io.EOF || errors.Is(err, syscall.ECONNRESET) {
			return last, true
		}
		if err != nil {
			return last, false
		}
	}
}

func TestConnectionLimitPerAddress(t *testing.T) {
	h := newHarness(t, harnessConfig{intake: IntakeConfig{MaxConnectionsPerIP: 2}})
	a := dialFrom(t, h.addr, "127.0.0.1")
	a.expect("220 ")
	b := dialFrom(t, h.addr, "127.0.0.1")
	b.expect("220 ")
	over := dialFrom(t, h.addr, "127.0.0.1")
	if line := over.expect("421 4.7.0 "); !strings.Contains(line, "from your address") {
		t.Errorf("refusal %q does not say why", line)
	}
	if _, closed := over.closedBy(5 * time.Second); !closed {
		t.Error("connection over the limit left open")
	}
	// Another address is not affected.
	dialFrom(t, h.addr, "127.0.0.2").expect("220 ")
	// A place comes free when a session ends.
	a.cmd("QUIT", "221 ")
	waitFor(t, "the closed session to be counted out", func() bool { return h.intake.limits.open() == 2 })
	c := dialFrom(t, h.addr, "127.0.0.1")
	c.expect("220 ")
	c.cmd("EHLO client.test", "250 ")
}

func TestConnectionLimitOverall(t *testing.T) {
	h := newHarness(t, harnessConfig{intake: IntakeConfig{MaxConnections: 2, MaxConnectionsPerIP: -1}})
	dialFrom(t, h.addr, "127.0.0.1").expect("220 ")
	dialFrom(t, h.addr, "127.0.0.2").expect("220 ")
	if line := dialFrom(t, h.addr, "127.0.0.3").expect("421 4.7.0 "); !strings.Contains(line, "Too many connections") {
		t.Errorf("refusal %q does not say why", line)
	}
	if n := h.intake.limits.open(); n != 2 {
		t.Errorf("%d connections counted, want 2", n)
	}
}

func TestIdleClientIsDisconnected(t *testing.T) {
	h := newHarness(t, harnessConfig{intake: IntakeConfig{ReadTimeout: 200 * time.Millisecond}})
	c := dialFrom(t, h.addr, "")
	c.expect("220 ")
	c.cmd("EHLO client.test", "250 ")
	start := time.Now()
	last, closed := c.closedBy(5 * time.Second)
	if !closed || !strings.HasPrefix(last, "421 4.4.2") {
		t.Fatalf("idle session: last reply %q, closed %v; want 421 4.4.2 and a close", last, closed)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("idle session closed after %v", d)
	}
	waitFor(t, "the session to be counted out", func() bool { return h.intake.limits.open() == 0 })
}

// TestSlowDripDataIsCut: a client that sends its message a line at a time,
// slowly but steadily, still has only ReadTimeout for the whole transfer.
func TestSlowDripDataIsCut(t *testing.T) {
	h := newHarness(t, harnessConfig{intake: IntakeConfig{ReadTimeout: 300 * time.Millisecond}})
	c := dialFrom(t, h.addr, "")
	c.expect("220 ")
	c.cmd("EHLO client.test", "250 ")
	auth := sasl.NewPlainClient("", "app", h.password)
	_, ir, _ := auth.Start()
	c.cmd("AUTH PLAIN "+b64(ir), "235 ")
	c.cmd("MAIL FROM:<app@example.com>", "250 ")
	c.cmd("RCPT TO:<user@example.net>", "250 ")
	c.cmd("DATA", "354 ")
	start := time.Now()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var reply string
	for i := 0; ; i++ {
		<-tick.C
		if _, err := fmt.Fprintf(c, "line %d\r\n", i); err != nil {
			break // the server hung up
		}
		if time.Since(start) > 5*time.Second {
			t.Fatal("a slow-drip DATA transfer was never cut")
		}
		last, closed := c.closedBy(time.Millisecond)
		if last != "" {
			reply = last
		}
		if closed {
			break
		}
	}
	if reply == "" {
		reply, _ = c.closedBy(time.Second)
	}
	switch {
	case reply == "":
		// Our write after the server closed may draw a reset that
		// discards the reply on the way: nothing left to check.
		t.Log("the connection was reset before the reply could be read")
	case !strings.HasPrefix(reply, "421 4.4.2"):
		t.Errorf("a cut DATA transfer was answered %q, want 421 4.4.2 and the connection closed", reply)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("slow DATA cut after %v, want about 300ms", d)
	}
	if n, _ := h.spool.Counts(); n[spool.Waiting] != 0 {
		t.Errorf("a cut transfer was spooled: %v", n)
	}
}

// TestSessionLifetimeIsCapped: a client that keeps its session busy with
// NOOPs, each well within the idle timeout, is still closed at the end of
// the session's lifetime.
func TestSessionLifetimeIsCapped(t *testing.T) {
	h := newHarness(t, harnessConfig{intake: IntakeConfig{MaxSessionDuration: 400 * time.Millisecond}})
	c := dialFrom(t, h.addr, "")
	c.expect("220 ")
	start := time.Now()
	for time.Since(start) < 5*time.Second {
		if _, err := io.WriteString(c, "NOOP\r\n"); err != nil {
			break
		}
		line, err := c.reply()
		if err != nil || !strings.HasPrefix(line, "250 ") {
			break
		}
		time.Sleep(20 * time.Millisecond) // the client's pace, not a wait for the server
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("busy session still open after %v, lifetime 400ms", d)
	}
	waitFor(t, "the session to be counted out", func() bool { return h.intake.limits.open() == 0 })
}

// TestNoOpenRelay: with --trusted-networks 127.0.0.1/32, a client from
// 127.0.0.2 is a stranger: no relaying without AUTH (530 5.7.0), while
// 127.0.0.1 may, and the stranger may after AUTH.
func TestNoOpenRelay(t *testing.T) {
	h := newHarness(t, harnessConfig{intake: IntakeConfig{TrustedNetworks: mustPrefixes(t, "127.0.0.1/32")}})
	stranger := smtpClientFrom(t, h.addr, "127.0.0.2")
	if err := stranger.Mail("spam@example.com", nil); smtpReply(err) != "530 5.7.0" {
		t.Fatalf("stranger's MAIL without AUTH: %v, want 530 5.7.0", err)
	}
	if err := stranger.Rcpt("victim@example.net", nil); err == nil {
		t.Fatal("stranger's RCPT accepted after a refused MAIL")
	}
	if n, _ := h.spool.Counts(); n[spool.Waiting] != 0 {
		t.Fatalf("stranger's mail spooled: %v", n)
	}
	if _, err := send(t, smtpClientFrom(t, h.addr, "127.0.0.1"), "cron@example.com", []string{"ops@example.net"}, message("trusted")); err != nil {
		t.Fatalf("trusted 127.0.0.1 refused: %v", err)
	}
	if err := stranger.Auth(sasl.NewPlainClient("", "app", h.password)); err != nil {
		t.Fatal(err)
	}
	if _, err := send(t, stranger, "app@example.com", []string{"user@example.net"}, message("after auth")); err != nil {
		t.Fatalf("stranger after AUTH: %v", err)
	}
}

func smtpClientFrom(t testing.TB, addr, from string) *smtp.Client {
	t.Helper()
	rc := dialFrom(t, addr, from)
	rc.SetDeadline(time.Time{})
	c := smtp.NewClient(rc.Conn)
	t.Cleanup(func() { c.Close() })
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	return c
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func TestIPv6ClientsCountBySlash64(t *testing.T) {
	for addr, want := range map[string]string{
		"[2001:db8:1:2:3:4:5:6]:25": "2001:db8:1:2::",
		"[2001:db8:1:2:ff::1]:25":   "2001:db8:1:2::",
		"[::ffff:192.0.2.1]:25":     "192.0.2.1",
		"192.0.2.1:25":              "192.0.2.1",
	} {
		if got := remoteIP(fakeRemote{addr: addr}); got.String() != want {
			t.Errorf("client %s counts as %s, want %s", addr, got, want)
		}
	}
}

// fakeRemote is a connection that claims another remote address.
type fakeRemote struct {
	net.Conn
	addr string
}

func (f fakeRemote) RemoteAddr() net.Addr { return fakeAddr(f.addr) }

type fakeAddr string

func (a fakeAddr) Network() string { return "tcp" }
func (a fakeAddr) String() string  { return string(a) }

// TestSessionLifetimeSaysSo: a busy session closed at the end of its
// lifetime is told why, in plain text or under TLS (go-smtp would say
// "Idle timeout"), and so is one cut off in the middle of its data,
// which is not stored.
func TestSessionLifetimeSaysSo(t *testing.T) {
	cert, pool := smtptest.Certificate(t)
	h := trustedHarness(t, IntakeConfig{MaxSessionDuration: time.Second,
		TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
	implicit, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go h.intake.Serve(implicit, true)
	clientTLS := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	for _, tt := range []struct {
		name string
		open func(t *testing.T) *rawConn
	}{
		{"plain", func(t *testing.T) *rawConn { return rawSession(t, h) }},
		{"STARTTLS", func(t *testing.T) *rawConn {
			c := rawSession(t, h)
			c.cmd("STARTTLS", "220 ")
			c = c.overTLS(tls.Client(c.Conn, clientTLS))
			c.cmd("EHLO client.test", "250 ")
			return c
		}},
		{"implicit TLS", func(t *testing.T) *rawConn {
			c := dialFrom(t, implicit.Addr().String(), "")
			c = c.overTLS(tls.Client(c.Conn, clientTLS))
			c.expect("220 ")
			c.cmd("EHLO client.test", "250 ")
			return c
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := tt.open(t)
			if last := noopUntilRefused(t, c); !strings.HasPrefix(last, "421 4.4.2 Session too long") {
				t.Errorf("at the end of its lifetime, a busy session was told %q", last)
			}
			if _, closed := c.closedBy(5 * time.Second); !closed {
				t.Error("connection left open")
			}
		})
	}
	t.Run("in DATA", func(t *testing.T) {
		t.Parallel()
		c := rawSession(t, h)
		c.cmd("MAIL FROM:<a@example.com>", "250 ")
		c.cmd("RCPT TO:<b@example.net>", "250 ")
		c.cmd("DATA", "354 ")
		for i := 0; ; i++ {
			// A line that crosses the goodbye fails to go, or resets
			// the connection: the goodbye is read all the same.
			_, err := fmt.Fprintf(c, "line %d\r\n", i)
			if last, closed := c.closedBy(20 * time.Millisecond); last != "" || closed {
				if !strings.HasPrefix(last, "421 4.4.2 Session too long") {
					t.Errorf("a session cut in its data was told %q", last)
				}
				break
			}
			if err != nil {
				t.Fatalf("the connection broke without a reply: %v", err)
			}
		}
		if n, _ := h.spool.Counts(); n[spool.Waiting] != 0 {
			t.Errorf("a cut message was spooled: %v", n)
		}
	})
}

// overTLS is c after a TLS handshake as the client.
func (c *rawConn) overTLS(tc *tls.Conn) *rawConn {
	c.t.Helper()
	if err := tc.Handshake(); err != nil {
		c.t.Fatal(err)
	}
	return &rawConn{t: c.t, Conn: tc, r: bufio.NewReader(tc)}
}

// noopUntilRefused keeps c busy with NOOPs until one is not answered 250,
// and returns that answer. A NOOP that crosses the server's goodbye may
// fail to go, or be answered by a reset: the goodbye, sent before, is
// still read.
func noopUntilRefused(t *testing.T, c *rawConn) string {
	t.Helper()
	for start := time.Now(); time.Since(start) < 10*time.Second; {
		_, werr := io.WriteString(c, "NOOP\r\n")
		line, err := c.reply()
		if err != nil || !strings.HasPrefix(line, "250 ") {
			return line
		}
		if werr != nil {
			t.Fatalf("a NOOP that could not be sent was answered %q", line)
		}
		time.Sleep(20 * time.Millisecond) // the client's pace, not a wait for the server
	}
	t.Fatal("the session outlived its lifetime")
	return ""
}
