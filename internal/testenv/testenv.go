// Package testenv decides what a test does when something it needs from
// the machine is missing: outside CI it skips, saying what to install; in
// CI, where .ci/run installs every tool the tests use, it fails, so that a
// missing install step cannot pass as a green run.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run under CI (CI=true, as .ci/run runs).
func InCI() bool {
	v := os.Getenv("CI")
	return v != "" && v != "false" && v != "0"
}

// Missing skips the test outside CI and fails it in CI.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("CI: "+format, args...)
	}
	t.Skipf(format, args...)
}

// Tool returns the path of a program the test needs, or ends the test as
// Missing does; install says how to get it.
func Tool(t testing.TB, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, "%s is not installed (%s); .ci/run installs it", name, install)
	}
	return p
}
