package relay

import (
	"crypto/tls"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/holdrelay/relay/internal/smtptest"
	"github.com/holdrelay/relay/spool"
)

// TestOverlongLines: a line over --max-line-length (2000 octets, not
// counting its CRLF) is refused with 500 5.5.2 wherever it comes, the
// rest of it (or of its message) is read and discarded, and the session
// goes on: a NOOP after the refusal gets 250 and a message after it is
// accepted. Unpatched, go-smtp closed the connection with 500 5.4.0
// (third_party/go-smtp/PATCHES.md).
func TestOverlongLines(t *testing.T) {
	cert, pool := smtptest.Certificate(t)
	h := trustedHarness(t, IntakeConfig{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
	clientTLS := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	long := strings.Repeat("y", 2001)
	// Whatever follows an overlong line in the same line or message is
	// discarded: were it read as a command, its reply would come before
	// the NOOP's.
	for _, tt := range []struct {
		name string
		tls  bool
		send func(c *rawConn) // sends an overlong line and reads its refusal
	}{
		{"command", false, func(c *rawConn) {
			fmt.Fprintf(c, "NOOP %s\r\n", long)
			c.expect("500 5.5.2 Line too long")
		}},
		{"command refused before its end", false, func(c *rawConn) {
			fmt.Fprintf(c, "NOOP %s", long)
			c.expect("500 5.5.2 Line too long")
			fmt.Fprintf(c, "%s x\r\n", long)
		}},
		{"command after STARTTLS", true, func(c *rawConn) {
			fmt.Fprintf(c, "NOOP %s\r\n", long)
			c.expect("500 5.5.2 Line too long")
		}},
		{"AUTH response", false, func(c *rawConn) {
			c.cmd("AUTH LOGIN", "334 ")
			c.cmd(long, "500 5.5.2 Line too long")
		}},
		{"DATA", false, func(c *rawConn) {
			c.cmd("MAIL FROM:<a@example.com>", "250 ")
			c.cmd("RCPT TO:<b@example.net>", "250 ")
			c.cmd("DATA", "354 ")
			c.cmd("Subject: "+long+"\r\nx\r\n\r\nbody\r\nx\r\n.", "500 5.5.2 Line too long")
		}},
		{"BDAT chunk with its command", false, func(c *rawConn) {
			c.cmd("MAIL FROM:<a@example.com>", "250 ")
			c.cmd("RCPT TO:<b@example.net>", "250 ")
			c.chunk("Subject: x\r\n\r\n"+long+"\r\nx\r\n", true, "500 5.5.2 Line too long")
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := rawSession(t, h)
			if tt.tls {
				c.cmd("STARTTLS", "220 ")
				c = c.overTLS(tls.Client(c.Conn, clientTLS))
				c.cmd("EHLO client.test", "250 ")
			}
			tt.send(c)
			c.cmd("NOOP", "250 ")
			c.sendOK("Subject: after\r\n\r\nbody\r\n")
		})
	}
	if n, _ := h.spool.Counts(); n[spool.Waiting] != 6 {
		t.Errorf("spooled %v, want the 6 messages sent after a refusal", n)
	}
}

// TestOverlongLineInStalledData: after an overlong line, the rest of the
// message is read to its end before the reply; when that end does not
// come within --smtp-timeout, the session is closed with 421 4.4.2, as for
// any DATA cut short, so that the rest is never read as commands.
func TestOverlongLineInStalledData(t *testing.T) {
	h := trustedHarness(t, IntakeConfig{ReadTimeout: 200 * time.Millisecond})
	c := rawSession(t, h)
	c.cmd("MAIL FROM:<a@example.com>", "250 ")
	c.cmd("RCPT TO:<b@example.net>", "250 ")
	c.cmd("DATA", "354 ")
	fmt.Fprintf(c, "Subject: %s\r\n", strings.Repeat("y", 2001))
	// A reply of any other kind first would mean that the session went on
	// without the end of the data: whatever came next, a command.
	c.expect("421 4.4.2")
	if last, closed := c.closedBy(5 * time.Second); !closed || last != "" {
		t.Errorf("after the 421: %q, closed %v; want the connection closed", last, closed)
	}
	if n, _ := h.spool.Counts(); n[spool.Waiting] != 0 {
		t.Errorf("spooled %v, want nothing", n)
	}
}

// TestLineLimitBoundary: 2000 octets before the CRLF is within the limit,
// 2001 is over it, in a command and in a message.
func TestLineLimitBoundary(t *testing.T) {
	h := trustedHarness(t, IntakeConfig{})
	c := rawSession(t, h)
	line := func(prefix string, n int) string { return prefix + strings.Repeat("y", n-len(prefix)) }
	c.cmd(line("NOOP ", 2000), "250 ")
	c.sendOK(line("Subject: ", 2000) + "\r\n\r\nbody\r\n")
	c.cmd(line("NOOP ", 2001), "500 5.5.2 Line too long")
	c.cmd("MAIL FROM:<a@example.com>", "250 ")
	c.cmd("RCPT TO:<b@example.net>", "250 ")
	c.cmd("DATA", "354 ")
	c.cmd(line("Subject: ", 2001)+"\r\n\r\nbody\r\n.", "500 5.5.2 Line too long")
	if n, _ := h.spool.Counts(); n[spool.Waiting] != 1 {
		t.Errorf("spooled %v, want the message within the limit", n)
	}
}

// sendOK sends msg over DATA and requires it accepted.
func (c *rawConn) sendOK(msg string) {
	c.t.Helper()
	c.cmd("MAIL FROM:<a@example.com>", "250 ")
	c.cmd("RCPT TO:<b@example.net>", "250 ")
	c.cmd("DATA", "354 ")
	c.cmd(msg+".", "250 2.0.0")
}

// TestMalformedBase64InAuth: AUTH data that is not base64, in the command
// or in a response line, is a syntax error: 501 5.5.2, not go-smtp's
// 454 4.7.0 that clients retry (third_party/go-smtp/PATCHES.md). go-smtp
// answers it before any SASL server of ours sees the data, so no password
// is checked, the throttle counts nothing, and the session goes on.
func TestMalformedBase64InAuth(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	c := dialFrom(t, h.addr, "127.0.0.1")
	c.expect("220 ")
	c.cmd("EHLO client.test", "250 ")
	for range addrFailures + 1 {
		c.cmd("AUTH PLAIN not-base64!", "501 5.5.2 Invalid base64 data")
		c.cmd("AUTH LOGIN", "334 ")
		c.cmd("not-base64!", "501 5.5.2 Invalid base64 data")
	}
	c.cmd("AUTH PLAIN "+b64([]byte("\x00app\x00"+h.password)), "235 ")
	c.sendOK("Subject: after\r\n\r\nbody\r\n")
}
