package relay

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/holdrelay/relay/spool"
)

// rawSession is a logged-in raw dialogue up to the point where a message
// may be sent, from a trusted address so that no AUTH is needed.
func rawSession(t *testing.T, h *harness) *rawConn {
	t.Helper()
	c := dialFrom(t, h.addr, "127.0.0.1")
	c.expect("220 ")
	c.cmd("EHLO client.test", "250 ")
	return c
}

func trustedHarness(t *testing.T, ic IntakeConfig) *harness {
	ic.TrustedNetworks = mustPrefixes(t, "127.0.0.1/32")
	return newHarness(t, harnessConfig{intake: ic})
}

// bodyOf returns what the spool keeps of a message after our Received
// header: the message as the client sent it.
func bodyOf(t *testing.T, h *harness, reply string) []byte {
	t.Helper()
	_, id, ok := strings.Cut(reply, "queued as ")
	if !ok {
		t.Fatalf("no ID in %q", reply)
	}
	pid, err := spool.ParseID(id)
	if err != nil {
		t.Fatal(err)
	}
	body, err := h.spool.Body(pid)
	if err != nil {
		t.Fatal(err)
	}
	// Skip the Received field: its first line and its folded ones.
	end := bytes.Index(body, []byte("\r\n"))
	for end >= 0 && end+2 < len(body) && (body[end+2] == ' ' || body[end+2] == '\t') {
		next := bytes.Index(body[end+2:], []byte("\r\n"))
		if next < 0 {
			break
		}
		end += 2 + next
	}
	return body[end+2:]
}

func TestHugeHeaders(t *testing.T) {
	h := trustedHarness(t, IntakeConfig{MaxMessageBytes: 1 << 20})
	c := rawSession(t, h)

	// A 600 KiB header, folded into lines within the limit: accepted, and
	// what support sees of it is bounded.
	var msg strings.Builder
	msg.WriteString("Subject: huge")
	for msg.Len() < 600<<10 {
		msg.WriteString("\r\n " + strings.Repeat("y", 900))
	}
	msg.WriteString("\r\nX-Many: 1\r\n\r\nbody\r\n")
	c.cmd("MAIL FROM:<a@example.com>", "250 ")
	c.cmd("RCPT TO:<b@example.net>", "250 ")
	c.cmd("DATA", "354 ")
	reply := c.cmd(msg.String()+".", "250 2.0.0")
	id := queuedID(t, reply)
	m, err := h.spool.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Subject) > 998 || !strings.HasPrefix(m.Subject, "huge") {
		t.Errorf("subject kept for support: %d bytes starting %.20q", len(m.Subject), m.Subject)
	}

	// Ten thousand header fields: accepted, no more than the limit stored.
	msg.Reset()
	for i := range 10000 {
		fmt.Fprintf(&msg, "X-Field-%d: v\r\n", i)
	}
	msg.WriteString("Subject: many\r\n\r\nbody\r\n")
	c.cmd("MAIL FROM:<a@example.com>", "250 ")
	c.cmd("RCPT TO:<b@example.net>", "250 ")
	c.cmd("DATA", "354 ")
	c.cmd(msg.String()+".", "250 2.0.0")

	// One header line longer than the line limit: 500 5.5.2 after the
	// data, nothing kept, and the session goes on.
	c.cmd("MAIL FROM:<a@example.com>", "250 ")
	c.cmd("RCPT TO:<b@example.net>", "250 ")
	c.cmd("DATA", "354 ")
	c.cmd("Subject: "+strings.Repeat("z", 3000)+"\r\n\r\nbody\r\n.", "500 5.5.2")
	c.cmd("NOOP", "250 ")
	c.sendOK("Subject: after\r\n\r\nbody\r\n")
	if n, _ := h.spool.Counts(); n[spool.Waiting] != 3 {
		t.Errorf("spooled %v, want the three good messages", n)
	}
}

