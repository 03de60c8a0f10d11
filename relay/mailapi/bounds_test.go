package mailapi

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/holdrelay/relay/relay"
)

// TestCopiesBounded: every personalization is a whole copy of the
// content and attachments, so a request within its own size bound could
// build a thousand messages of the largest size. The messages of one
// request together are bounded as the request is: over it, 413 and
// nothing kept.
func TestCopiesBounded(t *testing.T) {
	t.Parallel()
	h := newHarness(t, relay.IntakeConfig{MaxMessageBytes: 64 << 10})
	att := base64.StdEncoding.EncodeToString(make([]byte, 40<<10)) // a message of ~55 KiB
	request := func(n int) string {
		ps := make([]string, n)
		for i := range ps {
			ps[i] = fmt.Sprintf(`{"to": [{"email": "r%d@example.com"}]}`, i)
		}
		return `{"personalizations": [` + strings.Join(ps, ",") + `], "subject": "s",
  "content": [{"type": "text/plain", "value": "x"}], "from": {"email": "a@example.com"},
  "attachments": [{"content": "` + att + `", "filename": "a.bin"}]}`
	}
	// 40 copies of ~55 KiB: 2.2 MB of messages from a 56 KB request,
	// over the 1.19 MB a request may hold.
	r := h.send(request(40))
	if r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("40 copies: status %d, want 413; body %.200s", r.status, r.body)
	}
	if e := r.errors(t)[0]; e.Field == nil || *e.Field != "personalizations" || !strings.Contains(e.Message, "split it") {
		t.Errorf("error %+v", e)
	}
	if n := len(h.spooled()); n != 0 {
		t.Fatalf("%d messages spooled from a refused request", n)
	}
	h.mustSend(request(3)) // a few copies are fine
	if n := len(h.spooled()); n != 3 {
		t.Errorf("%d messages spooled, want 3", n)
	}
}

// TestHeaderOverrideIgnoresCase: a personalization's header replaces the
// request's header of the same name in any case, as the personalization's
// value; the message gets one field, not two (nor a Message-ID picked at
// random between two).
func TestHeaderOverrideIgnoresCase(t *testing.T) {
	body := `{"personalizations": [{"to": [{"email": "a@example.com"}],
	    "headers": {"x-shop": "p", "message-id": "<p@example.com>"}}],
	  "headers": {"X-Shop": "req", "Message-ID": "<req@example.com>"},
	  "subject": "s", "content": [{"type": "text/plain", "value": "x"}], "from": {"email": "a@example.com"}}`
	for range 20 { // map order varies from run to run
		p, errs := parse([]byte(body), t0, 100)
		if errs != nil {
			t.Fatalf("parse: %+v", errs)
		}
		msg, err := build(&p.drafts[0], nil, t0, "relay.test")
		if err != nil {
			t.Fatal(err)
		}
		m := parseMail(t, msg)
		if v := m.Header["X-Shop"]; len(v) != 1 || v[0] != "p" {
			t.Fatalf("X-Shop fields %q, want the personalization's alone", v)
		}
		if v := m.Header["Message-Id"]; len(v) != 1 || v[0] != "<p@example.com>" {
			t.Fatalf("Message-ID fields %q, want the personalization's alone", v)
		}
	}
}
