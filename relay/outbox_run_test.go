package relay

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/holdrelay/relay/internal/spooltest"
	"github.com/holdrelay/relay/spool"
	"github.com/holdrelay/relay/webhook"
)

// A bulk hold's events are one outbox run; a webhook still gets them as
// bodies of at most 100 events cut anywhere in the run, each retried with
// the same webhook-id and the same events, and every event exactly once
// among the bodies it acknowledged.
func TestWebhookBodiesCutARunAndRetryTheSame(t *testing.T) {
	s, _ := spooltest.Open(t)
	t.Cleanup(func() { s.Close() })
	var mu sync.Mutex
	bodies := map[string]string{} // webhook-id -> first body
	var acked [][]webhook.Event
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		id := r.Header.Get("webhook-id")
		mu.Lock()
		defer mu.Unlock()
		first, seen := bodies[id]
		if !seen {
			bodies[id] = string(body)
			w.WriteHeader(http.StatusServiceUnavailable) // every body is retried once
			return
		}
		if first != string(body) {
			t.Errorf("webhook-id %s retried with another body", id)
		}
		var evs []webhook.Event
		if err := json.Unmarshal(body, &evs); err != nil || len(evs) == 0 || len(evs) > 100 {
			t.Errorf("body of %d events: %v", len(evs), err)
		}
		acked = append(acked, evs)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	key, _ := webhook.NewSecret()
	wh, err := s.AddWebhook(spool.Webhook{Name: "crm", URL: srv.URL, Format: webhook.FormatStandard, Secret: key}, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	const n = 250
	for range n {
		in := spool.Incoming{Credential: "app", From: "a@example.com", To: []string{"b@example.net"},
			Received: now, Release: now.Add(time.Hour)}
		if _, err := s.Accept(in, []byte("Subject: x\r\n\r\nx\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	if res, err := s.Hold(spool.Selector{Credential: "app"}, spool.Event{Time: now, Actor: "uid:0"}, false); err != nil || res.Count(spool.Changed) != n {
		t.Fatalf("hold: %v %v", res.Counts(), err)
	}
	m := webhook.NewManager(webhook.Config{Outbox: Outbox{s}, Log: slog.New(slog.DiscardHandler), MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	if err := m.Add(webhook.Endpoint{Name: wh.Name, URL: wh.URL, Format: wh.Format, Secret: wh.Secret}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	last, _ := s.LastEventSeq()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if c, _ := s.WebhookCursor("crm"); c == last {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the webhook did not catch up")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	seq, held, ids := uint64(0), map[string]bool{}, map[string]bool{}
	for _, evs := range acked {
		for _, e := range evs {
			if ids[e.ID] {
				t.Errorf("event %s twice", e.ID)
			}
			ids[e.ID] = true
			seq++
			if e.Type == webhook.MessageHeld {
				var d webhook.MessageData
				json.Unmarshal(e.Data, &d)
				held[d.MessageID] = true
			}
		}
	}
	if seq != last || len(held) != n || len(acked) < 5 {
		t.Errorf("%d events in %d bodies, %d messages held; want %d events, %d held", seq, len(acked), len(held), last, n)
	}
	if last != 2*n {
		t.Errorf("%d events, want an accept and a hold for each of %d messages", last, n)
	}
}