// TestBareLFCannotSmuggle: only CRLF.CRLF ends the data (RFC 5321 4.1.1.4).
// A bare LF before or after the dot must not end it at the intake, and
// must not let a second message be smuggled to the upstream either.
func TestBareLFCannotSmuggle(t *testing.T) {
	h := trustedHarness(t, IntakeConfig{})
	c := rawSession(t, h)
	c.cmd("MAIL FROM:<a@example.com>", "250 ")
	c.cmd("RCPT TO:<b@example.net>", "250 ")
	c.cmd("DATA", "354 ")
	smuggle := "Subject: smuggling\r\n\r\nfirst\n.\nMAIL FROM:<evil@example.com>\nRCPT TO:<victim@example.net>\nDATA\n" +
		"second\r\n.\nthird\n.\r\nQUIT\r\nfourth\r\n"
	reply := c.cmd(smuggle+".", "250 2.0.0")
	// go-smtp takes "\r\n.\n" for a dot-stuffed line and removes the dot;
	// everything else is kept as sent.
	want := strings.Replace(smuggle, "\r\n.\n", "\r\n\n", 1)
	if got := bodyOf(t, h, reply); string(got) != want {
		t.Errorf("stored body %q, want %q", got, want)
	}
	c.cmd("QUIT", "221 ")

	h.settle()
	h.clock.Advance(time.Minute)
	msgs := h.upstream.Wait(t, 1)
	h.waitState(queuedID(t, reply), spool.Delivered)
	if n := len(h.upstream.Messages()); n != 1 {
		t.Fatalf("upstream got %d messages, want 1", n)
	}
	if m := msgs[0]; m.From != "a@example.com" || len(m.To) != 1 || m.To[0] != "b@example.net" {
		t.Errorf("upstream envelope %s -> %v", m.From, m.To)
	}
	if !bytes.Contains(msgs[0].Data, []byte("evil@example.com")) || !bytes.Contains(msgs[0].Data, []byte("fourth")) {
		t.Errorf("upstream did not get the whole message as data:\n%q", msgs[0].Data)
	}
	// An upstream more lenient than go-smtp might end the data at "\n.\n":
	// on the wire to it, every line must end in CRLF.
	for i, b := range msgs[0].Data {
		if b == '\n' && (i == 0 || msgs[0].Data[i-1] != '\r') {
			t.Fatalf("bare LF at byte %d of what the upstream got: %q", i, msgs[0].Data)
		}
	}
}

// TestNULBytes: NUL in a command is refused; NUL in the body is kept
// byte for byte (RFC 5321 does not forbid it in DATA, and a relay must
// not alter what it cannot judge).
func TestNULBytes(t *testing.T) {
	h := trustedHarness(t, IntakeConfig{})
	c := rawSession(t, h)
	if line := c.cmd("MAIL FROM:<a\x00b@example.com>", ""); !strings.HasPrefix(line, "5") {
		t.Errorf("NUL in MAIL FROM: %q, want a 5xx", line)
	}
	c.cmd("RSET", "250 ")
	c.cmd("MAIL FROM:<a@example.com>", "250 ")
	if line := c.cmd("RCPT TO:<b\x00@example.net>", ""); !strings.HasPrefix(line, "5") {
		t.Errorf("NUL in RCPT TO: %q, want a 5xx", line)
	}
	c.cmd("RCPT TO:<b@example.net>", "250 ")
	c.cmd("DATA", "354 ")
	body := "Subject: nul\x00here\r\n\r\nnul \x00 in \x00\x00 the body\r\n"
	reply := c.cmd(body+".", "250 2.0.0")
	if got := bodyOf(t, h, reply); !bytes.Equal(got, []byte(body)) {
		t.Errorf("stored body %q, want %q", got, body)
	}
	m, _ := h.spool.Get(queuedID(t, reply))
	if strings.ContainsRune(m.Subject, 0) {
		t.Errorf("subject kept for support has a NUL: %q", m.Subject)
	}
}

