package relay

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"regexp"
	"testing"
	"time"

	"github.com/holdrelay/relay/spool"
)

var (
	queuedRe = regexp.MustCompile(`(?m)^250 2\.0\.0 OK: queued as (\S+)\r$`)
	replyRe  = regexp.MustCompile(`^[2-5][0-9][0-9][ -]`)
)

// FuzzDialogue plays arbitrary client bytes to a real intake over
// loopback, then closes its side. The intake must not panic (go-smtp
// turns a panic into "421 4.0.0 Internal server error"), must answer
// only well-formed replies, must close the connection once the client is
// done (no hang), and every message it answered 250 must be in the spool,
// without a bare CR.
func FuzzDialogue(f *testing.F) {
	for _, seed := range []string{
		"EHLO client.test\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\nSubject: hi\r\n\r\nbody\r\n.\r\nQUIT\r\n",
		"HELO x\r\nMAIL FROM:<>\r\nRCPT TO:<b@example.net>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n..dot\r\n.\r\n",
		"EHLO x\r\nMAIL FROM:<a@example.com> BODY=8BITMIME SIZE=20\r\nRCPT TO:<b@example.net>\r\nDATA\r\nSubject: \xc3\xa9\r\n\r\n\xff\xfe\r\n.\r\n",
		"EHLO x\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nBDAT 12 LAST\r\nSubject: x\r\n",
		"EHLO x\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nBDAT 5\r\nSubjeBDAT 3 LAST\r\nct:",
		"EHLO x\nMAIL FROM:<a@example.com>\nRCPT TO:<b@example.net>\nDATA\nbare\n.\nLF\r\n.\r\n",
		"EHLO x\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\na\n.\r\nMAIL FROM:<smuggled@example.com>\r\n.\r\n",
		"EHLO x\r\nAUTH PLAIN AGFwcABub3Bl\r\nAUTH LOGIN\r\nYXBw\r\nbm9wZQ==\r\nAUTH LOGIN\r\n*\r\nAUTH CRAM-MD5\r\n",
		"EHLO x\r\nMAIL FROM:<\xc3\xbc@example.com> SMTPUTF8\r\nRCPT TO:<\xc3\xbc@example.com>\r\n",
		"EHLO x\r\nMAIL FROM:<a\x00b@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n\x00\x00\r\n.\r\n",
		"EHLO x\r\nSTARTTLS\r\nRSET\r\nNOOP\r\nVRFY a\r\nHELP\r\nEXPN a\r\nDATA\r\nBDAT x\r\nBDAT 1 2 3\r\nQUIT\r\n",
		"\r\n\r\n   \r\nMAIL\r\nRCPT\r\nEHLO\r\n",
		"EHLO x\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\na\r.\rMAIL FROM:<evil@example.com>\rDATA\rb\r\n.\r\n",
		"EHLO x\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\na\r.\nMAIL FROM:<evil@example.com>\r\n.\r\n",
		"EHLO x\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\na\r\n.\rMAIL FROM:<evil@example.com>\r\n..b\r\n.\r\n",
		"EHLO x\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\na\r\r\n.\r\nb\r\n.\r\n",
		"EHLO x\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nBDAT 9 LAST\r\na\r.\r\nb\r",
	} {
		f.Add([]byte(seed))
	}
	h := newHarness(f, harnessConfig{intake: IntakeConfig{
		TrustedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, MaxMessageBytes: 64 << 10,
		// Longer than the client waits below: an intake that waits for
		// more input after the client is done fails the fuzz test.
		ReadTimeout: time.Minute, MaxConnections: -1, MaxConnectionsPerIP: -1,
	}, logTo: io.Discard}) // f.Log may not be called from the fuzz function
	f.Fuzz(func(t *testing.T, input []byte) {
		if len(input) > 64<<10 {
			return
		}
		c, err := net.Dial("tcp", h.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		go func() {
			c.Write(input) // the server may hang up first
			c.(*net.TCPConn).CloseWrite()
		}()
		out, err := io.ReadAll(c)
		if err != nil && !isReset(err) {
			t.Fatalf("reading the replies: %v (the intake did not close the connection)\nreplies so far:\n%s", err, out)
		}
		if bytes.Contains(out, []byte("Internal server error")) {
			t.Fatalf("the intake panicked:\n%s", out)
		}
		for _, line := range bytes.SplitAfter(out, []byte("\r\n")) {
			if len(line) > 0 && !replyRe.Match(line) {
				t.Fatalf("malformed reply line %q in:\n%s", line, out)
			}
		}
		for _, m := range queuedRe.FindAllSubmatch(out, -1) {
			id, err := spool.ParseID(string(m[1]))
			if err != nil {
				t.Fatalf("250 names a bad ID %q: %v", m[1], err)
			}
			body, err := h.spool.Body(id)
			if err != nil || !bytes.HasPrefix(body, []byte("Received: ")) {
				t.Fatalf("250 for %s, but the spool has %q, %v", id, body, err)
			}
			if hasBareCR(body) {
				t.Fatalf("250 for %s, with a bare CR: %q", id, body)
			}
		}
	})
}

// isReset: the intake may hang up while input is still unread, and the
// kernel then resets the connection. A timeout is not a reset.
func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}
