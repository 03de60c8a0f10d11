package server

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/auth"
	"github.com/holdrelay/relay/internal/spooltest"
	"github.com/holdrelay/relay/spool"
)

// slowAbort is a dispatcher whose Abort takes longer than the server's
// WriteTimeout, like one waiting for an upstream's reply to the dot.
type slowAbort struct {
	sp    *spool.Spool
	delay time.Duration
}

func (slowAbort) Notify(time.Time) {}

func (d slowAbort) Abort(ctx context.Context, ids []spool.ID) error {
	select {
	case <-time.After(d.delay):
	case <-ctx.Done():
		return ctx.Err()
	}
	for _, id := range ids {
		m, err := d.sp.Get(id)
		if err != nil {
			return err
		}
		if _, err := d.sp.Finish(id, spool.Attempt{Rcpts: m.Rcpts, State: spool.Deferred, Now: time.Now(), Retry: time.Now()}); err != nil {
			return err
		}
	}
	return nil
}

// TestDropOutlivesWriteTimeout: a drop that waits for a delivery in
// flight answers even when that takes longer than the server's
// WriteTimeout, which would otherwise cut the answer off.
func TestDropOutlivesWriteTimeout(t *testing.T) {
	defer func(w time.Duration) { writeTimeout = w }(writeTimeout)
	writeTimeout = 100 * time.Millisecond

	sp, _ := spooltest.Open(t)
	defer sp.Close()
	creds, err := auth.New(sp, auth.Options{Params: auth.TestParams})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := sp.Accept(spool.Incoming{From: "a@example.com", To: []string{"b@example.org"}, Received: now, Release: now}, []byte("hi\r\n")); err != nil {
		t.Fatal(err)
	}
	claimed, err := sp.Claim(now, 1)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("Claim = %v, %v", claimed, err)
	}

	srv := New(Options{Spool: sp, Creds: creds, Dispatcher: slowAbort{sp: sp, delay: 3 * writeTimeout},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	dir, err := os.MkdirTemp("", "rl")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	l, tcp, err := Listen("unix:" + filepath.Join(dir, "admin.sock"))
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l, tcp) }()
	defer func() {
		srv.Shutdown(context.Background())
		<-served
	}()

	c, err := admin.NewClient("unix:"+filepath.Join(dir, "admin.sock"), "")
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Drop(t.Context(), admin.ActionRequest{Selector: admin.Selector{IDs: []string{claimed[0].ID.String()}}})
	if err != nil {
		t.Fatalf("a drop longer than WriteTimeout: %v", err)
	}
	if res.Counts[admin.OutcomeChanged] != 1 {
		t.Errorf("drop = %+v", res)
	}
}

// TestFollowerOutlivesWriteTimeout: an event stream that idles for longer
// than the server's WriteTimeout still delivers the next event; only a
// write that makes no progress for that long is cut off.
func TestFollowerOutlivesWriteTimeout(t *testing.T) {
	defer func(w time.Duration) { writeTimeout = w }(writeTimeout)
	writeTimeout = 100 * time.Millisecond

	sp, _ := spooltest.Open(t)
	defer sp.Close()
	srv := New(Options{Spool: sp, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Tokens: []Token{{Name: "ops", Secret: "operator-secret-0123456789", Role: RoleOperator}}})
	l, tcp, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l, tcp) }()
	defer func() {
		srv.Shutdown(context.Background())
		<-served
	}()
	c, err := admin.NewClient(l.Addr().String(), "operator-secret-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sp.AddWebhook(spool.Webhook{Name: "crm", URL: "http://example.com", Format: "standard"}, nil); err != nil {
		t.Fatal(err)
	}
	got := make(chan admin.OutboxEvent, 2)
	ended := make(chan error, 1)
	go func() {
		ended <- c.Events(t.Context(), admin.EventsRequest{Follow: true}, func(e admin.OutboxEvent) error { got <- e; return nil })
	}()
	if _, err := sp.TestWebhook("crm", nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-got:
	case err := <-ended:
		t.Fatalf("the stream ended: %v", err)
	}
	// Longer than WriteTimeout with nothing to send: the wall clock's,
	// since the deadline is the connection's.
	time.Sleep(3 * writeTimeout)
	if _, err := sp.TestWebhook("crm", nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-got:
	case err := <-ended:
		t.Fatalf("the stream ended: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("no event after an idle stretch")
	}
}
