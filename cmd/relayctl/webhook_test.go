package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/admin/server/servertest"
)

// TestWebhookCommands: add prints the secret or public key once; ls and
// show never do.
func TestWebhookCommands(t *testing.T) {
	rd := startRelayd(t, roleTokens...)
	ops := []string{"--admin", rd.TCP, "--token", opsSecret}

	out := mustRun(t, append(ops, "webhook", "add", "crm", "--url", "https://crm.example.com/relay-events", "--events", "message.*,credential.disabled")...)
	secret := regexp.MustCompile(`(?m)^secret: +(whsec_[A-Za-z0-9+/=]{44})$`).FindStringSubmatch(out)
	if secret == nil {
		t.Fatalf("add prints no secret:\n%s", out)
	}
	golden(t, "webhook-add.golden", strings.Replace(out, secret[1], "whsec_SECRET", 1))
	out = mustRun(t, append(ops, "webhook", "add", "legacy", "--url", "https://old.example.com/sendgrid", "--format", "sendgrid")...)
	if !regexp.MustCompile(`(?m)^public key: +MFkw[A-Za-z0-9+/=]+$`).MatchString(out) || strings.Contains(out, "secret:") {
		t.Errorf("sendgrid add:\n%s", out)
	}

	ls := mustRun(t, append(ops, "webhook", "ls")...)
	golden(t, "webhook-ls.golden", ls)
	show := mustRun(t, append(ops, "webhook", "show", "crm")...)
	golden(t, "webhook-show.golden", show)
	js := mustRun(t, append(ops, "webhook", "ls", "-o", "json")...)
	for _, o := range []string{ls, show, js} {
		if strings.Contains(o, secret[1][len("whsec_"):]) {
			t.Errorf("the secret is shown again:\n%s", o)
		}
	}

	out = mustRun(t, append(ops, "webhook", "test", "crm")...)
	if !regexp.MustCompile(`^Event \S+ \(webhook.test\) written for webhook crm.\n$`).MatchString(out) {
		t.Errorf("test: %q", out)
	}
	if out := mustRun(t, append(ops, "webhook", "rm", "crm")...); out != "Webhook crm removed.\n" {
		t.Errorf("rm: %q", out)
	}
	if _, errOut, code := relayctl(t, append(ops, "webhook", "show", "crm")...); code != 1 || errOut != "Error: no webhook \"crm\"\n" {
		t.Errorf("show after rm: exit %d, %q", code, errOut)
	}
}

// TestWebhookAddJSON: -o json gives the secret as "secret", the public
// key as "public_key".
func TestWebhookAddJSON(t *testing.T) {
	rd := startRelayd(t)
	for format, field := range map[string]string{"standard": "secret", "sendgrid": "public_key"} {
		out := mustRun(t, "--admin", rd.Socket, "-o", "json", "webhook", "add", format, "--url", "http://hooks.example.com/", "--format", format)
		var got map[string]any
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatal(err)
		}
		if v, _ := got[field].(string); v == "" || got["name"] != format || len(got) < 5 {
			t.Errorf("%s: %s", format, out)
		}
	}
}

