package mailapi

import (
	"bytes"
	"net/mail"
	"strings"
	"testing"
	"time"
)

// FuzzParse feeds the request parser and the message builder arbitrary
// bodies: no panic, and every request accepted builds a message that
// net/mail reads, whose header has no field the request could inject
// (every line of the header is a field or a continuation, and no Bcc).
func FuzzParse(f *testing.F) {
	for _, s := range []string{simple, `{}`, `[]`, `{"personalizations": [{"to": [{"email": "a@b.c"}]}]}`,
		`{"personalizations":[{"to":[{"email":"a@b.c","name":"é\"x"}],"subject":"s","headers":{"X-A":"ü"}}],"from":{"email":"f@b.c"},"content":[{"type":"text/html","value":"<p>"}],"attachments":[{"content":"QUJD","filename":"a.txt","disposition":"inline","content_id":"c1"}]}`,
		`{"personalizations":[{"to":[{"email":"a@b.c"}],"send_at":1},{"to":[{"email":"d@b.c"}],"subject":"t"}],"from":{"email":"f@b.c"},"subject":"s","content":[{"type":"text/plain","value":"x"}],"batch_id":"b","categories":["c"],"custom_args":{"k":"v"}}`,
	} {
		f.Add([]byte(s))
	}
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		p, errs := parse(body, now, 100)
		if (p == nil) == (errs == nil) {
			t.Fatalf("parse returned %v and %v", p, errs)
		}
		if p == nil {
			return
		}
		for i := range p.drafts {
			msg, err := build(&p.drafts[i], nil, now, "relay.test")
			if err != nil {
				continue
			}
			checkHeader(t, msg)
		}
	})
}

func checkHeader(t *testing.T, msg []byte) {
	t.Helper()
	head, _, ok := bytes.Cut(msg, []byte("\r\n\r\n"))
	if !ok {
		t.Fatalf("no end of header in:\n%q", msg)
	}
	for _, line := range strings.Split(string(head), "\r\n") {
		if line == "" || strings.ContainsAny(line, "\r\n") || len(line) > hardLine {
			t.Fatalf("bad header line %q in:\n%s", line, head)
		}
		if line[0] != ' ' && line[0] != '\t' && !strings.Contains(line, ":") {
			t.Fatalf("header line neither field nor continuation: %q", line)
		}
	}
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatalf("built message does not parse: %v\n%q", err, msg)
	}
	if len(m.Header["Bcc"]) > 0 || len(m.Header["From"]) != 1 || len(m.Header["Subject"]) != 1 {
		t.Fatalf("header fields: %v", m.Header)
	}
}
