package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/holdrelay/relay/internal/testenv"
)

// TestREADMETour follows the README's five-minute tour with the clients it
// names: the bootstrap credential; one message each from swaks, curl and
// Python's smtplib; relayctl listing them, dropping one and flushing the
// rest; the flushed ones in the outbox and both actions in the audit log.
// The hold window is an hour, so only the flush can deliver.
func TestREADMETour(t *testing.T) {
	swaks := testenv.Tool(t, "swaks", "apt-get install swaks")
	curl := testenv.Tool(t, "curl", "apt-get install curl")
	python := testenv.Tool(t, "python3", "apt-get install python3")
	relayctl := buildRelayctl(t)

	data := t.TempDir()
	sock := shortSock(t)
	d := startRelayd(t, data, "--hold", "1h", "--admin-listen", "unix:"+sock)
	if !strings.Contains(d.stdout.String(), "username: default") || d.password == "" {
		t.Fatalf("bootstrap credential not printed:\n%s", d.stdout)
	}
	host, port, _ := strings.Cut(d.smtp, ":")
	run := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Env = append(cleanEnv(), "RELAY_ADMIN=unix:"+sock)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
		}
		return string(out)
	}

	out := run(swaks, "--server", host, "--port", port,
		"--auth", "PLAIN", "--auth-user", "default", "--auth-password", d.password,
		"--from", "app@example.com", "--to", "user@example.net", "--header", "Subject: tour swaks")
	swaksID := queuedID(t, out)
	msg := filepath.Join(t.TempDir(), "msg.eml")
	os.WriteFile(msg, []byte("Subject: tour curl\r\n\r\nHi.\r\n"), 0o600)
	run(curl, "-sS", "smtp://"+d.smtp, "--user", "default:"+d.password,
		"--mail-from", "app@example.com", "--mail-rcpt", "user@example.net", "--upload-file", msg)
	run(python, "-c", `import smtplib, sys
with smtplib.SMTP(sys.argv[1], int(sys.argv[2])) as s:
    s.login("default", sys.argv[3])
    s.sendmail("app@example.com", ["user@example.net"], "Subject: tour python\r\n\r\nHi.\r\n")`,
		host, port, d.password)

	ls := run(relayctl, "queue", "ls")
	for _, subject := range []string{"tour swaks", "tour curl", "tour python"} {
		if !regexp.MustCompile(`waiting\s+default\s+app@example.com\s+user@example.net\s+` + subject).MatchString(ls) {
			t.Errorf("queue ls does not show %q waiting:\n%s", subject, ls)
		}
	}
	if out := run(relayctl, "drop", swaksID, "--reason", "wrong template"); !regexp.MustCompile(`dropped\s+1\n`).MatchString(out) {
		t.Errorf("drop:\n%s", out)
	}
	if out := run(relayctl, "flush", "--all"); !regexp.MustCompile(`flushed\s+2\n`).MatchString(out) {
		t.Errorf("flush --all:\n%s", out)
	}
	got := waitOutbox(t, filepath.Join(data, "outbox"), 2)
	if strings.Contains(got, "tour swaks") || !strings.Contains(got, "tour curl") || !strings.Contains(got, "tour python") {
		t.Errorf("outbox holds the wrong messages:\n%s", got)
	}
	audit := run(relayctl, "audit", "ls")
	if !strings.Contains(audit, "wrong template") || !regexp.MustCompile(`flush\s+all\s+flushed 2`).MatchString(audit) {
		t.Errorf("audit ls:\n%s", audit)
	}
	run(relayctl, "credential", "add", "billing", "--description", "billing service")
	if ls := run(relayctl, "credential", "ls"); !strings.Contains(ls, "billing service") {
		t.Errorf("credential ls:\n%s", ls)
	}

	d.cmd.Process.Signal(syscall.SIGTERM)
	if err := d.waitExit(t); err != nil {
		t.Fatal(err)
	}
}

func queuedID(t *testing.T, out string) string {
	t.Helper()
	m := regexp.MustCompile(`250 2\.0\.0 OK: queued as (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no 250 queued:\n%s", out)
	}
	return m[1]
}

// waitOutbox waits for n .eml files and returns them joined.
func waitOutbox(t *testing.T, dir string, n int) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
		if len(files) >= n {
			var all strings.Builder
			for _, f := range files {
				b, _ := os.ReadFile(f)
				all.Write(b)
			}
			return all.String()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d .eml files in %s", len(files), n, dir)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// buildRelayctl builds the real relayctl for the tour.
func buildRelayctl(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "relayctl")
	if out, err := exec.Command("go", "build", "-o", bin, "../relayctl").CombinedOutput(); err != nil {
		t.Fatalf("building relayctl: %v\n%s", err, out)
	}
	return bin
}
