package mailapi

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/holdrelay/relay/auth"
	"github.com/holdrelay/relay/relay"
)

// TestErrors: bad requests get SendGrid's status and error body, naming
// the field, and nothing of them is kept.
func TestErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t, relay.IntakeConfig{MaxMessageBytes: 64 << 10})
	big := strings.Repeat("x", 200<<10)
	for _, tc := range []struct {
		name, key, body string
		status          int
		field, message  string // field "" means null; message is a substring
	}{
		{"bad JSON", h.key, `{"personalizations": [`, 400, "", "not valid JSON"},
		{"not an object", h.key, `[1]`, 400, "", "not valid JSON"},
		{"text after", h.key, simple + `{}`, 400, "", "text after"},
		{"missing from", h.key, strings.Replace(simple, `"from": {"email": "sam.smith@example.com", "name": "Sam Smith"},`, "", 1), 400, "from.email", "from object must be provided"},
		{"template_id", h.key, strings.Replace(simple, `"content"`, `"template_id": "d-123", "content"`, 1), 400, "template_id", "not supported"},
		{"asm", h.key, strings.Replace(simple, `"content"`, `"asm": {"group_id": 1}, "content"`, 1), 400, "asm", "not supported"},
		{"ip pool", h.key, strings.Replace(simple, `"content"`, `"ip_pool_name": "hot", "content"`, 1), 400, "ip_pool_name", "not supported"},
		{"tracking on", h.key, strings.Replace(simple, `"content"`, `"tracking_settings": {"click_tracking": {"enable": true}}, "content"`, 1), 400, "tracking_settings", "not supported"},
		{"dynamic data", h.key, strings.Replace(simple, `"subject": "Hello, World!"`, `"subject": "x", "dynamic_template_data": {"a": 1}`, 1), 400, "personalizations.0.dynamic_template_data", "not supported"},
		{"unknown field", h.key, strings.Replace(simple, `"content"`, `"contnet": [], "content"`, 1), 400, "contnet", "Unknown field"},
		{"wrong type", h.key, strings.Replace(simple, `"Hello, World!"`, `42`, 1), 400, "personalizations.subject", "must be of type string"},
		{"header injection", h.key, strings.Replace(simple, `"content"`, `"headers": {"X-A": "b\r\nBcc: evil@example.com"}, "content"`, 1), 400, "headers.X-A", "one line"},
		{"subject injection", h.key, strings.Replace(simple, `"Hello, World!"`, `"Hi\nBcc: evil@example.com"`, 1), 400, "personalizations.0.subject", "one line"},
		{"name injection", h.key, strings.Replace(simple, `"name": "John Doe"`, `"name": "J\r\nBcc: e@example.com"`, 1), 400, "personalizations.0.to.0.name", "one line"},
		{"reserved header", h.key, strings.Replace(simple, `"content"`, `"headers": {"Bcc": "x@example.com"}, "content"`, 1), 400, "headers.Bcc", "reserved"},
		{"bad address", h.key, strings.Replace(simple, `john.doe@example.com`, `john doe`, 1), 400, "personalizations.0.to.0.email", "valid address"},
		{"duplicate rcpt", h.key, strings.Replace(simple, `"subject": "Hello, World!"`, `"subject": "x", "bcc": [{"email": "JOHN.doe@example.com"}]`, 1), 400, "personalizations.0.bcc.0.email", "unique"},
		{"no content", h.key, strings.Replace(simple, `[{"type": "text/plain", "value": "Heya!"}]`, `[]`, 1), 400, "content", "content parameter is required"},
		{"bad base64", h.key, strings.Replace(simple, `"content"`, `"attachments": [{"content": "@@@", "filename": "a.txt"}], "content"`, 1), 400, "attachments.0.content", "base64"},
		{"over size", h.key, strings.Replace(simple, `"Heya!"`, `"`+big+`"`, 1), 413, "", "larger than relay takes (65536 bytes)"},
		// The request itself may be twice the message size plus 1 MiB.
		{"over request size", h.key, strings.Replace(simple, `"Heya!"`, `"`+strings.Repeat(big, 7)+`"`, 1), 413, "", "larger than relay takes (1179648 bytes)"},
		{"no key", "", simple, 401, "", "Bearer"},
		{"wrong key", auth.APIKey("app", "not-the-password"), simple, 401, "", "authorization grant is invalid"},
		{"not a key", "SG.garbage", simple, 401, "", "authorization grant is invalid"},
		{"unknown credential", auth.APIKey("nobody", "x"), simple, 401, "", "authorization grant is invalid"},
	} {
		r := h.do("POST", "/v3/mail/send", tc.key, tc.body)
		if r.status != tc.status {
			t.Errorf("%s: status %d, want %d; body %s", tc.name, r.status, tc.status, r.body)
			continue
		}
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", tc.name, ct)
		}
		e := r.errors(t)[0]
		field := ""
		if e.Field != nil {
			field = *e.Field
		}
		if field != tc.field || !strings.Contains(e.Message, tc.message) {
			t.Errorf("%s: error field %q message %q; want field %q, message with %q", tc.name, field, e.Message, tc.field, tc.message)
		}
	}
	if n := len(h.spooled()); n != 0 {
		t.Errorf("%d messages spooled from refused requests", n)
	}
	if r := h.do("GET", "/v3/templates", h.key, ""); r.status != http.StatusNotFound {
		t.Errorf("another SendGrid path: %d", r.status)
	}
}

