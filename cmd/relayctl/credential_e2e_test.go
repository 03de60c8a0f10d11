package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/admin/server/servertest"
	"github.com/holdrelay/relay/auth"
	"github.com/holdrelay/relay/spool"
)

// These tests run relayctl against the real relayd of relayd_test.go and
// show each credential command's effect on SMTP clients and on what
// reaches the upstream.

// TestCredentialAddEveryFlag: every setting add takes is stored, shown,
// and listed.
func TestCredentialAddEveryFlag(t *testing.T) {
	rd := startRelayd(t)
	rd.addCredential(t, "app", "--description", "the app", "--hold", "5m", "--allow-sender", "@good.example",
		"--allow-sender", "boss@other.example", "--max-size", "1KiB", "--rate-limit", "3")

	d := rd.credentialJSON(t, "app")
	if d.Name != "app" || d.Description != "the app" || d.Hold == nil || *d.Hold != "5m0s" || d.Disabled ||
		!slices.Equal(d.AllowedSenders, []string{"@good.example", "boss@other.example"}) ||
		d.MaxMessageSize != 1024 || d.RateLimit != 3 || d.GraceUntil != nil || d.Paused != nil {
		t.Errorf("show -o json = %+v", d)
	}
	// The password was printed once, by add; show and ls never print it.
	for _, args := range [][]string{{"credential", "show", "app"}, {"credential", "ls"}, {"credential", "ls", "-o", "json"}} {
		if out := mustRun(t, append([]string{"--admin", rd.Socket}, args...)...); strings.Contains(out, rd.passwords["app"]) {
			t.Errorf("%v prints the password:\n%s", args, out)
		}
	}
	if out := mustRun(t, "--admin", rd.Socket, "credential", "ls"); !strings.Contains(out, "app      enabled  5m ") {
		t.Errorf("ls:\n%s", out)
	}
}

// TestCredentialShow: show's table, golden, with every setting, a
// rotation's grace period, a pause and messages in several states.
func TestCredentialShow(t *testing.T) {
	rd := startRelayd(t)
	rd.addCredential(t, "app", "--description", "the app", "--hold", "5m", "--allow-sender", "@good.example",
		"--allow-sender", "boss@other.example", "--max-size", "10MiB", "--rate-limit", "60")
	mustRun(t, "--admin", rd.Socket, "password-rotate", "app", "--grace", "10m")
	c := rd.login(t, "app", rd.passwords["app"]) // the old password, in its grace period
	held := mustSubmit(t, c, "a@good.example")
	mustSubmit(t, c, "boss@other.example")
	mustRun(t, "--admin", rd.Socket, "hold", held)
	mustRun(t, "--admin", rd.Socket, "pause", "--credential", "app", "--for", "1h", "--reason", "checking")

	golden(t, "credential-show.golden", mustRun(t, "--admin", rd.Socket, "credential", "show", "app"))

	d := rd.credentialJSON(t, "app")
	if d.GraceUntil == nil || !d.GraceUntil.Equal(servertest.Now.Add(10*time.Minute)) {
		t.Errorf("grace_until = %v, want %v", d.GraceUntil, servertest.Now.Add(10*time.Minute))
	}
	if d.Messages["held"] != 2 || d.Messages["waiting"] != 0 || len(d.Messages) != len(admin.States) {
		t.Errorf("messages = %v, want both held (one by hand, one by the pause)", d.Messages)
	}
	if d.Paused == nil || d.Paused.Reason != "checking" || d.Paused.Until == nil {
		t.Errorf("paused = %+v", d.Paused)
	}
	// Defaults read as such.
	out := mustRun(t, "--admin", rd.Socket, "credential", "show", "billing")
	for _, want := range []string{"hold:              default (relayd's --hold)\n", "allowed senders:   any\n",
		"max size:          relayd's --max-message-size\n", "rate limit:        none\n", "paused:            no\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("show billing lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "old password") {
		t.Errorf("show billing mentions an old password, without a rotation:\n%s", out)
	}
}

