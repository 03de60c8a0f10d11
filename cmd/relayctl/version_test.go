package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/holdrelay/relay/admin/server/servertest"
)

func TestVersionAsksRelayd(t *testing.T) {
	r := servertest.Start(t, servertest.Options{})
	out := mustRun(t, "--admin", r.Socket, "version")
	want := "relayctl:  dev (" + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + ")\n" +
		"relayd:    test\n"
	if out != want {
		t.Errorf("version printed:\n%s\nwant:\n%s", out, want)
	}
}

func TestVersionJSON(t *testing.T) {
	r := servertest.Start(t, servertest.Options{})
	out := mustRun(t, "--admin", r.Socket, "version", "-o", "json")
	var v versions
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("%v in:\n%s", err, out)
	}
	if v != (versions{Relayctl: "dev", Go: runtime.Version(), Relayd: "test"}) {
		t.Errorf("version = %+v", v)
	}
}

// relayctl's own version is worth knowing precisely when relayd is down.
func TestVersionWithoutRelayd(t *testing.T) {
	gone := "unix:" + filepath.Join(t.TempDir(), "admin.sock")
	out := mustRun(t, "--admin", gone, "version")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "relayctl:  dev (go") ||
		!strings.HasPrefix(lines[1], "relayd:    not reachable: ") || !strings.Contains(lines[1], "admin.sock") {
		t.Errorf("version printed:\n%s", out)
	}
	out = mustRun(t, "--admin", gone, "version", "-o", "json")
	var v versions
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Relayd != "" || v.RelaydError == "" || v.Relayctl != "dev" {
		t.Errorf("version -o json = %+v (%v) from:\n%s", v, err, out)
	}
}

func TestCompletion(t *testing.T) {
	gone := "unix:" + filepath.Join(t.TempDir(), "admin.sock")
	for shell, head := range map[string]string{
		"bash": "# bash completion V2 for relayctl",
		"zsh":  "#compdef relayctl",
		"fish": "# fish completion for relayctl",
	} {
		if out := mustRun(t, "--admin", gone, "completion", shell); !strings.HasPrefix(out, head) {
			t.Errorf("completion %s begins %.60q, want %q", shell, out, head)
		}
	}
	help := mustRun(t, "completion", "--help")
	for _, want := range []string{"source <(relayctl completion bash)", "_relayctl", "completions/relayctl.fish"} {
		if !strings.Contains(help, want) {
			t.Errorf("completion --help lacks %q:\n%s", want, help)
		}
	}
}

func TestCompletionUsage(t *testing.T) {
	for _, args := range [][]string{{"completion"}, {"completion", "tcsh"}, {"completion", "bash", "zsh"}} {
		out, errOut, code := relayctl(t, args...)
		if code != exitUsage || out != "" || !strings.Contains(errOut, "relayctl completion --help") {
			t.Errorf("relayctl %v: exit %d, stdout %q, stderr %q; want exit 2 and a hint", args, code, out, errOut)
		}
	}
}

// The shells' scripts call back into relayctl for the words to offer.
func TestCompletionOffersCommands(t *testing.T) {
	for args, want := range map[string]string{"cre": "credential\t", "completion ": "bash\nzsh\nfish\n"} {
		out, _, code := relayctl(t, append([]string{"__complete"}, strings.Split(args, " ")...)...)
		if code != exitOK || !strings.HasPrefix(out, want) {
			t.Errorf("__complete %s: exit %d, offered:\n%s", args, code, out)
		}
	}
}

func TestManPages(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, "__man", dir)
	for _, page := range []string{"relayctl.1", "relayctl-status.1", "relayctl-credential-add.1", "relayctl-version.1", "relayctl-completion.1"} {
		b, err := os.ReadFile(filepath.Join(dir, page))
		if err != nil {
			t.Error(err)
			continue
		}
		if !strings.Contains(string(b), "\n.SH NAME\n") || !strings.Contains(string(b), `.TH "`) {
			t.Errorf("%s has no NAME section:\n%.300s", page, b)
		}
	}
	for _, page := range []string{"relayctl-help.1", "relayctl-__man.1"} {
		if _, err := os.Stat(filepath.Join(dir, page)); err == nil {
			t.Errorf("%s was written: help and hidden commands get no page", page)
		}
	}
}
