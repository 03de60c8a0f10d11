package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/holdrelay/relay/internal/testenv"
)

const unitFile = "../../dist/relayd.service"

// TestSystemdUnit checks dist/relayd.service as systemd reads it, with
// ExecStart pointing at the relayd just built (systemd-analyze wants an
// executable there), and that it keeps the settings the docs promise.
func TestSystemdUnit(t *testing.T) {
	analyze := testenv.Tool(t, "systemd-analyze", "apt-get install systemd")
	unit, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Type=notify", "WatchdogSec=30s", "DynamicUser=yes", "User=relay", "StateDirectory=relay", "UMask=0077",
		"ExecStart=/usr/local/bin/relayd --config /etc/relay/relayd.yaml --data /var/lib/relay",
		"ExecReload=/bin/kill -HUP $MAINPID",
		"ProtectSystem=strict", "NoNewPrivileges=yes", "MemoryDenyWriteExecute=yes",
		"SystemCallFilter=@system-service", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
		"AmbientCapabilities=CAP_NET_BIND_SERVICE", "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
	} {
		if !strings.Contains(string(unit), "\n"+want+"\n") {
			t.Errorf("%s lacks the line %q", unitFile, want)
		}
	}
	path := filepath.Join(t.TempDir(), "relayd.service")
	local := strings.ReplaceAll(string(unit), "/usr/local/bin/relayd", relaydBin)
	if err := os.WriteFile(path, []byte(local), 0o644); err != nil {
		t.Fatal(err)
	}
	// verify exits 0 on an unknown or misspelt key, so its output counts too.
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify %s: %v\n%s", unitFile, err, out)
	}
}
