package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/admin/server"
	"github.com/holdrelay/relay/admin/server/servertest"
	"github.com/holdrelay/relay/auth"
)

func TestCredentialAdd(t *testing.T) {
	r := servertest.Start(t, servertest.Options{})
	out := mustRun(t, "--admin", r.Socket, "credential", "add", "shop", "--description", "web shop", "--hold", "90s")

	re := regexp.MustCompile(`^username: shop\npassword: (\S+)\napi key:  (\S+)\nThis password \(and its API key, for the HTTP Mail Send API\) is shown only once: store it now\.\n$`)
	m := re.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("output:\n%s\nwant it to match %s", out, re)
	}
	if name, pw, ok := auth.ParseAPIKey(m[2]); !ok || name != "shop" || pw != m[1] {
		t.Errorf("api key %q carries %q, %q, %v; want shop and the password", m[2], name, pw, ok)
	}
	if _, err := r.Creds.Verify("shop", m[1]); err != nil {
		t.Errorf("printed password does not log in: %v", err)
	}
	c, ok := r.Creds.Get("shop")
	if !ok || c.Description != "web shop" || c.Hold == nil || *c.Hold != 90*time.Second {
		t.Errorf("stored credential = %+v, %v", c, ok)
	}
}

func TestCredentialAddJSON(t *testing.T) {
	r := servertest.Start(t, servertest.Options{})
	out := mustRun(t, "--admin", r.Socket, "-o", "json", "credential", "add", "ci", "--hold", "0s")
	var fields map[string]any
	if err := json.Unmarshal([]byte(out), &fields); err != nil {
		t.Fatalf("%v in:\n%s", err, out)
	}
	pw, _ := fields["password"].(string)
	if _, err := r.Creds.Verify("ci", pw); err != nil {
		t.Errorf(`"password" = %q does not log in (%v); output:\n%s`, pw, err, out)
	}
	if key, _ := fields["api_key"].(string); key != auth.APIKey("ci", pw) {
		t.Errorf(`"api_key" = %q, want the API key of ci's password`, key)
	}
	if fields["name"] != "ci" || fields["hold"] != "0s" {
		t.Errorf("output:\n%s", out)
	}
}

func TestCredentialAddRefused(t *testing.T) {
	r := servertest.Start(t, servertest.Options{})
	mustRun(t, "--admin", r.Socket, "credential", "add", "shop")
	tests := []struct {
		args []string
		code int // 1: refused; 2: the command line was wrong
		want string
	}{
		{[]string{"credential", "add", "shop"}, 1, "Error: credential \"shop\" already exists\n"},
		{[]string{"credential", "add", "Shop!"}, 2, "Error: invalid credential name \"Shop!\""},
		{[]string{"credential", "add", "x", "--description", "two\nlines"}, 2, "Error: description"},
	}
	for _, tt := range tests {
		out, errOut, code := relayctl(t, append([]string{"--admin", r.Socket}, tt.args...)...)
		if code != tt.code || out != "" || !strings.HasPrefix(errOut, tt.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %d and %q", tt.args, code, out, errOut, tt.code, tt.want)
		}
	}
}

func TestCredentialList(t *testing.T) {
	r := servertest.Start(t, servertest.Options{})
	golden(t, "credential-ls-empty.golden", mustRun(t, "--admin", r.Socket, "credential", "ls"))
	if out := mustRun(t, "--admin", r.Socket, "credential", "ls", "-o", "json"); out != "[]\n" {
		t.Errorf("empty JSON list = %q, want []", out)
	}

	mustRun(t, "--admin", r.Socket, "credential", "add", "shop", "--description", "web shop", "--hold", "5m")
	mustRun(t, "--admin", r.Socket, "credential", "add", "newsletter")
	if err := r.Creds.SetDisabled("newsletter", true); err != nil {
		t.Fatal(err)
	}
	out := mustRun(t, "--admin", r.Socket, "credential", "ls")
	golden(t, "credential-ls.golden", out)
	if strings.Contains(strings.ToLower(out), "password:") {
		t.Errorf("ls shows a password:\n%s", out)
	}

	var list []admin.Credential
	if err := json.Unmarshal([]byte(mustRun(t, "--admin", r.Socket, "credential", "ls", "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "newsletter" || !list[0].Disabled || list[1].Hold == nil || *list[1].Hold != "5m0s" {
		t.Errorf("list = %+v", list)
	}
}

// TestTCPToken reaches relayd over TCP with the token from the flag or the
// environment; without one, relayd refuses and relayctl says why.
func TestTCPToken(t *testing.T) {
	const secret = "a-long-enough-operator-secret"
	r := servertest.Start(t, servertest.Options{Tokens: []server.Token{{Name: "ops", Secret: secret, Role: server.RoleOperator}}})
	t.Setenv("RELAY_TOKEN", "")

	_, errOut, code := relayctl(t, "--admin", r.TCP, "status")
	if code != 1 || !strings.Contains(errOut, "needs a token") {
		t.Errorf("without token: exit %d, stderr %q", code, errOut)
	}
	mustRun(t, "--admin", r.TCP, "--token", secret, "status")

	t.Setenv("RELAY_ADMIN", "http://"+r.TCP)
	t.Setenv("RELAY_TOKEN", secret)
	mustRun(t, "credential", "add", "from-env")
	if _, ok := r.Creds.Get("from-env"); !ok {
		t.Error("credential added through RELAY_ADMIN and RELAY_TOKEN is missing")
	}
}

func TestUnreachable(t *testing.T) {
	_, errOut, code := relayctl(t, "--admin", "unix:"+t.TempDir()+"/admin.sock", "status")
	if code != 1 || !strings.Contains(errOut, "is it running?") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}
