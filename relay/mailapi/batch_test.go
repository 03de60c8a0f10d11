package mailapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/holdrelay/relay/admin/server"
	"github.com/holdrelay/relay/relay"
	"github.com/holdrelay/relay/spool"
)

// TestBatchPauseAndCancel: an application makes a batch ID with its API
// key and sends with it; the operator pauses and cancels that batch on
// the admin API (SendGrid's scheduled_sends shape), and the mail sent
// this way is held, then dropped, including what arrives afterwards.
func TestBatchPauseAndCancel(t *testing.T) {
	t.Parallel()
	h := newHarness(t, relay.IntakeConfig{})
	admin := h.adminAPI()

	r := h.do("POST", "/v3/mail/batch", h.key, "")
	var b batchID
	if r.status != http.StatusCreated || json.Unmarshal(r.body, &b) != nil || len(b.BatchID) != 32 {
		t.Fatalf("create batch: %d %s", r.status, r.body)
	}
	if r := h.do("GET", "/v3/mail/batch/"+b.BatchID, h.key, ""); r.status != http.StatusOK || !strings.Contains(string(r.body), b.BatchID) {
		t.Errorf("get batch: %d %s", r.status, r.body)
	}
	if r := h.do("GET", "/v3/mail/batch/unknown", h.key, ""); r.status != http.StatusBadRequest {
		t.Errorf("get an unknown batch: %d %s", r.status, r.body)
	}
	if r := h.do("POST", "/v3/mail/batch", "", ""); r.status != http.StatusUnauthorized {
		t.Errorf("create a batch without a key: %d", r.status)
	}
	withBatch := strings.Replace(simple, `"content"`, `"batch_id": "`+b.BatchID+`", "content"`, 1)
	first := h.mustSend(withBatch)

	admin("POST", "/v3/user/scheduled_sends", `{"batch_id": "`+b.BatchID+`", "status": "pause"}`, http.StatusCreated)
	second := h.mustSend(withBatch)
	for _, id := range []spool.ID{first, second} {
		if m, _ := h.spool.Get(id); m.State != spool.Held {
			t.Errorf("%v under a paused batch: %s", id, m.State)
		}
	}
	h.clock.Advance(hold + 1e9)
	h.upstream.WaitIdle(t)
	if n := len(h.upstream.Messages()); n != 0 {
		t.Fatalf("%d delivered from a paused batch", n)
	}

	admin("PATCH", "/v3/user/scheduled_sends/"+b.BatchID, `{"status": "cancel"}`, http.StatusNoContent)
	third := h.mustSend(withBatch) // accepted, and dropped at once
	for _, id := range []spool.ID{first, second, third} {
		if m, _ := h.spool.Get(id); m.State != spool.Dropped {
			t.Errorf("%v under a cancelled batch: %s", id, m.State)
		}
	}
	other := h.mustSend(simple)
	if up := h.deliver(1); up[0].To[0] != "john.doe@example.com" || len(h.upstream.Messages()) != 1 {
		t.Errorf("delivered %v", up)
	}
	h.waitState(other, spool.Delivered)
}

// adminAPI serves relayd's admin API on a unix socket and returns a
// function that calls it and checks the status.
func (h *harness) adminAPI() func(method, path, body string, want int) {
	sock := filepath.Join(h.t.TempDir(), "admin.sock")
	l, _, err := server.Listen("unix:" + sock)
	if err != nil {
		h.t.Fatal(err)
	}
	srv := server.New(server.Options{Spool: h.spool, Creds: h.creds, Now: h.clock.Now,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	go srv.Serve(l, false)
	h.t.Cleanup(func() { srv.Shutdown(context.Background()) })
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	return func(method, path, body string, want int) {
		h.t.Helper()
		req, _ := http.NewRequest(method, "http://relayd"+path, strings.NewReader(body))
		res, err := c.Do(req)
		if err != nil {
			h.t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode != want {
			b, _ := io.ReadAll(res.Body)
			h.t.Fatalf("admin %s %s: %d %s, want %d", method, path, res.StatusCode, b, want)
		}
	}
}