// TestCredentialSet: set changes what it is given and keeps the rest.
func TestCredentialSet(t *testing.T) {
	rd := startRelayd(t)
	rd.addCredential(t, "app", "--description", "the app", "--hold", "5m", "--allow-sender", "@good.example",
		"--max-size", "1KiB", "--rate-limit", "3")
	want := rd.credentialJSON(t, "app").Credential

	steps := []struct {
		args   []string
		change func(c *admin.Credential)
	}{
		{[]string{"--rate-limit", "10"}, func(c *admin.Credential) { c.RateLimit = 10 }},
		{[]string{"--hold", "default"}, func(c *admin.Credential) { c.Hold = nil }},
		{[]string{"--hold", "0s"}, func(c *admin.Credential) { h := "0s"; c.Hold = &h }},
		{[]string{"--allow-sender", "x@a.example", "--allow-sender", "@b.example"},
			func(c *admin.Credential) { c.AllowedSenders = []string{"x@a.example", "@b.example"} }},
		{[]string{"--allow-any-sender"}, func(c *admin.Credential) { c.AllowedSenders = []string{} }},
		{[]string{"--max-size", "0"}, func(c *admin.Credential) { c.MaxMessageSize = 0 }},
		{[]string{"--description", "renamed", "--reason", "new owner"}, func(c *admin.Credential) { c.Description = "renamed" }},
	}
	for _, st := range steps {
		out := mustRun(t, append([]string{"--admin", rd.Socket, "credential", "set", "app"}, st.args...)...)
		st.change(&want)
		got := rd.credentialJSON(t, "app").Credential
		if jsonText(got) != jsonText(want) {
			t.Errorf("after set %v:\n got %s\nwant %s", st.args, jsonText(got), jsonText(want))
		}
		if !strings.HasPrefix(out, "name:              app\n") || !strings.Contains(out, "rate limit:") {
			t.Errorf("set %v printed:\n%s", st.args, out)
		}
	}
	var cred admin.Credential
	if err := json.Unmarshal([]byte(mustRun(t, "--admin", rd.Socket, "-o", "json", "credential", "set", "app", "--rate-limit", "0")), &cred); err != nil {
		t.Fatal(err)
	}
	if cred.RateLimit != 0 || cred.Description != "renamed" {
		t.Errorf("set -o json = %+v", cred)
	}
}