// TestCredentialRules: the credential's allowed senders, rate limit and
// size apply to the API as to SMTP, and a rotated key dies at once.
func TestCredentialRules(t *testing.T) {
	t.Parallel()
	h := newHarness(t, relay.IntakeConfig{})
	_, pw, err := h.creds.Create("shop", auth.Settings{AllowedSenders: []string{"@shop.example"}, RateLimit: 3})
	if err != nil {
		t.Fatal(err)
	}
	key := auth.APIKey("shop", pw)
	two := `{"personalizations": [{"to": [{"email": "a@example.com"}]}, {"to": [{"email": "b@example.com"}]}],
	  "from": {"email": "news@shop.example"}, "subject": "s", "content": [{"type": "text/plain", "value": "v"}]}`

	r := h.do("POST", "/v3/mail/send", key, strings.Replace(two, "news@shop.example", "ceo@bank.example", 1))
	if r.status != http.StatusForbidden || *r.errors(t)[0].Field != "from.email" {
		t.Errorf("a sender not allowed: %d %s", r.status, r.body)
	}
	if r := h.do("POST", "/v3/mail/send", key, two); r.status != http.StatusAccepted {
		t.Fatalf("first two: %d %s", r.status, r.body)
	}
	// One message of the minute's three is left: a request of two is
	// refused whole, with SendGrid's 429 body.
	r = h.do("POST", "/v3/mail/send", key, two)
	if r.status != http.StatusTooManyRequests || r.errors(t)[0].Message != "too many requests" || r.header.Get("Retry-After") == "" {
		t.Errorf("over the rate: %d %s %v", r.status, r.body, r.header)
	}
	if n := len(h.spooled()); n != 2 {
		t.Errorf("%d spooled, want the first request's 2", n)
	}
	// A request of more messages than a minute allows can never pass:
	// 400, not a 429 that clients retry for ever.
	four := strings.Replace(two, `]}],`, `]}, {"to": [{"email": "c@example.com"}]}, {"to": [{"email": "d@example.com"}]}],`, 1)
	h.clock.Advance(time.Minute)
	r = h.do("POST", "/v3/mail/send", key, four)
	if r.status != http.StatusBadRequest || !strings.Contains(r.errors(t)[0].Message, "at most 3 a minute") {
		t.Errorf("4 messages at 3 a minute: %d %s", r.status, r.body)
	}
	if _, err := h.creds.Rotate("shop", 0); err != nil {
		t.Fatal(err)
	}
	if r := h.do("POST", "/v3/mail/send", key, two); r.status != http.StatusUnauthorized {
		t.Errorf("a rotated key: %d %s", r.status, r.body)
	}
}

// TestThrottle: wrong keys are counted by the same failed-login throttle
// as SMTP AUTH: past its limit even the right key is turned away for a
// while, without a password check.
func TestThrottle(t *testing.T) {
	t.Parallel()
	h := newHarness(t, relay.IntakeConfig{})
	_, pw, _ := strings.Cut(strings.TrimPrefix(h.key, "SG."), ".")
	for i := range 10 {
		if r := h.do("POST", "/v3/mail/send", auth.APIKey("app", pw+"x"), simple); r.status != http.StatusUnauthorized {
			t.Fatalf("wrong key %d: %d", i, r.status)
		}
	}
	for _, key := range []string{auth.APIKey("other", "guess"), h.key} {
		r := h.do("POST", "/v3/mail/send", key, simple)
		if r.status != http.StatusTooManyRequests || !strings.Contains(r.errors(t)[0].Message, "failed logins") {
			t.Errorf("after 10 failures: %d %s", r.status, r.body)
		}
	}
}

// TestColdStartBurst: an application starting with twenty requests at
// once, before relay has checked its key, gets twenty 202s: one argon2
// check runs and the others wait for it, rather than twenty checks in
// flight tripping the failed-login throttle. (The real argon2 cost makes
// the checks last long enough to overlap.)
func TestColdStartBurst(t *testing.T) {
	t.Parallel()
	h := newHarnessParams(t, relay.IntakeConfig{}, auth.DefaultParams)
	statuses := make(chan int, 20)
	for range 20 {
		go func() {
			req, _ := http.NewRequest("POST", h.url+"/v3/mail/send", strings.NewReader(simple))
			req.Header.Set("Authorization", "Bearer "+h.key)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				statuses <- 0
				return
			}
			res.Body.Close()
			statuses <- res.StatusCode
		}()
	}
	for range 20 {
		if s := <-statuses; s != http.StatusAccepted {
			t.Errorf("status %d, want 202", s)
		}
	}
	if n := len(h.spooled()); n != 20 {
		t.Errorf("%d spooled, want 20", n)
	}
}
