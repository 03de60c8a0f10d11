package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps relayctl a thin client: it reaches the spool only through
// relayd's admin API, so it must never link bbolt (which locks the spool
// file to one process), the SMTP server, or the packages built on them.
// Like tailscale's cmd/tailscaled/deps_test.go.
func TestDeps(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := make(map[string]bool)
	for _, p := range strings.Fields(string(out)) {
		deps[p] = true
	}
	// Guard against a vacuous pass: the list must hold what relayctl uses.
	for _, p := range []string{"github.com/holdrelay/relay/admin", "github.com/spf13/cobra"} {
		if !deps[p] {
			t.Fatalf("go list -deps lacks %s; output:\n%s", p, out)
		}
	}
	forbidden := []string{
		"go.etcd.io/bbolt",
		"github.com/emersion/go-smtp",
		"github.com/holdrelay/relay/spool",
		"github.com/holdrelay/relay/auth",
		"github.com/holdrelay/relay/relay",
		"github.com/holdrelay/relay/admin/server",
	}
	for p := range deps {
		for _, f := range forbidden {
			if p == f || strings.HasPrefix(p, f+"/") {
				t.Errorf("relayctl depends on %s", p)
			}
		}
	}
}