// TestCredentialSettingsOverSMTP shows each setting at work on a client,
// and set changing it.
func TestCredentialSettingsOverSMTP(t *testing.T) {
	t.Run("allowed senders", func(t *testing.T) {
		rd := startRelayd(t)
		pw := rd.addCredential(t, "app", "--allow-sender", "@good.example", "--allow-sender", "boss@other.example")
		c := rd.login(t, "app", pw)
		_, err := submit(c, "mallory@evil.example", 100)
		refused(t, "MAIL FROM a sender not allowed", err, 550, smtp.EnhancedCode{5, 7, 1})
		mustSubmit(t, c, "a@good.example")
		mustSubmit(t, c, "boss@other.example")
		_, err = submit(c, "someone@other.example", 100)
		refused(t, "MAIL FROM another address of an allowed one's domain", err, 550, smtp.EnhancedCode{5, 7, 1})

		mustRun(t, "--admin", rd.Socket, "credential", "set", "app", "--allow-sender", "@evil.example")
		_, err = submit(c, "a@good.example", 100)
		refused(t, "MAIL FROM a sender no longer allowed", err, 550, smtp.EnhancedCode{5, 7, 1})
		mustSubmit(t, c, "mallory@evil.example")
		mustRun(t, "--admin", rd.Socket, "credential", "set", "app", "--allow-any-sender")
		mustSubmit(t, c, "anyone@anywhere.example")
	})
	t.Run("max size", func(t *testing.T) {
		rd := startRelayd(t)
		pw := rd.addCredential(t, "app", "--max-size", "1KiB")
		c := rd.login(t, "app", pw)
		_, err := submit(c, "app@example.com", 2000)
		refused(t, "a message over the credential's size", err, 552, smtp.EnhancedCode{5, 3, 4})
		if _, err := submit(c, "app@example.com", 500); err != nil {
			t.Errorf("a message under the credential's size: %v", err)
		}
		mustRun(t, "--admin", rd.Socket, "credential", "set", "app", "--max-size", "0")
		if _, err := submit(c, "app@example.com", 2000); err != nil {
			t.Errorf("after set --max-size 0: %v", err)
		}
	})
	t.Run("rate limit", func(t *testing.T) {
		rd := startRelayd(t)
		pw := rd.addCredential(t, "app", "--rate-limit", "2")
		c := rd.login(t, "app", pw)
		mustSubmit(t, c, "app@example.com")
		mustSubmit(t, c, "app@example.com")
		_, err := submit(c, "app@example.com", 100)
		refused(t, "a third message in a minute at 2 a minute", err, 450, smtp.EnhancedCode{4, 7, 1})
		rd.Clock.Advance(30 * time.Second) // one more message's worth
		mustSubmit(t, c, "app@example.com")
		_, err = submit(c, "app@example.com", 100)
		refused(t, "the next one", err, 450, smtp.EnhancedCode{4, 7, 1})

		mustRun(t, "--admin", rd.Socket, "credential", "set", "app", "--rate-limit", "0")
		for range 10 {
			mustSubmit(t, c, "app@example.com")
		}
	})
	t.Run("hold", func(t *testing.T) {
		rd := startRelayd(t)
		pw := rd.addCredential(t, "app", "--hold", "5m")
		c := rd.login(t, "app", pw)
		id := mustSubmit(t, c, "app@example.com")
		if m := rd.message(t, id); !m.Release.Equal(m.Received.Add(5 * time.Minute)) {
			t.Errorf("release %v, want received %v + 5m", m.Release, m.Received)
		}
		rd.Clock.Advance(4 * time.Minute) // past relayd's 30s, not the credential's 5m
		if st := rd.state(t, id); st != spool.Waiting {
			t.Errorf("after 4m the message is %s, want waiting", st)
		}
		rd.Clock.Advance(time.Minute)
		rd.waitState(t, id, spool.Delivered)

		mustRun(t, "--admin", rd.Socket, "credential", "set", "app", "--hold", "0s")
		now := mustSubmit(t, c, "app@example.com")
		rd.waitState(t, now, spool.Delivered) // without the clock moving

		mustRun(t, "--admin", rd.Socket, "credential", "set", "app", "--hold", "default")
		id = mustSubmit(t, c, "app@example.com")
		if m := rd.message(t, id); !m.Release.Equal(m.Received.Add(30 * time.Second)) {
			t.Errorf("with --hold default: release %v, want received %v + relayd's 30s", m.Release, m.Received)
		}
	})
}

// TestPasswordRotateWithoutGrace: the old password dies at once, and a
// session logged in with it cannot send another message (guarantee 5).
func TestPasswordRotateWithoutGrace(t *testing.T) {
	rd := startRelayd(t)
	old := rd.passwords["shop"]
	live := rd.login(t, "shop", old)
	mustSubmit(t, live, "shop@example.com")

	out := mustRun(t, "--admin", rd.Socket, "password-rotate", "shop")
	lines := strings.Split(out, "\n")
	if len(lines) != 6 || lines[0] != "username: shop" || !strings.HasPrefix(lines[1], "password: ") ||
		!strings.HasPrefix(lines[2], "api key:  SG.") ||
		lines[3] != "This password (and its API key, for the HTTP Mail Send API) is shown only once: store it now." ||
		lines[4] != "The old password no longer works; sessions that logged in with it were closed." {
		t.Fatalf("password-rotate printed:\n%s", out)
	}
	fresh := strings.TrimPrefix(lines[1], "password: ")
	if _, pw, ok := auth.ParseAPIKey(strings.TrimPrefix(lines[2], "api key:  ")); !ok || pw != fresh {
		t.Errorf("the api key does not carry the new password: %q", lines[2])
	}

	cannotSend(t, "a session logged in with the old password", live, "shop@example.com")
	if code := rd.authCode(t, "shop", old); code != 535 {
		t.Errorf("AUTH with the old password: %d, want 535", code)
	}
	mustSubmit(t, rd.login(t, "shop", fresh), "shop@example.com")
	if d := rd.credentialJSON(t, "shop"); d.GraceUntil != nil || !d.PasswordChanged.Equal(servertest.Now) {
		t.Errorf("after rotating without grace: %+v", d)
	}
	// billing's sessions are not shop's business.
	mustSubmit(t, rd.login(t, "billing", rd.passwords["billing"]), "billing@example.com")
}

