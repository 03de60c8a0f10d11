package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/webhook"
)

// typeLog is a webhook receiver that records each event's data by type.
type typeLog struct {
	mu   sync.Mutex
	data map[string][]map[string]any
}

func (l *typeLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var evs []struct {
		Type string         `json:"type"`
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal(body, &evs); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range evs {
		l.data[e.Type] = append(l.data[e.Type], e.Data)
	}
}

// wait returns the data of each type once every type has arrived.
func (l *typeLog) wait(t *testing.T, types []string) map[string][]map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		l.mu.Lock()
		var missing []string
		for _, typ := range types {
			if len(l.data[typ]) == 0 {
				missing = append(missing, typ)
			}
		}
		got := l.data
		l.mu.Unlock()
		if len(missing) == 0 {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("the receiver never got %v", missing)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAdminChangesReachTheWebhook drives the real relayd through its admin
// API and SMTP, and checks that a webhook receiver gets the event of each
// change, with who made it: the admin API's actions and the spool's
// events must agree on which change is which.
func TestAdminChangesReachTheWebhook(t *testing.T) {
	rec := &typeLog{data: map[string][]map[string]any{}}
	rcv := httptest.NewServer(rec)
	t.Cleanup(rcv.Close)
	data := t.TempDir()
	subscribeOffline(t, data, rcv.URL)
	sock := "unix:" + shortSock(t)
	d := startRelayd(t, data, "--hold", "1h", "--admin-listen", sock)
	c, err := admin.NewClient(sock, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	reply, err := submit(d.smtp, d.password, "watched")
	if err != nil {
		t.Fatal(err)
	}
	_, id, _ := strings.Cut(reply, "queued as ")
	one := admin.ActionRequest{Selector: admin.Selector{IDs: []string{id}}, Reason: "looking"}
	steps := []func() error{
		func() error { _, err := c.AddCredential(ctx, admin.AddCredentialRequest{Name: "shop"}); return err },
		func() error { _, err := c.RotatePassword(ctx, "shop", admin.RotateRequest{}); return err },
		func() error {
			_, err := c.DisableCredential(ctx, "shop", admin.CredentialChangeRequest{Reason: "leak"})
			return err
		},
		func() error { _, err := c.EnableCredential(ctx, "shop", admin.EnableCredentialRequest{}); return err },
		func() error { _, err := c.RemoveCredential(ctx, "shop", admin.CredentialChangeRequest{}); return err },
		func() error { _, err := c.Hold(ctx, one); return err },
		func() error { _, err := c.Release(ctx, one); return err },
		func() error { _, err := c.Pause(ctx, admin.PauseRequest{Reason: "incident"}); return err },
		func() error { _, err := c.Resume(ctx, admin.ResumeRequest{}); return err },
		func() error { _, err := c.CreateBatch(ctx, admin.CreateBatchRequest{ID: "promo"}); return err },
		func() error { _, err := c.PauseBatch(ctx, "promo", admin.BatchChangeRequest{}); return err },
		func() error { _, err := c.ResumeBatch(ctx, "promo", admin.BatchChangeRequest{}); return err },
		func() error { _, err := c.CancelBatch(ctx, "promo", admin.BatchChangeRequest{}); return err },
		func() error { _, err := c.Drop(ctx, one); return err },
		func() error { _, err := c.TestWebhook(ctx, "recorder"); return err },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	types := []string{webhook.MessageAccepted, webhook.CredentialAdded, webhook.CredentialRotated, webhook.CredentialDisabled,
		webhook.CredentialEnabled, webhook.CredentialRemoved, webhook.MessageHeld, webhook.MessageReleased,
		webhook.PauseStarted, webhook.PauseEnded, webhook.BatchPaused, webhook.BatchResumed, webhook.BatchCancelled,
		webhook.MessageDropped, webhook.WebhookTest}
	got := rec.wait(t, types)
	for _, typ := range types {
		if typ == webhook.MessageAccepted {
			continue
		}
		if actor := got[typ][0]["actor"]; actor == "" || actor == nil || actor == "relay" {
			t.Errorf("%s: actor %v, want the operator", typ, actor)
		}
	}
	for _, typ := range []string{webhook.CredentialAdded, webhook.CredentialRemoved} {
		if got[typ][0]["credential"] != "shop" {
			t.Errorf("%s data %v", typ, got[typ][0])
		}
	}
	held := got[webhook.MessageHeld]
	if !slices.ContainsFunc(held, func(d map[string]any) bool { return d["message_id"] == id && d["reason"] == "operator" }) {
		t.Errorf("message.held of %s by the operator not among %v", id, held)
	}
	if d := got[webhook.MessageDropped][0]; d["message_id"] != id || d["reason"] != "looking" {
		t.Errorf("message.dropped data %v", d)
	}
	stopAndCheck(t, d, data, "after the changes")
}
