package upstream

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/holdrelay/relay/internal/smtptest"
)

// TestBeforeDotStopsTheTransfer: an error from Envelope.BeforeDot ends
// the attempt before the dot, the upstream holding no message; without
// an error the message goes out. The gate is called once per attempt.
func TestBeforeDotStopsTheTransfer(t *testing.T) {
	up := &smtptest.Server{}
	up.Start(t)
	tr := dial(t, up, "smtp://ADDR?tls=none")
	calls := 0
	env := testEnv
	env.BeforeDot = func() error { calls++; return errors.New("dropped on node a") }
	wantAll(t, tr.Deliver(context.Background(), env, testBody), 0, "cancelled")
	if n := len(up.Messages()); n != 0 || calls != 1 {
		t.Fatalf("after a refused gate: upstream has %d messages, gate called %d times; want 0 and 1", n, calls)
	}
	env.BeforeDot = func() error { calls++; return nil }
	wantAll(t, tr.Deliver(context.Background(), env, testBody), 250, "2.0.0")
	if n := len(up.Messages()); n != 1 || calls != 2 {
		t.Fatalf("after a passed gate: upstream has %d messages, gate called %d times; want 1 and 2", n, calls)
	}
}

func TestFileBeforeDot(t *testing.T) {
	dir := t.TempDir()
	tr := newFileForTest(t, dir)
	env := Envelope{ID: "0c5v3k2s8f9ga", To: []string{"ann@example.net"},
		BeforeDot: func() error { return errors.New("dropped") }}
	wantAll(t, tr.Deliver(context.Background(), env, testBody), 0, "cancelled: dropped")
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("outbox holds %d entries after a refused gate, want none", len(entries))
	}
}