// TestWebhookRefusals: a bad command line exits 2, naming what is wrong,
// before relayd is asked when relayctl can tell; a taken or unknown name
// exits 1.
func TestWebhookRefusals(t *testing.T) {
	rd := startRelayd(t, roleTokens...)
	ops := []string{"--admin", rd.TCP, "--token", opsSecret}
	mustRun(t, append(ops, "webhook", "add", "crm", "--url", "http://hooks.example.com/")...)
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"webhook", "add", "a", "--url", "ftp://example.com/"}, 2, `webhook url: want http:// or https:// and a host`},
		{[]string{"webhook", "add", "a", "--url", "example.com/hook"}, 2, "want http:// or https://"},
		{[]string{"webhook", "add", "a", "--url", "http://" + rd.TCP + "/"}, 2, "points at this relayd's own admin API"},
		{[]string{"webhook", "add", "a", "--url", "http://example.com/", "--events", "message.*,mesage.held"}, 2, `unknown event type "mesage.held"`},
		{[]string{"webhook", "add", "a", "--url", "http://example.com/", "--format", "json"}, 2, `want standard or sendgrid, got "json"`},
		{[]string{"webhook", "add", "a"}, 2, "--url is required"},
		{[]string{"webhook", "add", "Not A Name", "--url", "http://example.com/"}, 2, "invalid webhook name"},
		{[]string{"webhook", "add", "crm", "--url", "http://example.com/"}, 1, `webhook "crm" already exists`},
		{[]string{"webhook", "show", "nope"}, 1, `no webhook "nope"`},
		{[]string{"webhook", "test", "nope"}, 1, `no webhook "nope"`},
		{[]string{"webhook", "rm"}, 2, "missing NAME"},
		{[]string{"events", "--type", "message"}, 2, `unknown event type "message"`},
	}
	for _, tt := range tests {
		_, errOut, code := relayctl(t, append(ops, tt.args...)...)
		if code != tt.code || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, %q; want %d saying %q", tt.args, code, errOut, tt.code, tt.want)
		}
	}
	help := []string{"--admin", rd.TCP, "--token", supportSecret}
	if _, errOut, code := relayctl(t, append(help, "webhook", "rm", "crm")...); code != 1 || !strings.Contains(errOut, "needs the operator role") {
		t.Errorf("support's rm: exit %d, %q", code, errOut)
	}
	mustRun(t, append(help, "webhook", "show", "crm")...)
}

// TestEventsCommand: the table and JSON lines, with types and selectors.
func TestEventsCommand(t *testing.T) {
	rd := startRelayd(t, roleTokens...)
	ops := []string{"--admin", rd.TCP, "--token", opsSecret}
	mustRun(t, append(ops, "credential", "add", "newsletter")...)
	mustRun(t, append(ops, "credential", "disable", "newsletter", "--reason", "runaway script")...)
	mustRun(t, append(ops, "pause", "--credential", "billing", "--reason", "bad template")...)
	golden(t, "events.golden", mustRun(t, append(ops, "events")...))
	golden(t, "events-credential.golden", mustRun(t, append(ops, "events", "--type", "credential.*", "--credential", "newsletter")...))

	out := mustRun(t, append(ops, "events", "-o", "json", "--type", "pause.started")...)
	var e admin.OutboxEvent
	if lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n"); len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &e) != nil ||
		e.Seq != 3 || e.ID == "" || !strings.Contains(string(e.Data), `"reason":"bad template"`) {
		t.Errorf("JSON lines: %q", out)
	}
	if out := mustRun(t, append(ops, "events", "--after", "3")...); out != "TIME                  TYPE                 ID/CREDENTIAL     SUMMARY\n" {
		t.Errorf("--after the last: %q", out)
	}

	id := rd.send(t, "shop", "Your order")
	mustRun(t, append(ops, "hold", id, "--reason", "customer asked")...)
	out = mustRun(t, append(ops, "events", "--after", "3", "--to", "@example.org")...)
	for _, want := range []string{
		` message.accepted +` + id + ` +shop@example.com -> someone@example.org "Your order"\n`,
		` message.held +` + id + ` +by token:ops: operator: customer asked\n`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("message events lack %q:\n%s", want, out)
		}
	}
}

// TestEventsFollowCommand: --follow prints each event as it is written
// and ends, with status 0, when interrupted.
func TestEventsFollowCommand(t *testing.T) {
	rd := startRelayd(t)
	mustRun(t, "--admin", rd.Socket, "credential", "add", "first")
	var out, errOut servertest.Buffer
	ctx, interrupt := context.WithCancel(t.Context())
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"--admin", rd.Socket, "events", "--follow", "--type", "credential.added"}, strings.NewReader(""), &out, &errOut)
	}()
	eventually(t, "the first event", func() bool { return strings.Contains(out.String(), " first ") })
	mustRun(t, "--admin", rd.Socket, "credential", "add", "second")
	eventually(t, "the event written while following", func() bool { return strings.Contains(out.String(), " second ") })
	interrupt()
	if c := <-code; c != 0 || errOut.String() != "" {
		t.Errorf("interrupted: exit %d, stderr %q", c, errOut.String())
	}
}
