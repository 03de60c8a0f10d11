package main

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/admin/server/servertest"
)

// TestNoPasswordInLogsOrAudit: relayd's log (every level, from every
// part: intake, dispatcher, admin API, credentials) and its audit log
// never hold a password: not a generated one, not a rotated-away one, not
// a wrong one tried at AUTH, neither in clear nor as the base64 of AUTH.
func TestNoPasswordInLogsOrAudit(t *testing.T) {
	rd := startRelayd(t)
	secrets := map[string]string{"shop's": rd.passwords["shop"], "billing's": rd.passwords["billing"]}

	secrets["added"] = rd.addCredential(t, "app", "--rate-limit", "100")
	secrets["rotated"] = rotate(t, rd, "app")
	secrets["rotated with grace"] = rotate(t, rd, "app", "--grace", "1h")
	mustSubmit(t, rd.login(t, "app", secrets["rotated"]), "app@example.com")            // in its grace
	mustSubmit(t, rd.login(t, "app", secrets["rotated with grace"]), "app@example.com") // the new one

	secrets["wrong, PLAIN"] = "Wr0ng-PLAIN-password-tried-on-purpose"
	secrets["wrong, LOGIN"] = "Wr0ng-LOGIN-password-tried-on-purpose"
	secrets["wrong, unknown user"] = "Wr0ng-password-for-nobody-on-purpose"
	for _, try := range []struct {
		mech           string
		user, password string
	}{
		{"PLAIN", "app", secrets["wrong, PLAIN"]},
		{"LOGIN", "app", secrets["wrong, LOGIN"]},
		{"PLAIN", "nobody", secrets["wrong, unknown user"]},
	} {
		c := rd.dial(t)
		client := sasl.NewPlainClient("", try.user, try.password)
		if try.mech == "LOGIN" {
			client = sasl.NewLoginClient(try.user, try.password)
		}
		if err := c.Auth(client); smtpCode(err) != 535 {
			t.Errorf("AUTH %s as %s with a wrong password: %v, want 535", try.mech, try.user, err)
		}
		c.Close()
	}
	mustRun(t, "--admin", rd.Socket, "credential", "set", "app", "--hold", "0s")
	disable(t, rd, "app", "--reason", "testing")
	mustRun(t, "--admin", rd.Socket, "credential", "enable", "app", "--release")
	mustRun(t, "--admin", rd.Socket, "credential", "rm", "app", "--yes")
	rd.settle(t)

	logs := rd.Log.String()
	// The capture works: it holds what these steps log.
	for _, want := range []string{"credential added", "credential password rotated", "auth failed", "admin request",
		"closing a session whose login is no longer valid", "delivery attempt"} {
		if !strings.Contains(logs, want) {
			t.Fatalf("relayd's log lacks %q: is it captured?\n%s", want, logs)
		}
	}
	var audit []byte
	entries, err := rd.Spool.Audit(0, 100)
	if err != nil || len(entries) < 7 {
		t.Fatalf("audit log: %d entries, %v", len(entries), err)
	}
	if audit, err = json.Marshal(entries); err != nil {
		t.Fatal(err)
	}
	auditOut := mustRun(t, "--admin", rd.Socket, "audit", "ls", "-o", "json") + mustRun(t, "--admin", rd.Socket, "audit", "ls")

	for what, pw := range secrets {
		user := "app"
		if what == "shop's" || what == "billing's" {
			user = strings.TrimSuffix(what, "'s")
		}
		forms := map[string]string{
			"in clear":             pw,
			"as AUTH LOGIN sends":  base64.StdEncoding.EncodeToString([]byte(pw)),
			"as AUTH PLAIN sends":  base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pw)),
			"as AUTH PLAIN sends ": base64.StdEncoding.EncodeToString([]byte("\x00nobody\x00" + pw)),
		}
		for form, text := range forms {
			if strings.Contains(logs, text) {
				t.Errorf("the %s password is in relayd's log, %s", what, form)
			}
			if strings.Contains(string(audit), text) || strings.Contains(auditOut, text) {
				t.Errorf("the %s password is in the audit log, %s", what, form)
			}
		}
	}
}

