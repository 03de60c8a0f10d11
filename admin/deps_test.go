package admin_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestStandardLibraryOnly keeps package admin free of other modules, so
// that everything importing it (relayctl) stays small and never links
// the spool or the SMTP server.
func TestStandardLibraryOnly(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	nonStd := strings.Fields(string(out))
	if len(nonStd) != 1 || nonStd[0] != "github.com/holdrelay/relay/admin" {
		t.Errorf("admin depends on %v; want the standard library only", nonStd)
	}
}
