package sdnotify

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// listen makes a datagram socket as systemd's is, at name (a path or an
// @abstract name), and returns what reads from it.
func listen(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func read(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

func TestNotify(t *testing.T) {
	dir, err := os.MkdirTemp("", "sdn") // t.TempDir() may pass the 108 bytes a socket path may have
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	for _, name := range []string{
		filepath.Join(dir, "notify"),
		fmt.Sprintf("@relay-sdnotify-test-%d", os.Getpid()),
	} {
		t.Run(name, func(t *testing.T) {
			c := listen(t, name)
			n, err := New(name)
			if err != nil || !n.Enabled() {
				t.Fatalf("New(%q) = %v, %v", name, n, err)
			}
			if err := n.Notify(Ready); err != nil {
				t.Fatal(err)
			}
			if got := read(t, c); got != Ready {
				t.Errorf("received %q, want %q", got, Ready)
			}
		})
	}
}

func TestNotifyWithoutSocket(t *testing.T) {
	n, err := New("")
	if err != nil || n.Enabled() {
		t.Fatalf("New(\"\") = %v, %v; want a disabled Notifier", n, err)
	}
	if err := n.Notify(Ready); err != nil {
		t.Errorf("Notify without a socket = %v, want nil", err)
	}
}

func TestNotifyRefusesUnknownAddresses(t *testing.T) {
	for _, s := range []string{"relative/path", "@", "vsock:2:1234"} {
		if _, err := New(s); err == nil {
			t.Errorf("New(%q) = nil error", s)
		}
	}
}

func TestNotifyReportsAMissingSocket(t *testing.T) {
	n, err := New(filepath.Join(t.TempDir(), "nobody-listens"))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(Ready); err == nil {
		t.Error("Notify to a socket nobody listens on = nil")
	}
}

func TestWatchdogInterval(t *testing.T) {
	self := os.Getpid()
	for _, tc := range []struct {
		usec, pid string
		want      time.Duration
		err       bool
	}{
		{"", "", 0, false},
		{"30000000", "", 15 * time.Second, false},
		{"30000000", strconv.Itoa(self), 15 * time.Second, false},
		{"30000000", strconv.Itoa(self + 1), 0, false}, // another process's watchdog
		{"200000", "", 100 * time.Millisecond, false},
		{"0", "", 0, true},
		{"-5", "", 0, true},
		{"soon", "", 0, true},
		{"99999999999999999999", "", 0, true},
	} {
		got, err := WatchdogInterval(tc.usec, tc.pid, self)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("WatchdogInterval(%q, %q) = %v, %v; want %v, error %v", tc.usec, tc.pid, got, err, tc.want, tc.err)
		}
	}
}

func TestKeepAlive(t *testing.T) {
	name := fmt.Sprintf("@relay-sdnotify-keepalive-%d", os.Getpid())
	c := listen(t, name)
	n, err := New(name)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		n.KeepAlive(ctx, time.Millisecond, func(err error) { t.Error(err) })
		close(done)
	}()
	for range 3 {
		if got := read(t, c); got != Watchdog {
			t.Fatalf("received %q, want %q", got, Watchdog)
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("KeepAlive did not return when its context ended")
	}
}

func TestReloadingAndStatus(t *testing.T) {
	if got, want := Reloading(1234567*time.Microsecond), "RELOADING=1\nMONOTONIC_USEC=1234567"; got != want {
		t.Errorf("Reloading = %q, want %q", got, want)
	}
	if got, want := Status("failed:\nbad key"), "STATUS=failed: bad key"; got != want {
		t.Errorf("Status = %q, want %q", got, want)
	}
	a := Monotonic()
	b := Monotonic()
	if a <= 0 || b < a {
		t.Errorf("Monotonic() = %v then %v, want positive and not decreasing", a, b)
	}
}
