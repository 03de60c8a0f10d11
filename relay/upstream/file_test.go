package upstream

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func newFileForTest(t *testing.T, dir string) Transport {
	t.Helper()
	tr, err := New("file://"+filepath.ToSlash(dir), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestFileWritesOneEML(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "outbox") // created on demand
	tr := newFileForTest(t, dir)
	env := Envelope{ID: "0c5v3k2s8f9ga", From: "", To: []string{"ann@example.net", "bob@example.net"}}

	wantAll(t, tr.Deliver(context.Background(), env, testBody), 250, "2.0.0")
	name := filepath.Join(dir, env.ID+".eml")
	got, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	want := "X-Relay-Envelope-From: <>\r\nX-Relay-Envelope-To: <ann@example.net>, <bob@example.net>\r\n" + string(testBody)
	if string(got) != want {
		t.Errorf("%s holds\n%q\nwant\n%q", name, got, want)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("outbox directory: %v, %v; want mode 0700", fi.Mode(), err)
	}

	// At-least-once delivery: the same ID again replaces the file.
	env.From, env.To = "app@example.com", env.To[:1]
	wantAll(t, tr.Deliver(context.Background(), env, []byte("Subject: again\n\nbody\n")), 250, "")
	got, _ = os.ReadFile(name)
	want = "X-Relay-Envelope-From: <app@example.com>\nX-Relay-Envelope-To: <ann@example.net>\nSubject: again\n\nbody\n"
	if string(got) != want {
		t.Errorf("after a second delivery %s holds %q, want %q", name, got, want)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("outbox holds %d entries, want 1 (no duplicate, no temp file)", len(entries))
	}
}

func TestFileFailures(t *testing.T) {
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	wantAll(t, newFileForTest(t, notDir).Deliver(context.Background(), testEnv, testBody), 0, "not a directory")

	dir := t.TempDir()
	tr := newFileForTest(t, dir)
	env := testEnv
	env.ID = "../escape"
	wantAll(t, tr.Deliver(context.Background(), env, testBody), 0, "cannot name a file")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	wantAll(t, tr.Deliver(ctx, testEnv, testBody), 0, "cancelled")
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("outbox holds %d entries after failed deliveries", len(entries))
	}
}

func TestFileRelativeDir(t *testing.T) {
	t.Chdir(t.TempDir())
	tr, err := New("file://./relay-data/outbox", Options{})
	if err != nil {
		t.Fatal(err)
	}
	out := tr.Deliver(context.Background(), testEnv, testBody)
	wantAll(t, out, 250, "")
	if _, err := os.Stat(filepath.Join("relay-data", "outbox", testEnv.ID+".eml")); err != nil {
		t.Error(err)
	}
	if !strings.Contains(out[0].Message, "relay-data/outbox/"+testEnv.ID+".eml") {
		t.Errorf("message %q does not name the file", out[0].Message)
	}
}
