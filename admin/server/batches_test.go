package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/admin/server/servertest"
	"github.com/holdrelay/relay/spool"
)

// acceptInBatch spools a message of a batch, due at servertest.Now + 1h.
func acceptInBatch(t *testing.T, r *servertest.Relay, batch string) spool.Message {
	t.Helper()
	now := r.Clock.Now()
	m, err := r.Spool.Accept(spool.Incoming{
		Credential: "shop", From: "app@example.com", To: []string{"someone@example.org"},
		Received: now, Release: now.Add(time.Hour), SendAt: now.Add(time.Hour), Batch: batch,
		Categories: []string{"newsletter"},
	}, []byte("Subject: hello\r\n\r\nhi\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// No cap: twenty batches paused at once, each holding its own messages
// and those that arrive after the pause; resuming one lets only it go.
func TestTwentyBatchesPausedAtOnce(t *testing.T) {
	r, _ := startTally(t, servertest.Options{})
	c := client(t, r.Socket, "")
	ctx := t.Context()
	for i := range 20 {
		id := fmt.Sprintf("batch-%02d", i)
		acceptInBatch(t, r, id)
		out, err := c.PauseBatch(ctx, id, admin.BatchChangeRequest{Reason: "wrong template"})
		if err != nil {
			t.Fatalf("pause %s: %v", id, err)
		}
		if out.Held != 1 || out.Batch.Status != admin.BatchPaused || out.Batch.Actor == "" {
			t.Fatalf("pause %s: %+v", id, out)
		}
		acceptInBatch(t, r, id) // arrives held
	}
	bs, err := c.Batches(ctx)
	if err != nil || len(bs) != 20 {
		t.Fatalf("batches: %d, %v", len(bs), err)
	}
	for _, b := range bs {
		if b.Status != admin.BatchPaused || b.Messages != 2 {
			t.Errorf("batch %s: %s with %d messages", b.ID, b.Status, b.Messages)
		}
	}
	counts, _ := r.Spool.Counts()
	if counts[spool.Held] != 40 {
		t.Fatalf("held %d of 40", counts[spool.Held])
	}
	out, err := c.ResumeBatch(ctx, "batch-07", admin.BatchChangeRequest{})
	if err != nil || out.Released != 2 || out.Batch.Status != admin.BatchActive {
		t.Fatalf("resume: %+v %v", out, err)
	}
	d, err := c.Batch(ctx, "batch-07")
	if err != nil || d.Counts["waiting"] != 2 || d.Counts["held"] != 0 {
		t.Fatalf("batch-07 after resume: %+v %v", d, err)
	}
	// Selectors take --batch and --category like any other criterion.
	list, err := c.ListMessages(ctx, admin.ListRequest{Selector: admin.Selector{Batch: "batch-03", Category: "newsletter"}})
	if err != nil || len(list.Messages) != 2 || list.Messages[0].Batch != "batch-03" {
		t.Fatalf("list by batch: %+v %v", list, err)
	}
	entries, _ := c.Audit(ctx, 100, 0)
	var pauses int
	for _, e := range entries.Entries {
		if e.Action == "batch pause" {
			pauses++
		}
	}
	if pauses != 20 {
		t.Errorf("%d batch pauses audited, want 20", pauses)
	}
}

func TestCancelBatchIsATruthfulDrop(t *testing.T) {
	r, d := startTally(t, servertest.Options{})
	c := client(t, r.Socket, "")
	ctx := t.Context()
	waiting := acceptInBatch(t, r, "promo")
	sending := acceptInBatch(t, r, "promo")
	if _, err := r.Spool.Flush(spool.Selector{IDs: []spool.ID{sending.ID}}, spool.Event{Time: r.Clock.Now()}, false); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.Spool.Claim(r.Clock.Now(), 10); len(got) != 1 {
		t.Fatal("no message being sent")
	}
	dry, err := c.CancelBatch(ctx, "promo", admin.BatchChangeRequest{DryRun: true})
	if err != nil || dry.Dropped == nil || dry.Dropped.Counts["changed"] != 1 || dry.Dropped.Counts["in_flight"] != 1 {
		t.Fatalf("dry cancel: %+v %v", dry, err)
	}
	if b, _ := r.Spool.GetBatch("promo"); b.Status != spool.BatchActive {
		t.Fatal("a dry run changed the batch")
	}
	out, err := c.CancelBatch(ctx, "promo", admin.BatchChangeRequest{Reason: "bad list"})
	if err != nil || out.Dropped.Counts["changed"] != 2 || out.Batch.Status != admin.BatchCancelled {
		t.Fatalf("cancel: %+v %v", out, err)
	}
	if _, aborted := d.counts(); len(aborted) != 1 || aborted[0] != sending.ID {
		t.Fatalf("aborted %v, want the message being sent", aborted)
	}
	late := acceptInBatch(t, r, "promo")
	for _, id := range []spool.ID{waiting.ID, sending.ID, late.ID} {
		if m, _ := r.Spool.Get(id); m.State != spool.Dropped {
			t.Errorf("%s is %s after the cancel", id, m.State)
		}
	}
}

func TestBatchRefusals(t *testing.T) {
	r, _ := startTally(t, servertest.Options{Tokens: tokens})
	ctx := t.Context()
	c := client(t, r.Socket, "")
	if _, err := c.CreateBatch(ctx, admin.CreateBatchRequest{ID: "bad id"}); err == nil {
		t.Fatal("a batch ID with a space was accepted")
	} else {
		apiError(t, err, 400, admin.CodeInvalid)
	}
	b, err := c.CreateBatch(ctx, admin.CreateBatchRequest{})
	if err != nil || len(b.ID) != 32 {
		t.Fatalf("made-up batch ID: %+v %v", b, err)
	}
	_, err = c.CreateBatch(ctx, admin.CreateBatchRequest{ID: b.ID})
	apiError(t, err, 409, admin.CodeExists)
	_, err = c.Batch(ctx, "nope")
	apiError(t, err, 404, admin.CodeNotFound)
	_, err = c.ResumeBatch(ctx, "nope", admin.BatchChangeRequest{})
	apiError(t, err, 404, admin.CodeNotFound)
	_, err = c.PauseBatch(ctx, b.ID, admin.BatchChangeRequest{DryRun: true})
	apiError(t, err, 400, admin.CodeInvalid)
	// Support may stop a batch, not let it go again.
	helpdesk := client(t, r.TCP, supportSecret)
	if _, err := helpdesk.PauseBatch(ctx, b.ID, admin.BatchChangeRequest{}); err != nil {
		t.Fatalf("support pausing: %v", err)
	}
	_, err = helpdesk.ResumeBatch(ctx, b.ID, admin.BatchChangeRequest{})
	apiError(t, err, 403, admin.CodeForbidden)
	// Nor turn a cancel back into a pause, which would let mail through later.
	if _, err := helpdesk.CancelBatch(ctx, b.ID, admin.BatchChangeRequest{}); err != nil {
		t.Fatalf("support cancelling: %v", err)
	}
	_, err = helpdesk.PauseBatch(ctx, b.ID, admin.BatchChangeRequest{})
	apiError(t, err, 403, admin.CodeForbidden)
}

// sendgrid calls the SendGrid endpoints over TCP as a SendGrid client
// would: bearer API key, JSON bodies. It returns the status and body.
func sendgrid(t *testing.T, r *servertest.Relay, key, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+r.TCP+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestSendGridScheduledSends(t *testing.T) {
	r, _ := startTally(t, servertest.Options{Tokens: tokens})
	key := operatorSecret

	// POST /v3/mail/batch: 201 {"batch_id": "..."}
	status, body := sendgrid(t, r, key, "POST", "/v3/mail/batch", "")
	var created struct {
		BatchID string `json:"batch_id"`
	}
	if status != 201 || json.Unmarshal([]byte(body), &created) != nil || created.BatchID == "" {
		t.Fatalf("create batch: %d %s", status, body)
	}
	id := created.BatchID
	m := acceptInBatch(t, r, id)

	steps := []struct {
		method, path, body string
		status             int
		want               string // the JSON body, compacted; "" for none
	}{
		{"GET", "/v3/mail/batch/" + id, "", 200, `{"batch_id":"` + id + `"}`},
		{"GET", "/v3/mail/batch/unknownbatch", "", 400, `{"errors":[{"field":null,"message":"invalid batch id"}]}`},
		{"GET", "/v3/user/scheduled_sends", "", 200, `[]`},
		{"GET", "/v3/user/scheduled_sends/" + id, "", 200, `[]`},
		{"PATCH", "/v3/user/scheduled_sends/" + id, `{"status":"pause"}`, 404, `{"errors":[{"field":null,"message":"batch id not found"}]}`},
		{"POST", "/v3/user/scheduled_sends", `{"batch_id":"` + id + `","status":"later"}`, 400,
			`{"errors":[{"field":"status","message":"status must be either pause or cancel"}]}`},
		{"POST", "/v3/user/scheduled_sends", `{"status":"pause"}`, 400,
			`{"errors":[{"field":"batch_id","message":"batch_id is required"}]}`},
		{"POST", "/v3/user/scheduled_sends", `{"batch_id":"` + id + `","status":"pause"}`, 201,
			`{"batch_id":"` + id + `","status":"pause"}`},
		{"GET", "/v3/user/scheduled_sends", "", 200, `[{"batch_id":"` + id + `","status":"pause"}]`},
		{"GET", "/v3/user/scheduled_sends/" + id, "", 200, `[{"batch_id":"` + id + `","status":"pause"}]`},
		{"GET", "/v3/user/scheduled_sends/unknownbatch", "", 404, `{"errors":[{"field":null,"message":"batch id not found"}]}`},
		{"DELETE", "/v3/user/scheduled_sends/" + id, "", 204, ""},
		{"DELETE", "/v3/user/scheduled_sends/" + id, "", 404, `{"errors":[{"field":null,"message":"batch id not found"}]}`},
		{"POST", "/v3/user/scheduled_sends", `{"batch_id":"` + id + `","status":"pause"}`, 201,
			`{"batch_id":"` + id + `","status":"pause"}`},
		{"PATCH", "/v3/user/scheduled_sends/" + id, `{"status":"cancel"}`, 204, ""},
		{"GET", "/v3/user/scheduled_sends/" + id, "", 200, `[{"batch_id":"` + id + `","status":"cancel"}]`},
	}
	for i, s := range steps {
		status, body := sendgrid(t, r, key, s.method, s.path, s.body)
		got := compact(t, body)
		if status != s.status || got != s.want {
			t.Fatalf("step %d: %s %s %s\n got %d %s\nwant %d %s", i, s.method, s.path, s.body, status, got, s.status, s.want)
		}
		if i == 7 { // paused: the message is held
			if msg, _ := r.Spool.Get(m.ID); msg.State != spool.Held {
				t.Fatalf("after the pause the message is %s", msg.State)
			}
		}
	}
	if msg, _ := r.Spool.Get(m.ID); msg.State != spool.Dropped {
		t.Fatalf("after the cancel the message is %s", msg.State)
	}

	// Without the key, or with the wrong one: SendGrid's 401 shape.
	for _, k := range []string{"", "wrong-key-0123456789"} {
		status, body := sendgrid(t, r, k, "GET", "/v3/user/scheduled_sends", "")
		if status != 401 || !strings.HasPrefix(compact(t, body), `{"errors":[{"field":null,"message":`) {
			t.Errorf("key %q: %d %s", k, status, body)
		}
	}
	// A support key may pause and cancel but not lift them.
	status, body = sendgrid(t, r, supportSecret, "DELETE", "/v3/user/scheduled_sends/"+id, "")
	if status != 403 || !strings.Contains(body, `"errors"`) {
		t.Errorf("support DELETE: %d %s", status, body)
	}
}

func compact(t *testing.T, body string) string {
	t.Helper()
	if strings.TrimSpace(body) == "" {
		return ""
	}
	var v any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("not JSON: %q", body)
	}
	b, _ := json.Marshal(v)
	return string(b)
}
