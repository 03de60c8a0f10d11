package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestREADMETour follows the README's five-minute tour with swaks: the
// bootstrap credential, one message, and its .eml in the outbox after the
// hold window (1s here instead of 30s).
func TestREADMETour(t *testing.T) {
	swaks, err := exec.LookPath("swaks")
	if err != nil {
		t.Skip("swaks is not installed (apt-get install swaks); .ci/run installs it")
	}
	data := t.TempDir()
	d := startRelayd(t, data, "--hold", "1s", "--admin-listen", "unix:"+shortSock(t))
	if !strings.Contains(d.stdout.String(), "username: default") || d.password == "" {
		t.Fatalf("bootstrap credential not printed:\n%s", d.stdout)
	}
	host, port, _ := strings.Cut(d.smtp, ":")
	out, err := exec.Command(swaks, "--server", host, "--port", port,
		"--auth", "PLAIN", "--auth-user", "default", "--auth-password", d.password,
		"--from", "app@example.com", "--to", "user@example.net",
		"--header", "Subject: tour").CombinedOutput()
	if err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "250 2.0.0 OK: queued as ") {
		t.Fatalf("swaks saw no 250 queued:\n%s", out)
	}
	outbox := filepath.Join(data, "outbox")
	deadline := time.Now().Add(20 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(outbox, "*.eml"))
		if len(files) == 1 {
			b, _ := os.ReadFile(files[0])
			if !strings.Contains(string(b), "Subject: tour") {
				t.Fatalf("outbox file:\n%s", b)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no .eml in %s (files %v)\nstderr:\n%s", outbox, files, d.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	if err := d.waitExit(t); err != nil {
		t.Fatal(err)
	}
}
