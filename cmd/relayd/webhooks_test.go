package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/holdrelay/relay/internal/clock"
	"github.com/holdrelay/relay/spool"
	"github.com/holdrelay/relay/webhook"
)

// TestUnreadableWebhookDoesNotStopTheStart: one webhook record that
// cannot be decoded is logged by name and left out; relayd starts with
// the others.
func TestUnreadableWebhookDoesNotStopTheStart(t *testing.T) {
	sp, err := spool.Open(filepath.Join(t.TempDir(), "spool.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	for _, name := range []string{"billing", "crm"} {
		key, _ := webhook.NewSecret()
		w := spool.Webhook{Name: name, URL: "https://example.com/" + name, Format: webhook.FormatStandard, Secret: key}
		if _, err := sp.AddWebhook(w, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := sp.SpoilRecord("webhook", "crm"); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	if _, err := newWebhooks(config{}, sp, clock.Real{}, log, prometheus.NewRegistry()); err != nil {
		t.Fatalf("newWebhooks with one unreadable record: %v", err)
	}
	if !strings.Contains(logs.String(), "level=ERROR msg=\"webhook record unreadable") || !strings.Contains(logs.String(), "webhook=crm") {
		t.Errorf("the unreadable webhook is not logged by name:\n%s", logs.String())
	}
}

// countLog is a webhook receiver that counts each event ID it gets.
type countLog struct {
	mu sync.Mutex
	n  map[string]int
}

func (l *countLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var evs []struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(r.Body).Decode(&evs); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range evs {
		l.n[e.ID]++
	}
}

func (l *countLog) has(id string) bool { return l.count(id) > 0 }

func (l *countLog) count(id string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n[id]
}

// TestWebhookTermsAndReload: a webhook another node added is delivered
// here once the webhooks are reloaded, and delivery that stopped (a
// lost lead) starts again with the next term.
func TestWebhookTermsAndReload(t *testing.T) {
	sp, err := spool.Open(filepath.Join(t.TempDir(), "spool.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	rec := &countLog{n: map[string]int{}}
	rcv := httptest.NewServer(rec)
	defer rcv.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := newWebhooks(config{WebhookMaxAge: time.Hour}, sp, clock.Real{}, log, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}

	key, _ := webhook.NewSecret()
	if _, err := sp.AddWebhook(spool.Webhook{Name: "recorder", URL: rcv.URL, Format: webhook.FormatStandard, Secret: key}, nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.Status("recorder"); ok {
		t.Fatal("a webhook added behind relayd's back is known before a reload")
	}
	if err := h.reload(); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.Status("recorder"); !ok {
		t.Fatal("the reload did not add the webhook")
	}

	for term := 1; term <= 2; term++ {
		ctx, cancel := context.WithCancel(context.Background())
		done := runWebhooks(ctx, h, sp, log)
		ev, err := sp.TestWebhook("recorder", nil)
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for !rec.has(ev.ID) {
			if time.Now().After(deadline) {
				t.Fatalf("term %d: the receiver never got event %s", term, ev.ID)
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		<-done
	}
}
