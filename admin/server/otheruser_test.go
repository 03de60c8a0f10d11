package server_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/holdrelay/relay/admin/server/servertest"
)

// probeEnv makes this test binary, run as another user, a client of the
// admin socket named by its value (see TestAdminProbeHelper).
const probeEnv = "RELAY_ADMIN_PROBE_SOCKET"

// TestAdminProbeHelper is not a test: it is what the test binary does when
// TestAdminSocketRefusesOtherUsers runs it as another user. It asks for
// /v1/status on the socket and prints what happened.
func TestAdminProbeHelper(t *testing.T) {
	path := os.Getenv(probeEnv)
	if path == "" {
		t.Skip("helper process only")
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		},
	}}
	resp, err := hc.Get("http://relayd/v1/status")
	if err != nil {
		fmt.Printf("PROBE error: %v\n", err)
		os.Exit(0)
	}
	body, _ := io.ReadAll(resp.Body)
	fmt.Printf("PROBE status %d %s\n", resp.StatusCode, strings.Join(strings.Fields(string(body)), " "))
	os.Exit(0)
}

// TestAdminSocketRefusesOtherUsers runs a client as uid 65534 (nobody)
// against relayd's admin socket: the socket's mode keeps it out, and if
// the mode were loosened by mistake, the server still refuses it (403)
// by its peer credentials. Needs root, to run a process as another user.
func TestAdminSocketRefusesOtherUsers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("running a client as another user needs root")
	}
	r := servertest.Start(t, servertest.Options{})
	sock := strings.TrimPrefix(r.Socket, "unix:")

	// The test binary, where nobody can run it.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.MkdirTemp("", "probe")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(bin)
	exe := filepath.Join(bin, "probe.test")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	probe := func(uid uint32) string {
		t.Helper()
		cmd := exec.Command(exe, "-test.run", "^TestAdminProbeHelper$")
		cmd.Env = append(os.Environ(), probeEnv+"="+sock)
		cmd.Dir = bin
		if uid != 0 {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("probe as uid %d: %v\n%s", uid, err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if s, ok := strings.CutPrefix(line, "PROBE "); ok {
				return s
			}
		}
		t.Fatalf("probe as uid %d said nothing:\n%s", uid, out)
		return ""
	}

	if got := probe(0); !strings.HasPrefix(got, "status 200") {
		t.Fatalf("root, relayd's own user here: %s, want status 200", got)
	}
	if got := probe(65534); !strings.Contains(got, "permission denied") {
		t.Errorf("uid 65534 with the socket as relayd makes it: %s, want permission denied", got)
	}
	// Loosen the modes, as a careless chmod might: the server itself must
	// still refuse the stranger.
	for _, p := range []string{filepath.Dir(sock), sock} {
		if err := os.Chmod(p, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	if got := probe(65534); !strings.HasPrefix(got, "status 403") || !strings.Contains(got, "uid 65534 may not use") {
		t.Errorf("uid 65534 through a world-writable socket: %s, want status 403", got)
	}
	if !strings.Contains(r.Log.String(), "uid:65534") {
		t.Errorf("the refusal is not in the log:\n%s", r.Log.String())
	}
}
