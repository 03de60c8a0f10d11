package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runToExit runs relayd with args until it exits by itself, which a
// refused start must do at once.
func runToExit(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb syncBuffer
	cmd := exec.Command(relaydBin, args...)
	cmd.Stdout, cmd.Stderr, cmd.Env = &out, &errb, cleanEnv()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), out.String(), errb.String()
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("relayd %v did not exit\nstdout:\n%s\nstderr:\n%s", args, out.String(), errb.String())
		return 0, "", ""
	}
}

// An admin API on TCP without tokens used to start half-way: the data
// directory, the spool and the first credential made (its password
// printed, the only time), SMTP answering 250, then a hang at shutdown.
func TestTCPAdminWithoutTokensRefusesToStart(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	code, stdout, stderr := runToExit(t, "--data", data, "--smtp-listen", freePort(t), "--admin-listen", freePort(t))
	if code != 2 {
		t.Errorf("exit %d, want 2\nstderr:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "--admin-listen") || !strings.Contains(stderr, "--admin-tokens") {
		t.Errorf("the refusal does not name the settings:\n%s", stderr)
	}
	if stdout != "" {
		t.Errorf("a refused start printed on stdout:\n%s", stdout)
	}
	if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused start created the data directory: %v", err)
	}
}

// A start that fails after the settings were judged (here a port in use)
// must not use up the only showing of the first password.
func TestPasswordIsPrintedOnlyByAStartThatServes(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	data := t.TempDir()
	admin := "unix:" + shortSock(t)
	code, stdout, stderr := runToExit(t, "--data", data, "--smtp-listen", busy.Addr().String(), "--admin-listen", admin)
	if code == 0 || !strings.Contains(stderr, "--smtp-listen") {
		t.Errorf("start on a busy port: exit %d\nstderr:\n%s", code, stderr)
	}
	if strings.Contains(stdout, "password") {
		t.Errorf("a failed start printed the password:\n%s", stdout)
	}
	if d := startRelayd(t, data, "--admin-listen", admin); d.password == "" {
		t.Errorf("the next start did not print the first password:\n%s", d.stdout)
	}
}

// With --log-format json, stderr is all JSON lines and the password goes
// to stdout, apart from them.
func TestJSONLogsAndThePasswordApart(t *testing.T) {
	d := startRelayd(t, t.TempDir(), "--log-format", "json", "--admin-listen", "unix:"+shortSock(t))
	d.cmd.Process.Signal(syscall.SIGTERM)
	if err := d.waitExit(t); err != nil {
		t.Fatalf("exit: %v\nstderr:\n%s", err, d.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(d.stderr.String(), "\n"), "\n")
	for _, line := range lines {
		if !json.Valid([]byte(line)) {
			t.Errorf("stderr line is not JSON: %q", line)
		}
	}
	if len(lines) < 2 {
		t.Errorf("stderr has %d lines, want the start and the stop at least", len(lines))
	}
	if !regexp.MustCompile(`(?m)^  username: default\n  password: \S{16,}$`).MatchString(d.stdout.String()) {
		t.Errorf("stdout lacks the first credential:\n%s", d.stdout)
	}
	if strings.Contains(d.stdout.String(), "{") {
		t.Errorf("logs on stdout:\n%s", d.stdout)
	}
}

// Errors in settings name the setting and the entry, never the value:
// the value may hold secrets, and the error goes to logs.
func TestSettingErrorsNeverShowSecrets(t *testing.T) {
	const secret = "SECRET-0123456789"
	file := func(yaml string) string {
		path := filepath.Join(t.TempDir(), "relayd.yaml")
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	// Should a setting pass, the start still fails, at the busy port.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		name string
		env  string // RELAY_ADMIN_TOKENS
		args []string
		want []string
	}{
		{name: "bad role in the env", env: "a:operator:" + secret + `"a,b:boss:` + secret + "b",
			want: []string{"RELAY_ADMIN_TOKENS", "entry 2", "role"}},
		{name: "short secret on the command line", args: []string{"--admin-tokens", "a:operator:" + secret + ",b:support:SECRET-short"},
			want: []string{"--admin-tokens", "entry 2", "shorter"}},
		{name: "no role in the env", env: "a:" + secret,
			want: []string{"RELAY_ADMIN_TOKENS", "entry 1", "name:role:secret"}},
		{name: "same secret twice", env: "a:operator:" + secret + ", b:support:" + secret,
			want: []string{"RELAY_ADMIN_TOKENS", "entry 2", "entry 1"}},
		{name: "a comma in a file's list item", args: []string{"--config", file("admin-tokens:\n  - a:operator:" + secret + "\n  - b:support:" + secret + ",x\n")},
			want: []string{"admin-tokens", "list item 2", "comma"}},
		{name: "bad port in an upstream with a password", args: []string{"--upstream", "smtp://user:" + secret + "@smtp.example.com:nope"},
			want: []string{"--upstream"}},
		{name: "bad fallback upstream with a password", args: []string{"--upstream-fallback", "smtps://user:" + secret + "@smtp.example.com?tls=none"},
			want: []string{"--upstream-fallback", "tls= applies to smtp:// only"}},
		{name: "fallback upstream without a scheme", args: []string{"--upstream-fallback", "backup.example.com"},
			want: []string{"--upstream-fallback", "missing scheme"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("RELAY_ADMIN_TOKENS", tc.env)
			}
			data := filepath.Join(t.TempDir(), "data")
			var stdout, stderr bytes.Buffer
			args := append([]string{"--data", data, "--smtp-listen", busy.Addr().String()}, tc.args...)
			code := execute(args, &stdout, &stderr)
			out := stdout.String() + stderr.String()
			if code != 2 {
				t.Errorf("exit %d, want 2:\n%s", code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output does not mention %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, "SECRET") {
				t.Errorf("output shows a secret:\n%s", out)
			}
			if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a refused start created the data directory: %v", err)
			}
		})
	}
}

