package main

import (
	"encoding/json"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/admin/server"
)

const (
	opsSecret     = "operator-secret-0123456789"
	supportSecret = "support-secret-0123456789"
)

var roleTokens = []server.Token{
	{Name: "ops", Secret: opsSecret, Role: server.RoleOperator},
	{Name: "helpdesk", Secret: supportSecret, Role: server.RoleSupport},
}

// TestAuditTable: every change is in the audit log with its actor, selector,
// result and reason; dry runs and reads are not. Over TCP, so that the
// actors (token names) are the same on every machine.
func TestAuditTable(t *testing.T) {
	rd := startRelayd(t, roleTokens...)
	ops := []string{"--admin", rd.TCP, "--token", opsSecret}
	help := []string{"--admin", rd.TCP, "--token", supportSecret}
	a := rd.send(t, "shop", "a")
	b := rd.send(t, "billing", "b")

	mustRun(t, append(ops, "credential", "add", "newsletter")...)
	mustRun(t, append(help, "hold", a, b, "--reason", "customer asked")...)
	mustRun(t, append(ops, "release", "--credential", "billing", "--state", "held")...)
	mustRun(t, append(help, "drop", "--from", "@example.com", "--older-than", "1h", "--dry-run")...)
	if _, _, code := relayctl(t, append(help, "drop", a, "0000000000001")...); code != 1 {
		t.Errorf("drop with an unknown ID: exit %d, want 1", code)
	}
	mustRun(t, append(ops, "pause", "--credential", "billing", "--reason", "bad template")...)
	mustRun(t, append(ops, "resume", "--credential", "billing")...)
	mustRun(t, append(help, "purge", "--all", "--yes")...)
	mustRun(t, append(help, "queue", "ls")...)

	out := mustRun(t, append(help, "audit", "ls")...)
	golden(t, "audit-ls.golden", out)

	var list admin.AuditList
	if err := json.Unmarshal([]byte(mustRun(t, append(ops, "audit", "ls", "-o", "json")...)), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Entries) != 7 || list.Entries[0].Action != "purge" || list.Entries[6].Action != "credential add" || list.NextBefore != 0 {
		t.Errorf("audit JSON: %+v", list)
	}
}

// TestAuditSocketActor: on the unix socket the actor is the peer's uid.
func TestAuditSocketActor(t *testing.T) {
	rd := startRelayd(t)
	id := rd.send(t, "shop", "x")
	mustRun(t, "--admin", rd.Socket, "hold", id)
	mustRun(t, "--admin", rd.Socket, "drop", id, "--reason", "spam")
	out := mustRun(t, "--admin", rd.Socket, "audit", "ls")
	uid := "uid:" + strconv.Itoa(os.Getuid())
	for _, want := range []string{
		` ` + uid + ` +drop +ids=` + id + ` +dropped 1 +spam\n`,
		` ` + uid + ` +hold +ids=` + id + ` +held 1 +-\n`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("audit log lacks %q:\n%s", want, out)
		}
	}
}

func TestAuditPages(t *testing.T) {
	rd := startRelayd(t)
	for _, name := range []string{"a1", "a2", "a3"} {
		mustRun(t, "--admin", rd.Socket, "credential", "add", name)
	}
	out, errOut, code := relayctl(t, "--admin", rd.Socket, "audit", "ls", "--limit", "2")
	m := regexp.MustCompile(`^\(more: relayctl audit ls --admin \S+ --limit 2 --before (\d+)\)\n$`).FindStringSubmatch(errOut)
	if code != 0 || m == nil || !strings.Contains(out, "credential=a3") || !strings.Contains(out, "credential=a2") {
		t.Fatalf("first page: exit %d, stderr %q:\n%s", code, errOut, out)
	}
	out, errOut, code = relayctl(t, "--admin", rd.Socket, "audit", "ls", "--limit", "2", "--before", m[1])
	if code != 0 || errOut != "" || !strings.Contains(out, "credential=a1") || strings.Contains(out, "credential=a2") {
		t.Errorf("second page: exit %d, stderr %q:\n%s", code, errOut, out)
	}
	if out, _, code := relayctl(t, "--admin", rd.Socket, "audit", "ls", "--limit", "0"); code != 2 {
		t.Errorf("--limit 0: exit %d, %s", code, out)
	}
}

func TestAuditEmpty(t *testing.T) {
	rd := startRelayd(t)
	if out := mustRun(t, "--admin", rd.Socket, "audit", "ls"); out != "No audit entries.\n" {
		t.Errorf("empty audit log: %q", out)
	}
}

// TestRoles: support staff may look, hold, drop and purge; letting mail
// go (flush, release, pause, resume) and credentials are the operator's.
// Without a token, TCP answers nothing.
func TestRoles(t *testing.T) {
	rd := startRelayd(t, roleTokens...)
	id := rd.send(t, "shop", "x")
	tests := []struct {
		args      []string
		support   bool // else 403
		operators bool
	}{
		{[]string{"status"}, true, true},
		{[]string{"queue", "ls"}, true, true},
		{[]string{"queue", "show", id}, true, true},
		{[]string{"queue", "show", id, "--raw"}, true, true},
		{[]string{"audit", "ls"}, true, true},
		{[]string{"hold", id}, true, true},
		{[]string{"flush", id, "--dry-run"}, false, true},
		{[]string{"release", id}, false, true},
		{[]string{"pause", "--credential", "billing"}, false, true},
		{[]string{"resume", "--credential", "billing"}, false, true},
		{[]string{"credential", "add", "new"}, false, true},
		{[]string{"drop", id}, true, true},
		{[]string{"purge", "--yes"}, true, true},
	}
	for _, tt := range tests {
		for _, role := range []struct {
			token string
			ok    bool
		}{{supportSecret, tt.support}, {opsSecret, tt.operators}, {"", false}} {
			args := append([]string{"--admin", rd.TCP, "--token", role.token}, tt.args...)
			t.Setenv("RELAY_TOKEN", "")
			out, errOut, code := relayctl(t, args...)
			switch {
			case role.ok && code != 0:
				t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
			case !role.ok && role.token == "" && (code != 1 || !strings.Contains(errOut, "needs a token")):
				t.Errorf("%v without a token: exit %d, stderr %q", args, code, errOut)
			case !role.ok && role.token != "" && (code != 1 || !strings.Contains(errOut, "needs the operator role") || out != ""):
				t.Errorf("%v as support: exit %d, stdout %q, stderr %q", args, code, out, errOut)
			}
			if !role.ok && role.token == supportSecret && tt.args[0] == "credential" {
				if _, ok := rd.Creds.Get("new"); ok {
					t.Error("support added a credential")
				}
			}
		}
	}
}
