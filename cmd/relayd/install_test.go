package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/holdrelay/relay/internal/testenv"
)

// TestMakeInstall runs make install into a staging directory, as a
// package build does, and finds the binaries and the man pages of both.
func TestMakeInstall(t *testing.T) {
	t.Parallel()
	mk := testenv.Tool(t, "make", "apt-get install make")
	dest := t.TempDir()
	cmd := exec.Command(mk, "install", "DESTDIR="+dest, "PREFIX=/usr", "VERSION=v0.0.0-install")
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	for _, f := range []string{"usr/bin/relayd", "usr/bin/relayctl", "usr/share/man/man8/relayd.8",
		"usr/share/man/man1/relayctl.1", "usr/share/man/man1/relayctl-health.1", "usr/share/man/man1/relayctl-completion.1"} {
		fi, err := os.Stat(filepath.Join(dest, f))
		if err != nil {
			t.Error(err)
			continue
		}
		if want := os.FileMode(0o644); filepath.Base(filepath.Dir(f)) != "bin" && fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", f, fi.Mode().Perm(), want)
		}
	}
	if out, err := exec.Command(filepath.Join(dest, "usr/bin/relayd"), "--version").Output(); err != nil || !strings.HasPrefix(string(out), "relayd v0.0.0-install ") {
		t.Errorf("installed relayd --version: %q, %v", out, err)
	}
}