// A quote is a character of a secret like any other: pflag's string
// slices read CSV and refused it, quoting every token in the error.
func TestTokenSecretMayHoldAQuote(t *testing.T) {
	c, err := parseConfig(t, nil, map[string]string{"RELAY_ADMIN_TOKENS": `ops:operator:abc"def0123456789,help:support:0123456789abcdef`}, "")
	if err != nil {
		t.Fatal(err)
	}
	if ts := c.AdminTokens.tokens; len(ts) != 2 || ts[0].Secret != `abc"def0123456789` || ts[1].Name != "help" {
		t.Errorf("tokens: %+v", ts)
	}
}

func TestHelpKeepsPasswordsOffTheCommandLine(t *testing.T) {
	var out, errb bytes.Buffer
	if code := execute([]string{"--help"}, &out, &errb); code != 0 {
		t.Fatalf("--help exit %d", code)
	}
	if m := regexp.MustCompile(`--upstream[ =]'?\w+://[^@\s]*:[^@\s]*@`).FindString(out.String()); m != "" {
		t.Errorf("--help shows a password on the command line: %s", m)
	}
}

// The data directory holds every message and the credentials' hashes.
func TestExistingDataDirIsMadePrivate(t *testing.T) {
	data := t.TempDir()
	if err := os.Chmod(data, 0o755); err != nil {
		t.Fatal(err)
	}
	d := startRelayd(t, data, "--admin-listen", "unix:"+shortSock(t))
	if fi, err := os.Stat(data); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("data directory mode %v, %v; want 0700", fi.Mode().Perm(), err)
	}
	if !regexp.MustCompile(`data directory mode changed to 0700.*was=0755`).MatchString(d.stderr.String()) {
		t.Errorf("the change is not logged:\n%s", d.stderr)
	}
}

// A --data that names a shared directory (/srv, $HOME) with a looser mode
// is not made 0700 under its other users: the start is refused, naming
// the directory and its mode, and leaves it as it was.
func TestSharedDataDirIsRefusedNotChanged(t *testing.T) {
	data := t.TempDir()
	if err := os.WriteFile(filepath.Join(data, "notes.txt"), []byte("someone else's"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(data, 0o755); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runToExit(t, "--data", data, "--smtp-listen", freePort(t), "--admin-listen", "unix:"+shortSock(t))
	if code != 2 {
		t.Errorf("exit %d, want 2\nstderr:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, data) || !strings.Contains(stderr, "0755") {
		t.Errorf("the refusal does not name the directory and its mode:\n%s", stderr)
	}
	if fi, err := os.Stat(data); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("shared directory mode %v, %v; want 0755 as it was", fi.Mode().Perm(), err)
	}
	if _, err := os.Stat(filepath.Join(data, "spool.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused start created the spool: %v", err)
	}
	if stdout != "" {
		t.Errorf("a refused start printed on stdout:\n%s", stdout)
	}
}

// A data directory of relayd's, its spool in it, is still made private.
func TestExistingSpoolDirIsMadePrivate(t *testing.T) {
	data := t.TempDir()
	d := startRelayd(t, data, "--admin-listen", "unix:"+shortSock(t))
	d.cmd.Process.Signal(syscall.SIGTERM)
	if err := d.waitExit(t); err != nil {
		t.Fatalf("exit: %v\nstderr:\n%s", err, d.stderr)
	}
	if err := os.Chmod(data, 0o750); err != nil {
		t.Fatal(err)
	}
	startRelayd(t, data, "--admin-listen", "unix:"+shortSock(t))
	if fi, err := os.Stat(data); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("data directory mode %v, %v; want 0700", fi.Mode().Perm(), err)
	}
}
