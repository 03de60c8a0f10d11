package webhook_test

import (
	"bytes"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/holdrelay/relay/webhook"
)

func TestValidate(t *testing.T) {
	key, _ := webhook.NewSecret()
	priv, _, err := webhook.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	ok := webhook.Endpoint{Name: "crm", URL: "https://hooks.example.com/relay", Secret: key}
	for _, tc := range []struct {
		name   string
		change func(*webhook.Endpoint)
		errHas string // "" for valid
	}{
		{"standard", func(*webhook.Endpoint) {}, ""},
		{"http and filters", func(ep *webhook.Endpoint) {
			ep.URL, ep.Events = "http://127.0.0.1:8080/", []string{"message.*", "brake.tripped", "*"}
		}, ""},
		{"sendgrid", func(ep *webhook.Endpoint) { ep.Format, ep.Secret, ep.PrivateKey = "sendgrid", nil, priv }, ""},
		{"ftp url", func(ep *webhook.Endpoint) { ep.URL = "ftp://hooks.example.com/" }, "http:// or https://"},
		{"no host", func(ep *webhook.Endpoint) { ep.URL = "https:///path" }, "http:// or https://"},
		{"relative url", func(ep *webhook.Endpoint) { ep.URL = "/hook" }, "http:// or https://"},
		{"unknown type", func(ep *webhook.Endpoint) { ep.Events = []string{"message.opened"} }, `unknown event type "message.opened"`},
		{"unknown prefix", func(ep *webhook.Endpoint) { ep.Events = []string{"mess*"} }, "unknown event type"},
		{"unknown group", func(ep *webhook.Endpoint) { ep.Events = []string{"mail.*"} }, "unknown event type"},
		{"bad format", func(ep *webhook.Endpoint) { ep.Format = "mailgun" }, `unknown webhook format "mailgun"`},
		{"no secret", func(ep *webhook.Endpoint) { ep.Secret = nil }, "no signing secret"},
		{"sendgrid without key", func(ep *webhook.Endpoint) { ep.Format = "sendgrid" }, "no signing key"},
		{"no name", func(ep *webhook.Endpoint) { ep.Name = "" }, "name is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep := ok
			tc.change(&ep)
			err := ep.Validate()
			if tc.errHas == "" && err != nil || tc.errHas != "" && (err == nil || !strings.Contains(err.Error(), tc.errHas)) {
				t.Errorf("Validate() = %v, want error containing %q", err, tc.errHas)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		events []string
		typ    string
		want   bool
	}{
		{nil, webhook.BrakeTripped, true},
		{[]string{"message.*"}, webhook.MessageDropped, true},
		{[]string{"message.*"}, webhook.CredentialAdded, false},
		{[]string{"credential.added"}, webhook.CredentialAdded, true},
		{[]string{"credential.added"}, webhook.CredentialRemoved, false},
		{[]string{"batch.*", "*"}, webhook.PauseEnded, true},
	} {
		ep := webhook.Endpoint{Events: tc.events}
		if got := ep.Match(tc.typ); got != tc.want {
			t.Errorf("%v matches %s: %v, want %v", tc.events, tc.typ, got, tc.want)
		}
	}
}

func TestSecretRoundTrip(t *testing.T) {
	key, shown := webhook.NewSecret()
	if !strings.HasPrefix(shown, "whsec_") || len(key) < 24 {
		t.Fatalf("secret %q, %d key bytes", shown, len(key))
	}
	back, err := webhook.ParseSecret(shown)
	if err != nil || !bytes.Equal(back, key) {
		t.Errorf("ParseSecret(%q) = %x, %v; want %x", shown, back, err, key)
	}
	if _, err := webhook.ParseSecret("sk_" + shown); err == nil {
		t.Error("ParseSecret took a secret without whsec_")
	}
}

// A webhook.test event aimed at one endpoint reaches it, whatever its
// filter, and no other endpoint.
func TestTargetedEventReachesOnlyItsEndpoint(t *testing.T) {
	h := start(t, webhook.Config{})
	target, other := newReceiver(t, nil), newReceiver(t, nil)
	a, _ := standard(t, "a", target.srv.URL, "message.*")
	b, _ := standard(t, "b", other.srv.URL)
	e := h.out.add(webhook.WebhookTest, t0, nil)
	h.out.mu.Lock()
	h.out.events[0].Endpoint = "a"
	h.out.mu.Unlock()
	h.add(t, a)
	h.add(t, b)

	if ids := eventIDs(t, target.next(t).body); len(ids) != 1 || ids[0] != e.ID {
		t.Errorf("target got %v", ids)
	}
	h.waitStatus(t, "b", func(st webhook.Status) bool { return st.Cursor == e.Seq })
	select {
	case r := <-other.got:
		t.Errorf("another endpoint got the test event: %s", r.body)
	default:
	}
}

// After Remove returns, the endpoint gets nothing more, even with events
// waiting.
func TestRemoveStopsTheSender(t *testing.T) {
	h := start(t, webhook.Config{})
	rc := newReceiver(t, status(http.StatusInternalServerError))
	ep, _ := standard(t, "crm", rc.srv.URL)
	h.out.add(webhook.MessageAccepted, t0, message("m1", "a@example.org"))
	h.add(t, ep)
	rc.next(t)
	h.waitStatus(t, "crm", func(st webhook.Status) bool { return st.Failures == 1 })

	h.m.Remove("crm")
	if _, ok := h.m.Status("crm"); ok {
		t.Error("a removed endpoint still has a status")
	}
	h.clk.Advance(24 * time.Hour)
	h.out.add(webhook.MessageAccepted, h.clk.Now(), message("m2", "a@example.org"))
	select {
	case r := <-rc.got:
		t.Errorf("removed endpoint got a POST: %s", r.body)
	case <-time.After(100 * time.Millisecond):
	}
}

// The package stays a leaf: no package of the project but internal/clock,
// so the spool and the admin API can both use it.
func TestImportsNoOtherPackageOfTheProject(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "github.com/holdrelay/relay/") &&
			p != "github.com/holdrelay/relay/webhook" && p != "github.com/holdrelay/relay/internal/clock" {
			t.Errorf("webhook imports %s", p)
		}
	}
}

