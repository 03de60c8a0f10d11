package main

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/holdrelay/relay/internal/clock"
	"github.com/holdrelay/relay/spool"
)

func TestReadinessProbesTheSpool(t *testing.T) {
	sp, err := spool.Open(filepath.Join(t.TempDir(), "spool.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	clk := clock.NewFake(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	r := newReadiness(sp, clk, slog.New(slog.DiscardHandler))
	if err := r.ready(); !errors.Is(err, errStarting) {
		t.Fatalf("ready() before serving = %v, want %v", err, errStarting)
	}
	r.serving.Store(true)
	if err := r.ready(); err != nil {
		t.Fatalf("ready() = %v, want nil", err)
	}

	var commits atomic.Int32
	sp.InjectCommitFault(func() error {
		commits.Add(1)
		return errors.New("injected write error")
	})
	// The last probe's result stands for probeEvery: no write per request.
	for range 3 {
		if err := r.ready(); err != nil {
			t.Fatalf("ready() within probeEvery of a good probe = %v, want nil", err)
		}
	}
	if n := commits.Load(); n != 0 {
		t.Fatalf("%d commits within probeEvery of the last probe, want 0", n)
	}
	clk.Advance(probeEvery)
	for range 3 {
		if err := r.ready(); !errors.Is(err, errNotWritable) {
			t.Fatalf("ready() with the spool failing its writes = %v, want %v", err, errNotWritable)
		}
	}
	if n := commits.Load(); n != 1 {
		t.Errorf("%d commits for three requests, want 1 probe", n)
	}

	sp.InjectCommitFault(nil)
	clk.Advance(probeEvery)
	if err := r.ready(); err != nil {
		t.Errorf("ready() once the spool takes writes again = %v, want nil", err)
	}
}

// notifySocket listens as systemd does for a service's notifications.
func notifySocket(t *testing.T) (path string, c *net.UnixConn) {
	t.Helper()
	path = filepath.Join(filepath.Dir(shortSock(t)), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return path, c
}

// waitNotify reads notifications until one is want, and returns those
// read before it.
func waitNotify(t *testing.T, c *net.UnixConn, want string) []string {
	t.Helper()
	var before []string
	buf := make([]byte, 4096)
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("waiting for %s (after %d other messages, the last %q): %v", want, len(before), before[max(0, len(before)-3):], err)
		}
		if msg := string(buf[:n]); msg == want {
			return before
		}
		before = append(before, string(buf[:n]))
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestSystemdNotifyAndDraining runs relayd as systemd would run a
// Type=notify unit with WatchdogSec, and probes it while it drains.
func TestSystemdNotifyAndDraining(t *testing.T) {
	path, notify := notifySocket(t)
	metrics, admin := freePort(t), freePort(t)
	env := []string{"NOTIFY_SOCKET=" + path, "WATCHDOG_USEC=100000", // a ping every 50ms
		"RELAY_ADMIN_TOKENS=ops:operator:0123456789abcdef0123"}
	d := startRelaydEnv(t, env, t.TempDir(), "--hold", "1h", "--admin-listen", admin, "--metrics-listen", metrics,
		"--shutdown-timeout", "30s")
	if before := waitNotify(t, notify, "READY=1"); len(before) > 0 {
		t.Errorf("notified %q before READY=1", before)
	}
	waitNotify(t, notify, "WATCHDOG=1")
	waitNotify(t, notify, "WATCHDOG=1")
	for _, base := range []string{"http://" + metrics, "http://" + admin} {
		if status, body := httpGet(t, base+"/readyz"); status != 200 || body != "ready\n" {
			t.Errorf("GET %s/readyz = %d %q, want 200 ready", base, status, body)
		}
	}

	// An open session keeps the drain going until it leaves.
	c, err := login(d.smtp, d.password)
	if err != nil {
		t.Fatal(err)
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	waitNotify(t, notify, "STOPPING=1")
	for _, base := range []string{"http://" + metrics, "http://" + admin} {
		if status, body := httpGet(t, base+"/readyz"); status != 503 || body != "not ready: draining\n" {
			t.Errorf("GET %s/readyz while draining = %d %q, want 503 draining", base, status, body)
		}
		if status, _ := httpGet(t, base+"/livez"); status != 200 {
			t.Errorf("GET %s/livez while draining = %d, want 200", base, status)
		}
	}
	waitNotify(t, notify, "WATCHDOG=1") // systemd still watches a stopping service
	c.Quit()
	if err := d.waitExit(t); err != nil {
		t.Fatalf("exit after SIGTERM: %v\nstderr:\n%s", err, d.stderr)
	}
	if strings.Contains(d.stderr.String(), "systemd") {
		t.Errorf("relayd logged about systemd:\n%s", d.stderr)
	}
}