// Test8BITMIME: advertised (RFC 6152), BODY=8BITMIME accepted, and 8-bit
// bodies arrive at the upstream unchanged.
func Test8BITMIME(t *testing.T) {
	h := trustedHarness(t, IntakeConfig{})
	c := dialFrom(t, h.addr, "127.0.0.1")
	c.expect("220 ")
	if _, err := c.Write([]byte("EHLO client.test\r\n")); err != nil {
		t.Fatal(err)
	}
	var ehlo []string
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		ehlo = append(ehlo, strings.TrimSpace(line[4:]))
		if line[3] == ' ' {
			break
		}
	}
	if !containsFold(ehlo, "8BITMIME") {
		t.Errorf("EHLO does not advertise 8BITMIME: %v", ehlo)
	}
	if containsFold(ehlo, "SMTPUTF8") {
		t.Errorf("EHLO advertises SMTPUTF8, which the intake refuses: %v", ehlo)
	}
	c.cmd("MAIL FROM:<a@example.com> BODY=8BITMIME", "250 ")
	c.cmd("RCPT TO:<b@example.net>", "250 ")
	c.cmd("DATA", "354 ")
	body := "Subject: =?UTF-8?Q?caf=C3=A9?=\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\ncaf\xc3\xa9, \xe6\x97\xa5\xe6\x9c\xac, \xff\r\n"
	reply := c.cmd(body+".", "250 2.0.0")
	if got := bodyOf(t, h, reply); !bytes.Equal(got, []byte(body)) {
		t.Errorf("stored body %q, want %q", got, body)
	}
	h.settle()
	h.clock.Advance(time.Minute)
	got := h.upstream.Wait(t, 1)[0]
	if !bytes.HasSuffix(got.Data, []byte(body)) {
		t.Errorf("upstream got %q, want it to end with %q", got.Data, body)
	}
	// BODY=BINARYMIME is not offered.
	c.cmd("MAIL FROM:<a@example.com> BODY=BINARYMIME", "5")
}

// TestSMTPUTF8IsNotOffered: RFC 6531 section 3.5: without SMTPUTF8
// advertised, the parameter is refused, and non-ASCII addresses get
// 553 5.6.7 at once, rather than being retried upstream for days.
func TestSMTPUTF8IsNotOffered(t *testing.T) {
	h := trustedHarness(t, IntakeConfig{})
	c := rawSession(t, h)
	c.cmd("MAIL FROM:<a@example.com> SMTPUTF8", "5")
	c.cmd("MAIL FROM:<j\xc3\xb6rg@example.com>", "553 5.6.7")
	c.cmd("MAIL FROM:<a@example.com>", "250 ")
	c.cmd("RCPT TO:<b@\xe4\xbe\x8b\xe3\x81\x88.jp>", "553 5.6.7")
	c.cmd("RCPT TO:<b@example.net>", "250 ")
}

// TestBDAT: CHUNKING is advertised by go-smtp; chunks count against the
// message size, a message may span chunks, and a chunk's declared size
// is what is read (no line parsing inside it, so no dot to smuggle).
func TestBDAT(t *testing.T) {
	h := trustedHarness(t, IntakeConfig{MaxMessageBytes: 4096})
	c := rawSession(t, h)
	c.cmd("MAIL FROM:<a@example.com>", "250 ")
	c.cmd("RCPT TO:<b@example.net>", "250 ")
	part1 := "Subject: chunks\r\n\r\n.\r\n"
	part2 := "MAIL FROM:<evil@example.com>\r\n"
	c.chunk(part1, false, "250 ")
	reply := c.chunk(part2, true, "250 2.0.0")
	if got := bodyOf(t, h, reply); string(got) != part1+part2 {
		t.Errorf("stored %q, want %q", got, part1+part2)
	}
	// Over the size limit across chunks: 552, and the session goes on.
	c.cmd("MAIL FROM:<a@example.com>", "250 ")
	c.cmd("RCPT TO:<b@example.net>", "250 ")
	big := strings.Repeat(strings.Repeat("x", 78)+"\r\n", 38) // 3040 bytes
	c.chunk(big, false, "250 ")
	c.chunk(big, true, "552 5.3.4")
	c.cmd("NOOP", "250 ")
	// A chunk size that is not a number, or absurd: 501.
	c.cmd("BDAT 99999999999999999999", "501 ")
	c.cmd("BDAT -5 LAST", "501 ")
	if n, _ := h.spool.Counts(); n[spool.Waiting] != 1 {
		t.Errorf("spooled %v, want 1", n)
	}
}

