package spool_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/holdrelay/relay/internal/spooltest"
	"github.com/holdrelay/relay/spool"
)

// A backup taken while the spool is open is a spool that opens, with the
// messages it had and with its invariants kept.
func TestBackup(t *testing.T) {
	spooltest.BoltOnly(t) // the copy is bbolt's file
	dir := t.TempDir()
	sp, err := spool.Open(filepath.Join(dir, "spool.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	m, err := sp.Accept(spool.Incoming{Credential: "app", From: "a@example.com", To: []string{"b@example.net"}}, []byte("Subject: x\r\n\r\nbody\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	var size int64 = -1
	n, err := sp.Backup(&buf, func(s int64) { size = s })
	if err != nil || n != int64(buf.Len()) || size != n {
		t.Fatalf("Backup = %d, %v; announced %d, wrote %d", n, err, size, buf.Len())
	}
	copyPath := filepath.Join(dir, "copy.db")
	if err := os.WriteFile(copyPath, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	cp, err := spool.Open(copyPath)
	if err != nil {
		t.Fatalf("the backup does not open: %v", err)
	}
	defer cp.Close()
	if err := cp.Check(); err != nil {
		t.Errorf("the backup's invariants: %v", err)
	}
	got, err := cp.Get(m.ID)
	if err != nil || got.From != m.From {
		t.Errorf("message %s in the backup: %+v, %v", m.ID, got, err)
	}
}
