package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/holdrelay/relay/internal/smtptest"
	"github.com/holdrelay/relay/spool"
)

// TestSurvivesKill9 holds guarantee 1: every message that got a 250 is
// delivered after relayd is killed with SIGKILL and started again.
func TestSurvivesKill9(t *testing.T) {
	up := &smtptest.Server{OnData: func(smtptest.Message) error {
		time.Sleep(2 * time.Millisecond) // a slow upstream keeps deliveries in flight at the kill
		return nil
	}}
	upAddr := up.Start(t)
	data := t.TempDir()
	args := []string{"--hold", "0s", "--upstream", "smtp://" + upAddr + "?tls=none", "--admin-listen", "unix:" + shortSock(t)}
	d := startRelayd(t, data, args...)
	if d.password == "" {
		t.Fatalf("first start printed no password:\n%s", d.stdout)
	}
	password := d.password

	// Ten clients submit until the kill; each remembers what got a 250.
	var mu sync.Mutex
	accepted := map[string]bool{}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for c := 0; c < 10; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				subject := fmt.Sprintf("msg-%d-%d", c, i)
				if _, err := submit(d.smtp, password, subject); err != nil {
					return // relayd is gone
				}
				mu.Lock()
				accepted[subject] = true
				mu.Unlock()
			}
		}(c)
	}
	for {
		mu.Lock()
		n := len(accepted)
		mu.Unlock()
		if n >= 150 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	d.cmd.Process.Signal(syscall.SIGKILL)
	d.waitExit(t)
	close(stop)
	wg.Wait()

	delivered := len(up.Messages())
	t.Logf("%d accepted, %d delivered before the kill", len(accepted), delivered)

	d2 := startRelayd(t, data, args...)
	if d2.password != "" {
		t.Error("second start printed a password again")
	}
	waitDelivered(t, up, accepted, 60*time.Second, d2.stderr)

	// Stop cleanly, then check the spool file's invariants offline.
	sp := stopAndCheck(t, d2, data, "after kill and restart")
	counts, _ := sp.Counts()
	if counts[spool.Delivered] < len(accepted) {
		t.Errorf("spool says %d delivered, %d were accepted", counts[spool.Delivered], len(accepted))
	}
}

// waitDelivered waits until the upstream has every accepted subject.
func waitDelivered(t *testing.T, up *smtptest.Server, accepted map[string]bool, limit time.Duration, stderr fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		got := deliveredSubjects(up)
		missing := 0
		for s := range accepted {
			if !got[s] {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d accepted messages never delivered\nstderr:\n%s", missing, len(accepted), stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stopAndCheck stops relayd with SIGTERM, expects a clean exit, then opens
// its spool offline and checks the invariants. The caller closes it.
func stopAndCheck(t *testing.T, d *proc, data, when string) *spool.Spool {
	t.Helper()
	d.cmd.Process.Signal(syscall.SIGTERM)
	if err := d.waitExit(t); err != nil {
		t.Fatalf("relayd exit after SIGTERM: %v\nstderr:\n%s", err, d.stderr)
	}
	sp, err := spool.Open(filepath.Join(data, "spool.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	if err := sp.Check(); err != nil {
		t.Fatalf("spool invariants %s: %v", when, err)
	}
	return sp
}

// shortSock returns a unix socket path short enough for sun_path.
func shortSock(t *testing.T) string {
	dir, err := os.MkdirTemp("", "rl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "admin.sock")
}

func TestSIGTERMFinishesAndExitsZero(t *testing.T) {
	data := t.TempDir()
	d := startRelayd(t, data, "--hold", "1h", "--admin-listen", "unix:"+shortSock(t))
	if _, err := submit(d.smtp, d.password, "before shutdown"); err != nil {
		t.Fatal(err)
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	if err := d.waitExit(t); err != nil {
		t.Fatalf("exit after SIGTERM: %v\nstderr:\n%s", err, d.stderr)
	}
	if !strings.Contains(d.stderr.String(), "relayd stopped") {
		t.Errorf("no clean stop in the log:\n%s", d.stderr)
	}
	sp, err := spool.Open(filepath.Join(data, "spool.db"))
	if err != nil {
		t.Fatalf("spool not released after shutdown: %v", err)
	}
	defer sp.Close()
	if n, _ := sp.Counts(); n[spool.Waiting] != 1 {
		t.Errorf("counts after restart: %v, want the waiting message", n)
	}
}