// Set starts new endpoints, restarts changed ones from their cursor, stops
// missing and disabled ones, and changes nothing when one is invalid.
func TestSetAppliesTheWholeList(t *testing.T) {
	h := start(t, webhook.Config{})
	before, after, added := newReceiver(t, status(http.StatusInternalServerError)), newReceiver(t, nil), newReceiver(t, nil)
	a, _ := standard(t, "a", before.srv.URL)
	e := h.out.add(webhook.MessageAccepted, t0, message("m1", "a@example.org"))
	if err := h.m.Set([]webhook.Endpoint{a}); err != nil {
		t.Fatal(err)
	}
	before.next(t)
	h.waitStatus(t, "a", func(st webhook.Status) bool { return st.Failures == 1 })

	bad := a
	bad.URL = "ftp://x"
	if err := h.m.Set([]webhook.Endpoint{bad}); err == nil || !strings.Contains(err.Error(), "webhook a") {
		t.Fatalf("Set took an invalid endpoint: %v", err)
	}
	if st, _ := h.m.Status("a"); st.Failures != 1 {
		t.Errorf("a failed Set changed the sender: %+v", st)
	}

	moved := a
	moved.URL = after.srv.URL
	b, _ := standard(t, "b", added.srv.URL)
	off, _ := standard(t, "off", before.srv.URL)
	off.Disabled = true
	if err := h.m.Set([]webhook.Endpoint{moved, b, off}); err != nil {
		t.Fatal(err)
	}
	for _, rc := range []*receiver{after, added} {
		if ids := eventIDs(t, rc.next(t).body); len(ids) != 1 || ids[0] != e.ID {
			t.Errorf("got %v, want %s", ids, e.ID)
		}
	}
	h.waitStatus(t, "a", func(st webhook.Status) bool { return st.Cursor == e.Seq })
	select {
	case r := <-before.got:
		t.Errorf("the old URL or a disabled endpoint got a POST: %s", r.body)
	case <-time.After(100 * time.Millisecond):
	}
}

// A webhook URL often holds a token in its path or query: no error that
// can reach a log or `webhook show` quotes it, neither Validate's nor a
// failed attempt's.
func TestErrorsNeverQuoteTheURL(t *testing.T) {
	key, _ := webhook.NewSecret()
	for _, u := range []string{
		"ftp://hooks.example.com/s3cr3t?token=s3cr3t",
		"https:///s3cr3t?token=s3cr3t",
		"/s3cr3t?token=s3cr3t",
		"https://hooks.example.com/s3cr3t%zz?token=s3cr3t",
		"https://hooks.example.com/s3cr3t\n?token=s3cr3t",
	} {
		ep := webhook.Endpoint{Name: "crm", URL: u, Secret: key}
		if err := ep.Validate(); err == nil || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("Validate(%q) = %v, want an error without the URL", u, err)
		}
	}

	h := start(t, webhook.Config{})
	gone := newReceiver(t, nil)
	gone.srv.Close() // connection refused
	ep, _ := standard(t, "crm", gone.srv.URL+"/s3cr3t?token=s3cr3t")
	h.out.add(webhook.MessageAccepted, t0, message("m1", "a@example.org"))
	h.add(t, ep)
	st := h.waitStatus(t, "crm", func(st webhook.Status) bool { return st.Failures == 1 })
	if strings.Contains(st.LastError, "s3cr3t") || !strings.Contains(st.LastError, "refused") {
		t.Errorf("last error %q: want the failure without the URL", st.LastError)
	}
}
