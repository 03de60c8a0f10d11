package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/jackc/pgx/v5"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/internal/pgtest"
	"github.com/holdrelay/relay/internal/smtptest"
)

// A database that cannot be reached at start is an error of the
// configuration: relayd says which database, without its password, and
// exits 1 instead of waiting for it.
func TestSpoolUnreachableAtStartExits1(t *testing.T) {
	const url = "postgres://relay:secret@127.0.0.1:1/x"
	began := time.Now()
	code, _, stderr := runToExit(t, "--data", t.TempDir(), "--smtp-listen", freePort(t),
		"--admin-listen", "unix:"+shortSock(t), "--spool", url)
	if took := time.Since(began); took > 15*time.Second {
		t.Errorf("relayd took %v to give up on an unreachable database", took)
	}
	if code != 1 {
		t.Errorf("exit %d, want 1\nstderr:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "127.0.0.1:1/x") {
		t.Errorf("stderr does not name the database:\n%s", stderr)
	}
	if strings.Contains(stderr, "secret") {
		t.Errorf("stderr shows the database's password:\n%s", stderr)
	}
}

// A schema written by a newer relayd is one this relayd could damage: it
// refuses to start and says to upgrade.
func TestSpoolSchemaFromNewerRelaydRefused(t *testing.T) {
	url := pgtest.Database(t)
	data, sock := t.TempDir(), "unix:"+shortSock(t)
	args := []string{"--spool", url, "--node-name", "n", "--admin-listen", sock}
	d := startRelayd(t, data, args...)
	d.cmd.Process.Signal(syscall.SIGTERM)
	if err := d.waitExit(t); err != nil {
		t.Fatalf("relayd after SIGTERM: %v\nstderr:\n%s", err, d.stderr)
	}
	sqlExec(t, url, "UPDATE schema_version SET version = 999")

	code, _, stderr := runToExit(t, append([]string{"--data", data, "--smtp-listen", freePort(t)}, args...)...)
	if code != 1 || !strings.Contains(stderr, "upgrade") {
		t.Errorf("start on a newer schema: exit %d, want 1 and a word to upgrade\nstderr:\n%s", code, stderr)
	}
}

// Two running nodes cannot share a name: each node's attempts are known
// by it, so the second would take the first's for its own.
func TestSpoolNodeNameInUseRefused(t *testing.T) {
	url := pgtest.Database(t)
	up := &smtptest.Server{}
	up.Start(t)
	startNode(t, url, "twin", up.Addr())

	code, _, stderr := runToExit(t, "--data", t.TempDir(), "--smtp-listen", freePort(t),
		"--admin-listen", "unix:"+shortSock(t), "--spool", url, "--node-name", "twin")
	if code != 1 || !strings.Contains(stderr, "in use") {
		t.Errorf("a second node named twin: exit %d, want 1 and the name said to be in use\nstderr:\n%s", code, stderr)
	}
}

// The database stopped under a running relayd: mail is answered 451
// 4.3.0 (clients keep it and retry), never 5xx nor a 250 relayd cannot
// keep; an attempt whose upstream answers meanwhile is recorded once the
// database is back; mail is taken again, and everything that got a 250
// is delivered.
func TestSpoolDatabaseLostWhileRunning(t *testing.T) {
	srv := pgtest.Own(t)
	url := srv.Database(t)
	up := &smtptest.Server{}
	gate := up.StallEndOfData()
	up.Start(t)
	d := startNode(t, url, "solo", up.Addr())
	accepted := map[string]bool{}
	accept := func(subject string) error {
		_, err := submit(d.smtp, d.password, subject)
		if err == nil {
			accepted[subject] = true
		}
		return err
	}
	inFlight := mustSubmit(t, d.smtp, "default", d.password, "in flight")
	accepted["in flight"] = true
	waitClosed(t, gate.Reached(), "the upstream to hold its reply to the dot")

	if err := srv.Halt(); err != nil {
		t.Fatal(err)
	}
	if err := accept("while down"); !is451(err) {
		t.Fatalf("submit with the database stopped: %v; want 451 4.3.0", err)
	}
	gate.Release() // the upstream takes "in flight": relayd cannot record it yet

	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	n := 0
	poll(t, 30*time.Second, func() string {
		n++
		err := accept(fmt.Sprintf("after %d", n))
		switch {
		case err == nil:
			return ""
		case !is451(err):
			t.Fatalf("submit after the database came back: %v; want 250, or 451 4.3.0 until it is", err)
		}
		return fmt.Sprintf("still refused once the database is back: %v", err)
	})
	waitDelivered(t, up, accepted, 30*time.Second, d.stderr)
	c, err := admin.NewClient(d.admin, "")
	if err != nil {
		t.Fatal(err)
	}
	poll(t, 40*time.Second, func() string {
		m, err := c.Message(context.Background(), inFlight)
		if err != nil || m.State != "delivered" {
			return fmt.Sprintf("the message the upstream took while the database was down is %s (%v), want delivered", m.State, err)
		}
		return ""
	})
	select {
	case <-d.exited:
		t.Fatalf("relayd exited: %v\nstderr:\n%s", d.exitErr, d.stderr)
	default:
	}
}

func is451(err error) bool {
	var e *smtp.SMTPError
	return errors.As(err, &e) && e.Code == 451 && e.EnhancedCode == smtp.EnhancedCode{4, 3, 0}
}

// sqlExec runs one statement on the database at url.
func sqlExec(t *testing.T, url, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
