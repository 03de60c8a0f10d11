package main

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestVersionFlag(t *testing.T) {
	var out, errb bytes.Buffer
	code := execute([]string{"--version"}, &out, &errb)
	want := "relayd dev (" + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + ")\n"
	if code != 0 || out.String() != want || errb.Len() != 0 {
		t.Errorf("--version: exit %d, stdout %q, stderr %q; want exit 0 and %q", code, out.String(), errb.String(), want)
	}
}

// RELAY_VERSION is a name deployments use for their own purposes: it, and
// a config file key "version", must not reach the flag that exits.
func TestVersionIsNoSetting(t *testing.T) {
	t.Setenv("RELAY_VERSION", "v1.2.3")
	t.Setenv("RELAY_GENERATE_MAN", t.TempDir())
	var out, errb bytes.Buffer
	// An invalid hold fails after the settings are merged, before relayd starts.
	if code := execute([]string{"--hold", "-1s"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "negative") {
		t.Errorf("exit %d, stderr %q; want the hold refused, the environment ignored", code, errb.String())
	}

	path := filepath.Join(t.TempDir(), "relayd.yaml")
	if err := os.WriteFile(path, []byte("version: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	errb.Reset()
	if code := execute([]string{"--config", path, "--hold", "-1s"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "unknown keys: version") {
		t.Errorf("exit %d, stderr %q; want the key version refused", code, errb.String())
	}
	if out.Len() != 0 {
		t.Errorf("stdout %q", out.String())
	}
}

func TestGenerateMan(t *testing.T) {
	t.Chdir(t.TempDir())
	var out, errb bytes.Buffer
	if code := execute([]string{"--generate-man", "man"}, &out, &errb); code != 0 {
		t.Fatalf("--generate-man: exit %d, stderr %q", code, errb.String())
	}
	b, err := os.ReadFile(filepath.Join("man", "relayd.8"))
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	for _, want := range []string{`.TH "RELAYD" "8"`, "\n.SH NAME\n", `\fB--hold\fP`, `\fB--version\fP`, "unix:<data>/admin.sock"} {
		if !strings.Contains(page, want) {
			t.Errorf("relayd.8 lacks %q:\n%.400s", want, page)
		}
	}
	if strings.Contains(page, "generate-man") {
		t.Error("relayd.8 documents the hidden --generate-man")
	}
	// Writing the page must not start relayd: no data directory appears.
	if entries, _ := os.ReadDir("."); len(entries) != 1 {
		t.Errorf("the working directory holds %v, want only man", entries)
	}
}
