package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/admin/server"
	"github.com/holdrelay/relay/admin/server/servertest"
)

func TestHealth(t *testing.T) {
	r := servertest.Start(t, servertest.Options{Tokens: []server.Token{
		{Name: "ops", Secret: "operator-secret-0123456789", Role: server.RoleOperator},
	}})
	for _, addr := range []string{r.Socket, r.TCP} { // no token needed on TCP
		if out := mustRun(t, "--admin", addr, "health"); out != "ready\n" {
			t.Errorf("health on %s printed %q, want ready", addr, out)
		}
	}

	r.Server.Drain()
	out, errOut, code := relayctl(t, "--admin", r.TCP, "health")
	if code != exitFailure || out != "" || !strings.Contains(errOut, "is not ready: draining") {
		t.Errorf("health while draining: exit %d, stdout %q, stderr %q; want 1 and why", code, out, errOut)
	}
	out, _, code = relayctl(t, "--admin", r.Socket, "health", "-o", "json")
	var got admin.Readiness
	if err := json.Unmarshal([]byte(out), &got); err != nil || code != exitFailure || got != (admin.Readiness{Reason: "draining"}) {
		t.Errorf("health -o json while draining: exit %d, %+v (%v) from %q", code, got, err, out)
	}
}

func TestHealthUnreachable(t *testing.T) {
	sock := "unix:" + filepath.Join(t.TempDir(), "admin.sock")
	_, errOut, code := relayctl(t, "--admin", sock, "health")
	if code != exitFailure || !strings.Contains(errOut, "cannot reach relayd") {
		t.Errorf("health with no relayd: exit %d, stderr %q; want 1 and cannot reach", code, errOut)
	}
}

func TestHealthHelp(t *testing.T) {
	out := mustRun(t, "health", "--help")
	for _, want := range []string{"relayctl health", "exits 0", "HEALTHCHECK", "--timeout"} {
		if !strings.Contains(out, want) {
			t.Errorf("health --help lacks %q:\n%s", want, out)
		}
	}
}
