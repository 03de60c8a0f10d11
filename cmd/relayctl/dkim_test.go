package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-smtp"

	relaydkim "github.com/holdrelay/relay/dkim"
	"github.com/holdrelay/relay/spool"
)

// TestDKIMAddSignsVerifiably: the record `dkim add` prints verifies the
// signature of a message relayd then delivers, checked by go-msgauth's
// verifier, for both algorithms; an altered body fails it.
func TestDKIMAddSignsVerifiably(t *testing.T) {
	for _, alg := range []string{"rsa", "ed25519"} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			rd := startRelaydWith(t, relaydOptions{dkim: &relaydkim.Keyring{}})
			out := mustRun(t, "--admin", rd.Socket, "-o", "json", "dkim", "add", "example.com", "--selector", "s1", "--algorithm", alg)
			var added struct{ Name, Record string }
			if err := json.Unmarshal([]byte(out), &added); err != nil {
				t.Fatal(err)
			}
			if added.Name != "s1._domainkey.example.com" || !strings.HasPrefix(added.Record, "v=DKIM1; k="+alg+"; p=") {
				t.Fatalf("dkim add -o json: %s", out)
			}
			id := rd.send(t, "shop", "signed")
			rd.Clock.Advance(31 * time.Second)
			rd.waitState(t, id, spool.Delivered)
			data := rd.up.Messages()[0].Data
			lookup := func(name string) ([]string, error) {
				if name == added.Name {
					return []string{added.Record}, nil
				}
				return nil, fmt.Errorf("no TXT record at %s", name)
			}
			verify := func(msg []byte) *dkim.Verification {
				t.Helper()
				vs, err := dkim.VerifyWithOptions(bytes.NewReader(msg), &dkim.VerifyOptions{LookupTXT: lookup})
				if err != nil || len(vs) != 1 {
					t.Fatalf("verify: %v, %d signatures in:\n%s", err, len(vs), msg)
				}
				return vs[0]
			}
			if v := verify(data); v.Err != nil || v.Domain != "example.com" {
				t.Errorf("signature does not verify: %v (d=%s)\n%s", v.Err, v.Domain, data)
			}
			altered := bytes.Replace(data, []byte("\r\n\r\nHello."), []byte("\r\n\r\nHullo."), 1)
			if bytes.Equal(altered, data) {
				t.Fatal("test message has no body to alter")
			}
			if v := verify(altered); v.Err == nil {
				t.Error("signature still verifies after the body was altered")
			}
		})
	}
}

// TestDKIMCommands: ls shows the record and never the private key; rm
// stops the signing; each change has its audit entry and event.
func TestDKIMCommands(t *testing.T) {
	rd := startRelaydWith(t, relaydOptions{dkim: &relaydkim.Keyring{}, tokens: roleTokens})
	ops := []string{"--admin", rd.TCP, "--token", opsSecret}
	out := mustRun(t, append(ops, "dkim", "add", "Example.COM.", "--algorithm", "ed25519")...)
	sel := relaydkim.DefaultSelector(rd.Clock.Now())
	if !regexp.MustCompile(`(?m)^name: +`+sel+`\._domainkey\.example\.com$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^record: +v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=$`).MatchString(out) {
		t.Errorf("add:\n%s", out)
	}
	ls := mustRun(t, append(ops, "dkim", "ls")...)
	if !strings.Contains(ls, "example.com  "+sel+"  ed25519") || !strings.Contains(ls, "v=DKIM1; k=ed25519; p=") {
		t.Errorf("ls:\n%s", ls)
	}
	js := mustRun(t, append(ops, "dkim", "ls", "-o", "json")...)
	if strings.Contains(js, "private") {
		t.Errorf("ls shows the private key:\n%s", js)
	}
	help := []string{"--admin", rd.TCP, "--token", supportSecret}
	mustRun(t, append(help, "dkim", "ls")...)
	if _, errOut, code := relayctl(t, append(help, "dkim", "add", "example.org")...); code != 1 || !strings.Contains(errOut, "needs the operator role") {
		t.Errorf("support's add: exit %d, %q", code, errOut)
	}
	if out := mustRun(t, append(ops, "dkim", "rm", "example.com")...); !strings.Contains(out, "removed:  "+sel+"._domainkey.example.com") {
		t.Errorf("rm: %q", out)
	}
	if ls := mustRun(t, append(ops, "dkim", "ls")...); !strings.HasPrefix(ls, "No DKIM keys") {
		t.Errorf("ls after rm: %q", ls)
	}
	id := rd.send(t, "shop", "unsigned now")
	rd.Clock.Advance(31 * time.Second)
	rd.waitState(t, id, spool.Delivered)
	if data := rd.up.Messages()[0].Data; bytes.Contains(data, []byte("DKIM-Signature")) {
		t.Errorf("signed with a removed key:\n%s", data)
	}
	audit := mustRun(t, append(ops, "audit", "ls")...)
	for _, want := range []string{"dkim add", "dkim rm", "dkim=" + sel + "._domainkey.example.com"} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit lacks %q:\n%s", want, audit)
		}
	}
	events := mustRun(t, append(ops, "events", "--type", "dkim.*", "-o", "json")...)
	if strings.Count(events, `"dkim.added"`) != 1 || strings.Count(events, `"dkim.removed"`) != 1 || !strings.Contains(events, `"selector":"`+sel+`"`) {
		t.Errorf("events:\n%s", events)
	}
}

