package relay

import (
	"strings"
	"testing"
	"time"

	"github.com/holdrelay/relay/internal/smtptest"
	"github.com/holdrelay/relay/spool"
)

// A body that, sent on as it is, ends the data early at an upstream that
// takes a bare CR for a line end, and runs the rest as a transaction of
// its own.
func smuggler(end string) string {
	eol := strings.TrimPrefix(end, "\r.")
	if eol == "" || eol == end {
		eol = "\r"
	}
	return "Subject: smuggling\r\n\r\nfirst" + end + "MAIL FROM:<evil@example.com>" + eol +
		"RCPT TO:<victim@example.net>" + eol + "DATA" + eol + "second\r\n"
}

// TestBareCRIsRefused: a message with a CR that is not part of a CRLF gets
// 554 5.6.0, by DATA or BDAT, and the session goes on; nothing of it is
// spooled, and the upstream, read as a lax server would, sees only the
// transactions of the messages accepted.
func TestBareCRIsRefused(t *testing.T) {
	var tap *smtptest.Tap
	h := newHarness(t, harnessConfig{
		intake: IntakeConfig{TrustedNetworks: mustPrefixes(t, "127.0.0.1/32")},
		front:  func(up string) string { tap = smtptest.StartTap(t, up); return tap.Addr() },
	})
	c := rawSession(t, h)
	for _, body := range []string{
		smuggler("\r.\r"),
		smuggler("\r.\r\n"),
		smuggler("\r.\n"), // go-smtp keeps it; a lax upstream would read \r.\r\n
		smuggler("\n.\r"),
		"Subject: a\rFrom: <ceo@example.com>\r\n\r\nbody\r\n",
		"Subject: a\r\n\r\ndouble\r\r\nconverted\r\n",
		// CR CR LF ends a line: the final dot right after it is seen.
		"Subject: a\r\n\r\ndouble at the end\r\r\n",
		// Dot-unstuffing takes the dot and nothing else: the bare CR
		// after it stays, whatever follows it.
		"Subject: dot CR\r\n\r\nfirst\r\n.\rMAIL FROM:<evil@example.com>\r\nsecond\r\n",
		"Subject: dot CR CR LF\r\n\r\nfirst\r\n.\r\r\n",
		".\rSubject: dot CR first\r\n\r\nbody\r\n",
	} {
		c.cmd("MAIL FROM:<a@example.com>", "250 ")
		c.cmd("RCPT TO:<b@example.net>", "250 ")
		c.cmd("DATA", "354 ")
		c.cmd(body+".", "554 5.6.0")
	}
	for _, body := range []string{smuggler("\r.\r\n"), "Subject: ends in CR\r\n\r\nbody\r"} {
		c.cmd("MAIL FROM:<a@example.com>", "250 ")
		c.cmd("RCPT TO:<b@example.net>", "250 ")
		c.chunk(body, true, "554 5.6.0")
	}
	if n, _ := h.spool.Counts(); n[spool.Waiting] != 0 {
		t.Fatalf("spooled %v, want nothing", n)
	}

	// Accepted: a plain message, with its stuffed dots taken off.
	c.cmd("MAIL FROM:<a@example.com>", "250 ")
	c.cmd("RCPT TO:<b@example.net>", "250 ")
	c.cmd("DATA", "354 ")
	reply := c.cmd("Subject: plain\r\n\r\n..body\r\n..\r\n.", "250 2.0.0")
	if got, want := string(bodyOf(t, h, reply)), "Subject: plain\r\n\r\n.body\r\n.\r\n"; got != want {
		t.Errorf("stored %q, want %q", got, want)
	}
	c.cmd("QUIT", "221 ")

	h.settle()
	h.clock.Advance(time.Minute)
	msgs := h.upstream.Wait(t, 1)
	h.settle()
	var mails []string
	for _, sent := range tap.Sent() {
		mails = append(mails, smtptest.LaxMailFroms(sent)...)
		if strings.Contains(strings.ReplaceAll(string(sent), "\r\n", ""), "\r") {
			t.Errorf("a bare CR went to the upstream: %q", sent)
		}
	}
	if len(mails) != len(msgs) || len(msgs) != 1 {
		t.Errorf("upstream accepted %d messages; a lax upstream would run %d transactions: %q", len(msgs), len(mails), mails)
	}
}
