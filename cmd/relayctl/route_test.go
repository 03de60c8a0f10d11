package main

import (
	"strings"
	"testing"
	"time"

	"github.com/holdrelay/relay/internal/smtptest"
	"github.com/holdrelay/relay/spool"
)

// TestCredentialUpstream: credential set --upstream sends that
// credential's mail (and only its mail) through its own upstream; status
// and queue show say which upstream took what, never with a password;
// --upstream default goes back to relayd's.
func TestCredentialUpstream(t *testing.T) {
	rd := startRelayd(t)
	own := &smtptest.Server{}
	ownURL := "smtp://" + own.Start(t) + "?tls=none"
	mustRun(t, "--admin", rd.Socket, "credential", "set", "shop", "--upstream", ownURL, "--reason", "own provider")
	mustRun(t, "--admin", rd.Socket, "credential", "set", "billing", "--upstream-fallback", "smtp://bill:hunter2@backup.example?tls=none")

	shop, billing := rd.send(t, "shop", "own route"), rd.send(t, "billing", "global route")
	rd.Clock.Advance(30 * time.Second)
	rd.waitState(t, shop, spool.Delivered)
	rd.waitState(t, billing, spool.Delivered)
	if got := own.Messages(); len(got) != 1 || got[0].From != "shop@example.com" {
		t.Errorf("shop's own upstream got %d messages, want shop's only", len(got))
	}
	if got := rd.up.Messages(); len(got) != 1 || got[0].From != "billing@example.com" {
		t.Errorf("relayd's upstream got %d messages, want billing's only", len(got))
	}
	if out := mustRun(t, "--admin", rd.Socket, "queue", "show", shop); !strings.Contains(out, "delivered by:  "+ownURL+"\n") {
		t.Errorf("queue show %s does not name the upstream that took it:\n%s", shop, out)
	}
	status := mustRun(t, "--admin", rd.Socket, "status")
	for _, want := range []string{"ROUTE", "credential billing  (global)", "smtp://bill:xxxxx@backup.example?tls=none",
		"credential shop     " + ownURL + "  (global)"} {
		if !strings.Contains(status, want) {
			t.Errorf("status lacks %q:\n%s", want, status)
		}
	}
	for _, args := range [][]string{{"status"}, {"status", "-o", "json"}, {"credential", "show", "billing"},
		{"credential", "ls", "-o", "json"}, {"audit", "ls"}} {
		if out := mustRun(t, append([]string{"--admin", rd.Socket}, args...)...); strings.Contains(out, "hunter2") {
			t.Errorf("%v prints the upstream's password:\n%s", args, out)
		}
	}

	mustRun(t, "--admin", rd.Socket, "credential", "set", "shop", "--upstream", "default")
	if out := mustRun(t, "--admin", rd.Socket, "credential", "show", "shop"); strings.Contains(out, "upstream:") {
		t.Errorf("after --upstream default, show still names an upstream:\n%s", out)
	}
}

// TestCredentialUpstreamBadURL: relayd refuses a URL it would refuse as
// --upstream; relayctl exits 2 with relayd's words, and nothing changes.
func TestCredentialUpstreamBadURL(t *testing.T) {
	rd := startRelayd(t)
	for _, tc := range []struct{ flag, url, want string }{
		{"--upstream", "mx.example.com", "upstream URL: missing scheme"},
		{"--upstream", "https://mx.example.com", `unknown scheme "https"`},
		{"--upstream-fallback", "smtp://u:pw@mx.example.com:0", `upstream fallback URL: bad port "0"`},
		{"--upstream", "smtp://mx.example.com?tls=sometimes", `bad tls="sometimes"`},
	} {
		_, errOut, code := relayctl(t, "--admin", rd.Socket, "credential", "set", "shop", tc.flag, tc.url)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("set %s %s: exit %d, stderr %q; want 2 and %q", tc.flag, tc.url, code, errOut, tc.want)
		}
	}
	if c, _ := rd.Creds.Get("shop"); c.Upstream != "" || c.UpstreamFallback != "" {
		t.Errorf("a refused URL was stored: %+v", c)
	}
}
