package main

import (
	"regexp"
	"strings"
	"testing"
)

// token add prints the secret once and it works; ls never shows it; rm
// stops it; console-link prints a link; a support token may do none of it.
func TestTokenAndConsoleLinkCommands(t *testing.T) {
	rd := startRelayd(t, roleTokens...)
	ops := []string{"--admin", rd.TCP, "--token", opsSecret}
	out := mustRun(t, append(ops, "token", "add", "alice", "--role", "support")...)
	m := regexp.MustCompile(`(?m)^secret: +(\S{43})$`).FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "shown only once") {
		t.Fatalf("add:\n%s", out)
	}
	alice := []string{"--admin", rd.TCP, "--token", m[1]}
	mustRun(t, append(alice, "status")...)
	if ls := mustRun(t, append(ops, "token", "ls")...); !strings.Contains(ls, "alice  support") || strings.Contains(ls, m[1]) {
		t.Errorf("ls:\n%s", ls)
	}
	if _, stderr, code := relayctl(t, append(alice, "token", "add", "bob")...); code != 1 || !strings.Contains(stderr, "needs the operator role") {
		t.Errorf("support token add: exit %d, %s", code, stderr)
	}
	if _, stderr, code := relayctl(t, append(ops, "token", "add", "carol", "--role", "boss")...); code != 2 || !strings.Contains(stderr, "want operator or support") {
		t.Errorf("bad role: exit %d, %s", code, stderr)
	}
	if _, stderr, code := relayctl(t, append(ops, "console-link")...); code != 1 || !strings.Contains(stderr, "the web console is off") {
		t.Errorf("link with the console off: exit %d, %s", code, stderr)
	}
	rd.Server.SetConsoleURL("http://127.0.0.1:8025")
	link := mustRun(t, append(ops, "console-link", "--role", "support")...)
	if !regexp.MustCompile(`^http://127\.0\.0\.1:8025/signin/\S{43}\nSigns in once as console:link-[0-9a-f]{6} \(support\), until `).MatchString(link) {
		t.Errorf("console-link:\n%s", link)
	}
	mustRun(t, append(ops, "token", "rm", "alice")...)
	if _, _, code := relayctl(t, append(alice, "status")...); code != 1 {
		t.Errorf("a removed token still works: exit %d", code)
	}
}
