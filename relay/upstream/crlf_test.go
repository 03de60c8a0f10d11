package upstream

import (
	"bytes"
	"strings"
	"testing"

	"github.com/holdrelay/relay/internal/smtptest"
)

// smugglers are bodies that, sent as they are, end the data early at an
// upstream that takes a bare CR (or LF) for a line end, and run what
// follows as a second transaction.
var smugglers = map[string]string{
	`\r.\r`:   "Subject: s\r\n\r\nfirst\r.\rMAIL FROM:<evil@example.com>\rRCPT TO:<victim@example.net>\rDATA\rsecond\r\n",
	`\r.\r\n`: "Subject: s\r\n\r\nfirst\r.\r\nMAIL FROM:<evil@example.com>\r\nRCPT TO:<victim@example.net>\r\nDATA\r\nsecond\r\n",
	`\r.\n`:   "Subject: s\r\n\r\nfirst\r.\nMAIL FROM:<evil@example.com>\nRCPT TO:<victim@example.net>\nDATA\nsecond\r\n",
	`\n.\r`:   "Subject: s\r\n\r\nfirst\n.\rMAIL FROM:<evil@example.com>\rRCPT TO:<victim@example.net>\rDATA\rsecond\r\n",
	`\n.\n`:   "Subject: s\r\n\r\nfirst\n.\nMAIL FROM:<evil@example.com>\nRCPT TO:<victim@example.net>\nDATA\nsecond\r\n",
	`end \r`:  "Subject: s\r\n\r\nfirst\r\n.\r",
}

// TestNoSmugglingOnTheWire: whatever a spooled body holds, what goes to
// the upstream has no bare CR or LF, and a lax upstream sees one
// transaction per message.
func TestNoSmugglingOnTheWire(t *testing.T) {
	for name, body := range smugglers {
		t.Run(name, func(t *testing.T) {
			up := &smtptest.Server{}
			up.Start(t)
			tap := smtptest.StartTap(t, up.Addr())
			tr, err := New("smtp://"+tap.Addr()+"?tls=none", Options{Hostname: "relay.test"})
			if err != nil {
				t.Fatal(err)
			}
			wantAll(t, tr.Deliver(t.Context(), testEnv, []byte(body)), 250, "")
			conns := tap.Sent()
			if len(conns) != 1 {
				t.Fatalf("%d connections to the upstream, want 1", len(conns))
			}
			sent := conns[0]
			if mails := smtptest.LaxMailFroms(sent); len(mails) != 1 {
				t.Errorf("a lax upstream runs %d transactions: %q", len(mails), mails)
			}
			if i := bareCROrLF(sent); i >= 0 {
				t.Errorf("bare CR or LF at byte %d on the wire: %q", i, sent[max(0, i-20):min(len(sent), i+20)])
			}
			msgs := up.Messages()
			if len(msgs) != 1 || !bytes.HasPrefix(msgs[0].Data, []byte("Subject: s\r\n\r\nfirst")) ||
				!bytes.Contains(msgs[0].Data, []byte("evil@example.com")) && !strings.HasPrefix(name, "end") {
				t.Fatalf("the upstream did not get the whole body as one message: %d messages", len(msgs))
			}
		})
	}
}

// bareCROrLF is the index of the first CR or LF that is not part of a
// CRLF, or -1.
func bareCROrLF(b []byte) int {
	for i, c := range b {
		switch {
		case c == '\r' && (i+1 == len(b) || b[i+1] != '\n'):
			return i
		case c == '\n' && (i == 0 || b[i-1] != '\r'):
			return i
		}
	}
	return -1
}

func TestCRLFOnly(t *testing.T) {
	for in, want := range map[string]string{
		"plain\r\n":        "plain\r\n",
		"a\rb\r\n":         "a\r\nb\r\n",
		"ends in CR\r":     "ends in CR\r\n",
		"cr cr\r\r\nx\r\n": "cr cr\r\n\r\nx\r\n",
		"\r.\r\n":          "\r\n.\r\n",
		"bare LF\n":        "bare LF\n", // the dot writer's to mend
		"":                 "",
	} {
		if got := crlfOnly([]byte(in)); string(got) != want {
			t.Errorf("crlfOnly(%q) = %q, want %q", in, got, want)
		}
	}
	body := []byte("nothing to mend\r\n")
	if got := crlfOnly(body); &got[0] != &body[0] {
		t.Error("a body without a bare CR was copied")
	}
}
