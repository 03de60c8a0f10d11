package relay

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/holdrelay/relay/spool"
)

// TestOverlongLines pins what a line over --max-line-length (2000 octets)
// gets from go-smtp: its line reader refuses every read after such a
// line, so the session cannot go on (and the rest of a message is never
// read as commands). Only a line in a BDAT chunk read after its command
// has been handled escapes it: that one is the intake's to refuse, and
// the session goes on (TestBDATLineLimit).
func TestOverlongLines(t *testing.T) {
	h := trustedHarness(t, IntakeConfig{})
	long := strings.Repeat("y", 2100)
	closes := func(t *testing.T, c *rawConn, want string) {
		t.Helper()
		c.expect(want)
		if last, closed := c.closedBy(5 * time.Second); !closed || last != "" {
			t.Errorf("after %q: %q, closed %v; want the connection closed", want, last, closed)
		}
	}
	t.Run("command", func(t *testing.T) {
		c := rawSession(t, h)
		fmt.Fprintf(c, "NOOP %s\r\n", long)
		closes(t, c, "500 5.4.0 Too long line, closing connection")
	})
	t.Run("DATA", func(t *testing.T) {
		c := rawSession(t, h)
		c.cmd("MAIL FROM:<a@example.com>", "250 ")
		c.cmd("RCPT TO:<b@example.net>", "250 ")
		c.cmd("DATA", "354 ")
		fmt.Fprintf(c, "Subject: %s\r\n\r\nbody\r\n.\r\n", long)
		c.expect("500 5.5.2 Line too long")
		closes(t, c, "500 5.4.0 Too long line, closing connection")
	})
	t.Run("BDAT chunk with its command", func(t *testing.T) {
		c := rawSession(t, h)
		c.cmd("MAIL FROM:<a@example.com>", "250 ")
		c.cmd("RCPT TO:<b@example.net>", "250 ")
		fmt.Fprintf(c, "BDAT %d LAST\r\n%s\r\n", len(long)+2, long)
		closes(t, c, "500 5.4.0 Too long line, closing connection")
	})
	if n, _ := h.spool.Counts(); n[spool.Waiting] != 0 {
		t.Errorf("spooled %v, want nothing", n)
	}
}

// TestMalformedBase64InAuth pins go-smtp's answer to AUTH data that is
// not base64: 454 4.7.0, written by go-smtp before any SASL server of
// ours sees the data. No password is checked, so the throttle counts
// nothing, and the session goes on.
func TestMalformedBase64InAuth(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	c := dialFrom(t, h.addr, "127.0.0.1")
	c.expect("220 ")
	c.cmd("EHLO client.test", "250 ")
	for range addrFailures + 1 {
		c.cmd("AUTH PLAIN not-base64!", "454 4.7.0 Invalid base64 data")
		c.cmd("AUTH LOGIN", "334 ")
		c.cmd("not-base64!", "454 4.7.0 Invalid base64 data")
	}
	c.cmd("AUTH PLAIN "+b64([]byte("\x00app\x00"+h.password)), "235 ")
}