func rotate(t *testing.T, rd *relayd, name string, args ...string) string {
	t.Helper()
	var res admin.PasswordRotated
	out := mustRun(t, append([]string{"--admin", rd.Socket, "-o", "json", "password-rotate", name}, args...)...)
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Password == "" {
		t.Fatalf("password-rotate: %v in:\n%s", err, out)
	}
	return res.Password
}

// TestCredentialAudit: every credential change is in the audit log, with
// the credential, its counts, its reason and what it set.
func TestCredentialAudit(t *testing.T) {
	rd := startRelayd(t)
	rd.addCredential(t, "app", "--description", "the app", "--hold", "0s", "--allow-sender", "@example.com", "--rate-limit", "10")
	mustRun(t, "--admin", rd.Socket, "credential", "set", "app", "--hold", "default", "--allow-any-sender", "--reason", "go live")
	rotate(t, rd, "app")
	rotate(t, rd, "app", "--grace", "10m", "--reason", "leaked")
	rd.send(t, "shop", "delivered before")
	mustRun(t, "--admin", rd.Socket, "flush", "--credential", "shop")
	rd.up.Wait(t, 1)
	rd.send(t, "shop", "held by the disable")
	eventually(t, "the delivery to be recorded", func() bool { return rd.credentialJSON(t, "shop").Messages["delivered"] == 1 })
	disable(t, rd, "shop", "--reason", "runaway script")
	mustRun(t, "--admin", rd.Socket, "credential", "enable", "shop", "--release", "--reason", "fixed")
	mustRun(t, "--admin", rd.Socket, "credential", "rm", "app", "--yes", "--reason", "retired")

	var list admin.AuditList
	if err := json.Unmarshal([]byte(mustRun(t, "--admin", rd.Socket, "-o", "json", "audit", "ls")), &list); err != nil {
		t.Fatal(err)
	}
	grace := servertest.Now.Add(10 * time.Minute).Format(time.RFC3339)
	want := []admin.AuditEntry{
		{Action: "credential rm", Selector: "credential=app", Reason: "retired", Detail: "left in the spool: 0 pending, 0 held"},
		{Action: "credential enable", Selector: "credential=shop", Reason: "fixed", Counts: map[string]int{"changed": 1}},
		{Action: "flush", Selector: "credential=shop", Counts: map[string]int{"changed": 1}},
		{Action: "credential disable", Selector: "credential=shop", Reason: "runaway script",
			Counts: map[string]int{"held": 1, "already_delivered": 1}},
		{Action: "password-rotate", Selector: "credential=app", Reason: "leaked",
			Detail: "grace=10m0s: old password accepted until " + grace},
		{Action: "password-rotate", Selector: "credential=app", Detail: "old password refused at once"},
		{Action: "credential set", Selector: "credential=app", Reason: "go live", Detail: "hold=default allowed-senders=any"},
		{Action: "credential add", Selector: "credential=app",
			Detail: `description="the app" hold=0s allowed-senders=@example.com rate-limit=10`},
	}
	// The flush came before the disable; entries are newest first.
	want[2], want[3] = want[3], want[2]
	if len(list.Entries) != len(want) {
		t.Fatalf("audit log has %d entries, want %d: %+v", len(list.Entries), len(want), list.Entries)
	}
	for i, e := range list.Entries {
		w := want[i]
		if e.Action != w.Action || e.Selector != w.Selector || e.Reason != w.Reason || e.Detail != w.Detail ||
			jsonText(e.Counts) != jsonText(w.Counts) || !strings.HasPrefix(e.Actor, "uid:") {
			t.Errorf("entry %d = %+v\nwant %+v", i, e, w)
		}
	}
	out := mustRun(t, "--admin", rd.Socket, "audit", "ls")
	for _, line := range []string{
		"credential disable  credential=shop",
		"held 1, already delivered 1",
		"released 1",
		`description="the app" hold=0s allowed-senders=@example.com rate-limit=10`,
	} {
		if !strings.Contains(out, line) {
			t.Errorf("audit ls lacks %q:\n%s", line, out)
		}
	}
}