// TestDKIMRefusals: a bad domain, selector or algorithm exits 2 before
// relayd is asked; a taken selector and an unknown key exit 1.
func TestDKIMRefusals(t *testing.T) {
	rd := startRelayd(t)
	ops := []string{"--admin", rd.Socket}
	mustRun(t, append(ops, "dkim", "add", "example.com", "--selector", "a", "--algorithm", "ed25519")...)
	mustRun(t, append(ops, "dkim", "add", "example.com", "--selector", "b", "--algorithm", "ed25519")...)
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"dkim", "add", "exa_mple.com"}, 2, `invalid domain "exa_mple.com": label "exa_mple" has '_'`},
		{[]string{"dkim", "add", "example..com"}, 2, `invalid domain "example..com": empty label`},
		{[]string{"dkim", "add", "example.com;rm"}, 2, `has ';'`},
		{[]string{"dkim", "add", "localhost"}, 2, "want a name with a dot"},
		{[]string{"dkim", "add", "10.0.0.1"}, 2, "an IP address is not a domain"},
		{[]string{"dkim", "add", "-bad-.com"}, 2, "unknown shorthand flag"},
		{[]string{"dkim", "add", "x.-bad-.com"}, 2, "starts or ends with '-'"},
		{[]string{"dkim", "add", "example.org", "--selector", "a b"}, 2, `invalid selector "a b"`},
		{[]string{"dkim", "add", "example.org", "--algorithm", "dsa"}, 2, `want rsa or ed25519, got "dsa"`},
		{[]string{"dkim", "add"}, 2, "missing DOMAIN"},
		{[]string{"dkim", "add", "example.com", "--selector", "a"}, 1, `example.com already has a key with selector "a"`},
		{[]string{"dkim", "rm", "example.com"}, 2, "example.com has 2 keys (selectors a, b): give --selector"},
		{[]string{"dkim", "rm", "example.com", "--selector", "c"}, 1, `no dkim key "c" for example.com`},
		{[]string{"dkim", "rm", "example.net"}, 1, "no dkim key for example.net"},
	}
	for _, tt := range tests {
		_, errOut, code := relayctl(t, append(ops, tt.args...)...)
		if code != tt.code || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, %q; want %d saying %q", tt.args, code, errOut, tt.code, tt.want)
		}
	}
}

// TestQueueShowLinksTheBounce: a failed message's record names its DSN,
// and the DSN's names the message it reports.
func TestQueueShowLinksTheBounce(t *testing.T) {
	rd := startRelaydWith(t, relaydOptions{bounces: true, onRcpt: func(to string) error {
		if to == "ghost@example.org" {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		}
		return nil
	}})
	id := rd.send(t, "shop", "to a ghost", "ghost@example.org")
	rd.Clock.Advance(31 * time.Second)
	rd.waitState(t, id, spool.Failed)
	dsn := rd.message(t, id).DSN.String()
	rd.waitState(t, dsn, spool.Delivered)
	if out := mustRun(t, "--admin", rd.Socket, "queue", "show", id); !regexp.MustCompile(`(?m)^bounce sent: +` + dsn + `$`).MatchString(out) {
		t.Errorf("queue show of the failed message:\n%s", out)
	}
	if out := mustRun(t, "--admin", rd.Socket, "queue", "show", dsn); !regexp.MustCompile(`(?m)^bounce of: +` + id + `$`).MatchString(out) {
		t.Errorf("queue show of the DSN:\n%s", out)
	}
}
