package main

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

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