// chunk sends one BDAT command and its chunk.
func (c *rawConn) chunk(data string, last bool, want string) string {
	c.t.Helper()
	cmd := fmt.Sprintf("BDAT %d", len(data))
	if last {
		cmd += " LAST"
	}
	if _, err := io.WriteString(c, cmd+"\r\n"+data); err != nil {
		c.t.Fatal(err)
	}
	return c.expect(want)
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(strings.Fields(x + " ")[0], s) {
			return true
		}
	}
	return false
}

// TestBDATLineLimit: go-smtp does not apply the line limit inside BDAT
// chunks; the intake does, to the whole message, so a line the upstream
// would refuse after our 250 is refused now instead, even when it spans
// chunks. The session goes on. (A chunk with an overlong line sent with
// its command: TestOverlongLines.)
func TestBDATLineLimit(t *testing.T) {
	h := trustedHarness(t, IntakeConfig{})
	c := rawSession(t, h)
	c.cmd("MAIL FROM:<a@example.com>", "250 ")
	c.cmd("RCPT TO:<b@example.net>", "250 ")
	half := strings.Repeat("y", 1500)
	c.chunk("Subject: x\r\n\r\n"+half, false, "250 ")
	c.chunk(half+"\r\n", true, "500 5.5.2 Line too long")
	c.cmd("NOOP", "250 ")
	c.sendOK("Subject: after\r\n\r\nbody\r\n")
	if n, _ := h.spool.Counts(); n[spool.Waiting] != 1 {
		t.Errorf("spooled %v, want the message after the refusal", n)
	}
}

// TestStalledBDATChunk: a BDAT chunk that stops arriving for
// --smtp-timeout is answered 421 4.4.2 and the connection is closed, as a
// stalled DATA transfer is, whether the chunk was being taken or skipped
// after a refusal: the session cannot go on in the middle of a chunk, and
// the reply tells nothing of the server's internals.
func TestStalledBDATChunk(t *testing.T) {
	h := trustedHarness(t, IntakeConfig{ReadTimeout: 200 * time.Millisecond})
	for _, tt := range []struct {
		name    string
		begin   func(c *rawConn)
		refusal string // the reply to the stalled chunk's command, if any
	}{
		{"taken", func(c *rawConn) {
			c.cmd("MAIL FROM:<a@example.com>", "250 ")
			c.cmd("RCPT TO:<b@example.net>", "250 ")
			c.chunk("Subject: stalled\r\n\r\n", false, "250 ")
		}, ""},
		{"refused", func(*rawConn) {}, "502 5.5.1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := rawSession(t, h)
			tt.begin(c)
			if _, err := io.WriteString(c, "BDAT 100 LAST\r\nbody\r\n"); err != nil {
				t.Fatal(err)
			}
			if tt.refusal != "" {
				c.expect(tt.refusal)
			}
			c.expect("421 4.4.2 Timeout reading the message, closing connection")
			if last, closed := c.closedBy(5 * time.Second); !closed || last != "" {
				t.Errorf("after the 421: %q, closed %v; want the connection closed", last, closed)
			}
		})
	}
	if n, _ := h.spool.Counts(); n[spool.Waiting] != 0 {
		t.Errorf("spooled %v, want nothing", n)
	}
}

func TestHasLineLongerThan(t *testing.T) {
	for _, tt := range []struct {
		msg  string
		max  int
		want bool
	}{
		{"", 3, false},
		{"abc", 3, false},
		{"abcd", 3, true},
		{"abc\r\n", 3, false},
		{"abc\r\nabcd\r\n", 3, true},
		{"abc\nabc\n", 3, false},
		{"ab\r\r\n", 3, false},
		{"abcd\r\n", 3, true},
	} {
		if got := hasLineLongerThan([]byte(tt.msg), tt.max); got != tt.want {
			t.Errorf("hasLineLongerThan(%q, %d) = %v", tt.msg, tt.max, got)
		}
	}
}
