package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/auth"
	"github.com/holdrelay/relay/internal/spooltest"
	"github.com/holdrelay/relay/spool"
	"github.com/holdrelay/relay/spool/bolt"
	"github.com/holdrelay/relay/spool/kv"
)

// TestBackupLetsAStalledClientGo: a backup client that stops reading is
// cut off after writeTimeout without progress, rather than holding the
// copy's read transaction (and the pages it pins) for ever; one that reads
// gets the whole copy however long it takes.
func TestBackupLetsAStalledClientGo(t *testing.T) {
	spooltest.BoltOnly(t) // the copy is bbolt's file
	defer func(w time.Duration) { writeTimeout = w }(writeTimeout)
	writeTimeout = 200 * time.Millisecond

	sp, _ := spooltest.Open(t)
	defer sp.Close()
	creds, err := auth.New(sp, auth.Options{Params: auth.TestParams})
	if err != nil {
		t.Fatal(err)
	}
	// Far more than the socket's buffers hold: the server must wait for
	// the client to read.
	body := bytes.Repeat([]byte("0123456789abcdef\r\n"), 1<<16) // 1.1 MiB
	now := time.Now()
	for range 8 {
		if _, err := sp.Accept(spool.Incoming{From: "a@example.com", To: []string{"b@example.org"}, Received: now, Release: now.Add(time.Hour)}, body); err != nil {
			t.Fatal(err)
		}
	}
	srv := New(Options{Spool: sp, Creds: creds, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	dir, err := os.MkdirTemp("", "rl")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "admin.sock")
	l, tcp, err := Listen("unix:" + sock)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l, tcp) }()
	defer func() {
		srv.Shutdown(context.Background())
		<-served
	}()

	get := func(stall time.Duration) (got, want int64) {
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET /v1/backup HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n")
		br := bufio.NewReaderSize(c, 512)
		res, err := http.ReadResponse(br, nil)
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("GET /v1/backup: %v, %v", res, err)
		}
		time.Sleep(stall) // the wall clock's: the deadline is the connection's
		n, _ := io.Copy(io.Discard, res.Body)
		return n, res.ContentLength
	}
	if got, want := get(0); got != want || want < 8<<20 {
		t.Fatalf("a reading client got %d bytes of %d", got, want)
	}
	if got, want := get(5 * writeTimeout); got >= want {
		t.Errorf("a client that stopped reading for 5 write timeouts still got all %d bytes", want)
	}
}

// noBackup is a storage that cannot copy itself, as PostgreSQL's cannot.
type noBackup struct{ kv.DB }

// TestBackupOfASharedSpoolSaysWhatToUse: a spool whose storage cannot be
// copied (PostgreSQL's) is refused with a 400 that names pg_dump, and the
// refusal is audited.
func TestBackupOfASharedSpoolSaysWhatToUse(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "spool.db"))
	if err != nil {
		t.Fatal(err)
	}
	sp, err := spool.New(noBackup{db})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	creds, err := auth.New(sp, auth.Options{Params: auth.TestParams})
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Options{Spool: sp, Creds: creds, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	dir, err := os.MkdirTemp("", "rl")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := "unix:" + filepath.Join(dir, "admin.sock")
	l, tcp, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l, tcp) }()
	defer func() {
		srv.Shutdown(context.Background())
		<-served
	}()

	c, err := admin.NewClient(sock, "")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	_, err = c.Backup(context.Background(), &out)
	if err == nil || !strings.Contains(err.Error(), "pg_dump") || !strings.Contains(err.Error(), "PostgreSQL") {
		t.Fatalf("Backup = %v, want an error that says to use pg_dump", err)
	}
	var ae *admin.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
		t.Errorf("Backup = %#v, want a 400", err)
	}
	if out.Len() != 0 {
		t.Errorf("a refused backup wrote %d bytes", out.Len())
	}
	entries, err := sp.Audit(0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Action != "backup" || !strings.Contains(entries[0].Detail, "PostgreSQL") {
		t.Errorf("audit = %+v, want the refused backup", entries)
	}
}
