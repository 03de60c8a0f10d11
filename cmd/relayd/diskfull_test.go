package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/holdrelay/relay/internal/diskfull"
	"github.com/holdrelay/relay/internal/smtptest"
)

// TestDaemonSurvivesDiskFull runs the real relayd with its data directory
// on a small tmpfs, fills it, and checks from the outside: 451 4.3.0 to
// every message that does not fit (never a 5xx), the process stays up,
// it accepts again when space is freed, every 250 is delivered, and the
// spool passes its invariant check after a clean stop.
// RELAY_DISKFULL_ROUNDS (make reliability) fills and frees it more often.
func TestDaemonSurvivesDiskFull(t *testing.T) {
	rounds := envInt(t, "RELAY_DISKFULL_ROUNDS", 2)
	mnt := diskfull.Mount(t, diskfull.Tmpfs, 16<<20)
	data := filepath.Join(mnt, "data")
	up := &smtptest.Server{}
	upAddr := up.Start(t)
	// The brake off: make reliability's rounds send more than its 600
	// a minute, and a braked credential's mail is held, not delivered.
	d := startRelayd(t, data, "--hold", "0s", "--upstream", "smtp://"+upAddr+"?tls=none", "--admin-listen", "unix:"+shortSock(t),
		"--brake-rate", "0", "--brake-duplicates", "0")
	accepted := map[string]bool{}
	big := strings.Repeat(strings.Repeat("x", 76)+"\r\n", 2000) // 156 KB
	n := 0
	for round := range rounds {
		free := diskfull.Fill(t, mnt)
		refused := 0
		for _, body := range []string{big, big[:len(big)/8], ""} {
			for refused < 3 {
				n++
				subject := fmt.Sprintf("r%d-%d", round, n)
				_, err := submitBody(d.smtp, d.password, subject, body)
				if err == nil {
					accepted[subject] = true
					continue
				}
				var se *smtp.SMTPError
				if !errors.As(err, &se) || se.Code != 451 || se.EnhancedCode != (smtp.EnhancedCode{4, 3, 0}) {
					t.Fatalf("round %d: message on a full disk: %v, want 451 4.3.0\nstderr:\n%s", round, err, d.stderr)
				}
				refused++
				break
			}
		}
		if refused == 0 {
			t.Fatalf("round %d: the disk never looked full", round)
		}
		select {
		case <-d.exited:
			t.Fatalf("relayd exited on a full disk: %v\nstderr:\n%s", d.exitErr, d.stderr)
		default:
		}
		free()
		syscall.Sync()
		n++
		subject := fmt.Sprintf("r%d-after", round)
		if _, err := submitBody(d.smtp, d.password, subject, big); err != nil {
			t.Fatalf("round %d: after space came back: %v\nstderr:\n%s", round, err, d.stderr)
		}
		accepted[subject] = true
	}
	waitDelivered(t, up, accepted, 30*time.Second, d.stderr)
	if !strings.Contains(d.stderr.String(), "no space left on device") {
		t.Errorf("the log does not say the disk was full:\n%s", d.stderr)
	}
	stopAndCheck(t, d, data, "after the disk filled")
	t.Logf("%d rounds: %d accepted and delivered", rounds, len(accepted))
}

func submitBody(addr, password, subject, body string) (string, error) {
	c, err := login(addr, password)
	if err != nil {
		return "", err
	}
	defer c.Close()
	reply, err := sendBody(c, subject, body)
	if err == nil {
		c.Quit()
	}
	return reply, err
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q", name, v)
	}
	return n
}