// TestPasswordRotateWithGrace: the old password, and the sessions logged
// in with it, work until the grace ends by relayd's clock; then neither
// does.
func TestPasswordRotateWithGrace(t *testing.T) {
	rd := startRelayd(t)
	old := rd.passwords["shop"]
	live := rd.login(t, "shop", old)

	var res admin.PasswordRotated
	out := mustRun(t, "--admin", rd.Socket, "-o", "json", "password-rotate", "shop", "--grace", "10m")
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v in:\n%s", err, out)
	}
	end := servertest.Now.Add(10 * time.Minute)
	if res.Name != "shop" || res.Password == "" || res.Password == old || res.GraceUntil == nil || !res.GraceUntil.Equal(end) {
		t.Fatalf("password-rotate -o json = %s", out)
	}

	mustSubmit(t, live, "shop@example.com") // still in the grace period
	if code := rd.authCode(t, "shop", old); code != 0 {
		t.Errorf("AUTH with the old password during the grace: %d, want success", code)
	}
	if code := rd.authCode(t, "shop", res.Password); code != 0 {
		t.Errorf("AUTH with the new password: %d, want success", code)
	}
	if out := mustRun(t, "--admin", rd.Socket, "credential", "show", "shop"); !strings.Contains(out, "old password:      still accepted until 2025-03-04 05:16:07Z\n") {
		t.Errorf("show during the grace:\n%s", out)
	}

	rd.Clock.Advance(9 * time.Minute)
	mustSubmit(t, live, "shop@example.com") // a minute left

	rd.Clock.Advance(time.Minute + time.Second)
	cannotSend(t, "a session logged in with the old password, after the grace", live, "shop@example.com")
	if code := rd.authCode(t, "shop", old); code != 535 {
		t.Errorf("AUTH with the old password after the grace: %d, want 535", code)
	}
	mustSubmit(t, rd.login(t, "shop", res.Password), "shop@example.com")
	if out := mustRun(t, "--admin", rd.Socket, "credential", "show", "shop"); strings.Contains(out, "old password") {
		t.Errorf("show after the grace still mentions the old password:\n%s", out)
	}
}

