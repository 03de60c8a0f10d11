package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/holdrelay/relay/admin/server"
	"github.com/holdrelay/relay/admin/server/servertest"
	"github.com/holdrelay/relay/internal/spooltest"
	"github.com/holdrelay/relay/spool"
)

// A backup taken through the admin API opens as a spool with the
// message relayd held when it was taken; support staff may not take one.
func TestBackup(t *testing.T) {
	spooltest.BoltOnly(t) // the copy is bbolt's file
	const opSecret, supportSecret = "operator-secret-0123456789", "support-secret-0123456789"
	r := servertest.Start(t, servertest.Options{Tokens: []server.Token{
		{Name: "ops", Secret: opSecret, Role: server.RoleOperator},
		{Name: "help", Secret: supportSecret, Role: server.RoleSupport},
	}})
	m := r.Accept(t, "shop")
	dir := t.TempDir()
	path := filepath.Join(dir, "spool-copy.db")
	var err error

	out := mustRun(t, "--admin", r.TCP, "--token", opSecret, "backup", path, "-o", "json")
	var res backupResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Path != path || res.Bytes <= 0 {
		t.Fatalf("backup -o json: %q (%v)", out, err)
	}
	// A copy of every secret leaves an audit entry that says how much went
	// out; the handler completes it just after the last byte, so wait.
	want := fmt.Sprintf("%d bytes", res.Bytes)
	var audit []spool.AuditEntry
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if audit, err = r.Spool.Audit(0, 1); err == nil && len(audit) == 1 && audit[0].Detail == want {
			break
		}
	}
	if len(audit) != 1 || audit[0].Action != "backup" || audit[0].Detail != want || !strings.Contains(audit[0].Actor, "ops") {
		t.Errorf("newest audit entry after a backup: %+v, %v; want action backup by ops, detail %s", audit, err, want)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Size() != res.Bytes || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the backup file: %v, %v; want %d bytes, mode 0600", fi, err, res.Bytes)
	}
	sp, err := spool.Open(path)
	if err != nil {
		t.Fatalf("the backup does not open as a spool: %v", err)
	}
	got, err := sp.Get(m.ID)
	sp.Close()
	if err != nil || got.Credential != "shop" {
		t.Errorf("message %s in the backup: %+v, %v", m.ID, got, err)
	}

	// Standard output gets the same kind of copy.
	if raw := mustRun(t, "--admin", r.Socket, "backup", "-"); int64(len(raw)) != res.Bytes {
		t.Errorf("backup - wrote %d bytes, want %d", len(raw), res.Bytes)
	}

	other := filepath.Join(dir, "by-support.db")
	_, errOut, code := relayctl(t, "--admin", r.TCP, "--token", supportSecret, "backup", other)
	if code != exitFailure || !strings.Contains(errOut, "operator") {
		t.Errorf("backup by support: exit %d, stderr %q; want 1 and the operator role named", code, errOut)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("files left in %s after a refused backup: %v", dir, entries)
	}
	if _, _, code := relayctl(t, "backup"); code != exitUsage {
		t.Errorf("backup without FILE: exit %d, want %d", code, exitUsage)
	}
}
