package relay

import (
	"strings"
	"testing"

	"github.com/holdrelay/relay/auth"
	"github.com/holdrelay/relay/spool"
)

// TestFromHeaderCannotBeSmuggled: whatever the upstream or a receiver may
// read as a From: field is checked against the credential's allowed
// senders, and a message with two of them is refused outright.
func TestFromHeaderCannotBeSmuggled(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	if _, err := h.creds.Update("app", auth.Settings{AllowedSenders: []string{"@corp.example"}}); err != nil {
		t.Fatal(err)
	}
	const ok, evil = "From: app@corp.example\r\n", "From: ceo@evil.example\r\n"
	padding := strings.Repeat("X-Padding: "+strings.Repeat("p", 70)+"\r\n", 1000) // 83 KB
	for _, tt := range []struct {
		name, header, want string
	}{
		{"allowed", ok + "Subject: s\r\n", "250 2.0.0"},
		{"a From in the body is no header", ok + "\r\n" + evil, "250 2.0.0"},
		{"two From fields", ok + evil, "554 5.6.0"},
		{"the same From twice", ok + ok, "554 5.6.0"},
		{"a second from in lower case", ok + "from: ceo@evil.example\r\n", "554 5.6.0"},
		{"space before the colon", ok + "From : ceo@evil.example\r\n", "554 5.6.0"},
		{"only a From with space before the colon", "From\t: ceo@evil.example\r\n", "550 5.7.1"},
		{"after a line that is not a field", ok + "not a field\r\n" + evil, "554 5.6.0"},
		{"after 64 KiB of header", ok + padding + evil, "554 5.6.0"},
		{"split off by a bare LF", ok + "Subject: s\n" + evil, "554 5.6.0"},
		{"folded into the allowed one", "From: app@corp.example,\r\n ceo@evil.example\r\n", "550 5.7.1"},
		{"no From at all", "Subject: s\r\n", "550 5.7.1"},
		{"a From that does not parse", "From: app@corp.example <\r\n", "550 5.7.1"},
		// Bare CRs: refused, whether for the From: or for the CR itself.
		{"split off by a bare CR", ok + "Subject: s\r" + evil, "5"},
		{"hidden in a line by a bare CR", "Subject: s\r" + evil, "5"},
		{"a bare CR before the empty line", ok + "Subject: s\r\r\n" + evil, "5"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := h.rawLogin(t)
			c.cmd("MAIL FROM:<app@corp.example>", "250 ")
			c.cmd("RCPT TO:<u@example.net>", "250 ")
			c.cmd("DATA", "354 ")
			c.cmd(tt.header+"\r\nbody\r\n.", tt.want)
		})
	}
	if n, _ := h.spool.Counts(); n[spool.Waiting] != 2 {
		t.Errorf("spooled %v, want the two allowed messages", n)
	}
}

// rawLogin opens a raw session logged in as "app", to send bytes no
// well-behaved client library would.
func (h *harness) rawLogin(t testing.TB) *rawConn {
	t.Helper()
	c := dialFrom(t, h.addr, "127.0.0.1")
	c.expect("220 ")
	c.cmd("EHLO client.test", "250 ")
	c.cmd("AUTH PLAIN "+b64([]byte("\x00app\x00"+h.password)), "235 ")
	return c
}

// TestTwoFromFieldsRefusedForEveryone: the rule is RFC 5322's, not the
// credential's: a trusted client without credentials is refused too.
func TestTwoFromFieldsRefusedForEveryone(t *testing.T) {
	h := trustedHarness(t, IntakeConfig{})
	c := rawSession(t, h)
	c.cmd("MAIL FROM:<a@example.com>", "250 ")
	c.cmd("RCPT TO:<b@example.net>", "250 ")
	c.cmd("DATA", "354 ")
	c.cmd("From: a@example.com\r\nFrom: ceo@example.org\r\n\r\nbody\r\n.", "554 5.6.0")
	c.cmd("MAIL FROM:<a@example.com>", "250 ")
	c.cmd("RCPT TO:<b@example.net>", "250 ")
	c.cmd("DATA", "354 ")
	c.cmd("From: a@example.com\r\n\r\nbody\r\n.", "250 2.0.0")
	if n, _ := h.spool.Counts(); n[spool.Waiting] != 1 {
		t.Errorf("spooled %v, want only the message with one From:", n)
	}
}

func TestFromFields(t *testing.T) {
	for _, tt := range []struct {
		msg    string
		n      int
		values []string
	}{
		{"From: a\r\nTo: b\r\n\r\nFrom: c\r\n", 1, []string{" a", " a"}},
		{"From: a,\r\n\tb\r\n", 1, []string{" a,\tb", " a,\tb"}},
		{"FROM : a\nfrom:b", 2, []string{" a", "b", " a", "b"}},
		{"X: y\rFrom: a\r\n", 1, []string{" a"}},
		{"From: a\rFrom: b\r\n", 2, []string{" a\rFrom: b", " a", " b"}},
		{"Subject: s\n\nFrom: a\r\n", 0, nil},
		{"From-Not: a\r\nXFrom: b\r\n", 0, nil},
	} {
		n, values := fromFields([]byte(tt.msg))
		if n != tt.n || strings.Join(values, "|") != strings.Join(tt.values, "|") {
			t.Errorf("fromFields(%q) = %d %q, want %d %q", tt.msg, n, values, tt.n, tt.values)
		}
	}
}

// FuzzFromFields: whatever the message, the reading ends, and every value
// it returns comes from the message as it was.
func FuzzFromFields(f *testing.F) {
	f.Add([]byte("From: a@b\r\n folded\r\n\r\nbody"))
	f.Add([]byte("From : a\rFrom: b\nfrom:c"))
	f.Add([]byte("\r\r\n\r"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		orig := string(msg)
		n, values := fromFields(msg)
		if string(msg) != orig {
			t.Fatal("fromFields changed the message")
		}
		if n > len(values) || len(values) > 2*n {
			t.Fatalf("%d fields but %d values", n, len(values))
		}
	})
}