// TestCredentialDisable: disable holds what waits, reports what went
// before, and refuses logins; enable lets them in again and leaves the
// held mail held; enable --release sends it.
func TestCredentialDisable(t *testing.T) {
	rd := startRelayd(t)
	gone := rd.send(t, "shop", "before")
	mustRun(t, "--admin", rd.Socket, "flush", gone)
	rd.waitState(t, gone, spool.Delivered)
	waiting := []string{rd.send(t, "shop", "w1"), rd.send(t, "shop", "w2")}
	other := rd.send(t, "billing", "not shop's")
	live := rd.login(t, "shop", rd.passwords["shop"])

	out := mustRun(t, "--admin", rd.Socket, "credential", "disable", "shop", "--reason", "runaway script")
	golden(t, "credential-disable.golden", out)

	rd.states(t, map[string]spool.State{waiting[0]: spool.Held, waiting[1]: spool.Held, gone: spool.Delivered, other: spool.Waiting})
	if m := rd.message(t, waiting[0]); m.Reason != "runaway script" || m.HeldBy != spool.HeldByFreeze {
		t.Errorf("held message: reason %q, held by %q", m.Reason, m.HeldBy)
	}
	cannotSend(t, "a session of a disabled credential", live, "shop@example.com")
	if code := rd.authCode(t, "shop", rd.passwords["shop"]); code != 535 {
		t.Errorf("AUTH as a disabled credential: %d, want 535", code)
	}
	if d := rd.credentialJSON(t, "shop"); !d.Disabled || d.Messages["held"] != 2 {
		t.Errorf("show after disable: %+v", d)
	}
	if out := mustRun(t, "--admin", rd.Socket, "credential", "ls"); !strings.Contains(out, "shop     disabled") {
		t.Errorf("ls after disable:\n%s", out)
	}
	// Disabled, it delivers nothing, however long.
	rd.settle(t)
	rd.states(t, map[string]spool.State{waiting[0]: spool.Held, waiting[1]: spool.Held, other: spool.Delivered})

	out = mustRun(t, "--admin", rd.Socket, "credential", "enable", "shop")
	if out != "Enabled credential shop: it may log in and send again.\n"+
		"Its 2 held messages stay held: relayctl release --credential shop sends them.\n" {
		t.Errorf("enable printed:\n%s", out)
	}
	rd.states(t, map[string]spool.State{waiting[0]: spool.Held, waiting[1]: spool.Held})
	fresh := mustSubmit(t, rd.login(t, "shop", rd.passwords["shop"]), "shop@example.com")
	if st := rd.state(t, fresh); st != spool.Waiting {
		t.Errorf("a message after enable is %s, want waiting, on the usual schedule", st)
	}

	var res admin.CredentialEnabled
	if err := json.Unmarshal([]byte(mustRun(t, "--admin", rd.Socket, "-o", "json", "credential", "enable", "shop", "--release")), &res); err != nil {
		t.Fatal(err)
	}
	if res.Released != 2 || res.Held != 0 || res.Credential.Disabled {
		t.Errorf("enable --release = %+v", res)
	}
	rd.Clock.Advance(time.Minute)
	for _, id := range append(waiting, fresh) {
		rd.waitState(t, id, spool.Delivered)
	}
}

// TestCredentialDisableInFlight: a message being sent when disable runs is
// cut off before its final dot and held; one the upstream is answering is
// reported delivered during the disable.
func TestCredentialDisableInFlight(t *testing.T) {
	t.Run("before the dot", func(t *testing.T) {
		rd := startRelayd(t)
		gate := rd.up.StallDATA()
		t.Cleanup(gate.Release)
		id := rd.send(t, "shop", "caught")
		mustRun(t, "--admin", rd.Socket, "flush", id)
		reached(t, gate)

		res := disable(t, rd, "shop")
		if res.Held != 1 || res.DeliveredDuring != 0 || res.InFlight != 0 || res.AlreadyDelivered != 0 {
			t.Errorf("disable = %+v, want the message held", res)
		}
		if st := rd.state(t, id); st != spool.Held {
			t.Errorf("message is %s once disable returned, want held", st)
		}
		gate.Release()
		rd.up.WaitIdle(t)
		if n := len(rd.up.Messages()); n != 0 {
			t.Errorf("the upstream received %d messages", n)
		}
	})
	t.Run("after the dot", func(t *testing.T) {
		rd := startRelayd(t)
		gate := rd.up.StallEndOfData()
		t.Cleanup(gate.Release)
		id := rd.send(t, "shop", "too late")
		mustRun(t, "--admin", rd.Socket, "flush", id)
		reached(t, gate)

		done := make(chan admin.CredentialDisabled, 1)
		go func() {
			var res admin.CredentialDisabled
			out, errOut, code := relayctl(t, "--admin", rd.Socket, "-o", "json", "credential", "disable", "shop")
			if err := json.Unmarshal([]byte(out), &res); code != 0 || err != nil {
				t.Errorf("disable: exit %d, %v: %s%s", code, err, out, errOut)
			}
			done <- res
		}()
		// The upstream answers only once the disable waits for it.
		eventually(t, "the disable to reach the message", func() bool { return rd.message(t, id).Intent != nil })
		gate.Release()
		select {
		case res := <-done:
			if res.Held != 0 || res.DeliveredDuring != 1 || res.InFlight != 0 || res.AlreadyDelivered != 0 {
				t.Errorf("disable = %+v, want the message delivered during it", res)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("disable did not answer 10s after the upstream did")
		}
		if st := rd.state(t, id); st != spool.Delivered {
			t.Errorf("message is %s, want delivered", st)
		}
	})
}

func disable(t *testing.T, rd *relayd, name string, args ...string) admin.CredentialDisabled {
	t.Helper()
	var res admin.CredentialDisabled
	out := mustRun(t, append([]string{"--admin", rd.Socket, "-o", "json", "credential", "disable", name}, args...)...)
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v in:\n%s", err, out)
	}
	return res
}

// TestCredentialRemove: rm asks first; once removed, the credential
// cannot log in, and its messages are delivered as scheduled, or stay held.
func TestCredentialRemove(t *testing.T) {
	rd := startRelayd(t)
	pending := rd.send(t, "shop", "still goes")

	out, errOut, code := relayctlIn(t, "n\n", "--admin", rd.Socket, "credential", "rm", "shop")
	if code != 1 || out != "" || !strings.Contains(errOut, "Its 1 pending message will still be delivered") ||
		!strings.Contains(errOut, "Error: rm aborted") {
		t.Errorf("rm answered no: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, ok := rd.Creds.Get("shop"); !ok {
		t.Fatal("rm removed the credential without a yes")
	}
	out, _, code = relayctlIn(t, "y\n", "--admin", rd.Socket, "credential", "rm", "shop", "--reason", "retired")
	if code != 0 || out != "Removed credential shop.\nIts 1 pending message stays in the spool and will be delivered as scheduled: relayctl drop --credential shop stops them.\n" {
		t.Errorf("rm answered yes: exit %d, stdout %q", code, out)
	}
	if _, ok := rd.Creds.Get("shop"); ok {
		t.Error("shop still exists")
	}
	if code := rd.authCode(t, "shop", rd.passwords["shop"]); code != 535 {
		t.Errorf("AUTH as a removed credential: %d, want 535", code)
	}
	rd.Clock.Advance(time.Minute)
	rd.waitState(t, pending, spool.Delivered)

	// A disabled credential's held mail stays held when it goes.
	held := rd.send(t, "billing", "held")
	disable(t, rd, "billing")
	var res admin.CredentialRemoved
	if err := json.Unmarshal([]byte(mustRun(t, "--admin", rd.Socket, "-o", "json", "credential", "rm", "billing", "--yes")), &res); err != nil {
		t.Fatal(err)
	}
	if res.Name != "billing" || res.Held != 1 || res.Pending != 0 {
		t.Errorf("rm billing = %+v", res)
	}
	rd.settle(t)
	if st := rd.state(t, held); st != spool.Held {
		t.Errorf("billing's held message is %s after rm, want held", st)
	}
}

// TestCredentialNotFound: every command on a credential that does not
// exist fails with exit 1 and says so.
func TestCredentialNotFound(t *testing.T) {
	rd := startRelayd(t)
	for _, args := range [][]string{
		{"credential", "show", "nobody"},
		{"credential", "set", "nobody", "--rate-limit", "1"},
		{"credential", "disable", "nobody"},
		{"credential", "enable", "nobody"},
		{"credential", "rm", "nobody", "--yes"},
		{"credential", "rm", "nobody"},
		{"password-rotate", "nobody"},
	} {
		out, errOut, code := relayctl(t, append([]string{"--admin", rd.Socket}, args...)...)
		if code != 1 || out != "" || errOut != "Error: no credential \"nobody\"\n" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
	if entries, _ := rd.Spool.Audit(0, 10); len(entries) != 0 {
		t.Errorf("refused changes were audited: %+v", entries)
	}
}
