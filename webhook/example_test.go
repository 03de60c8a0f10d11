package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"github.com/holdrelay/relay/webhook"
)

// verify checks a Standard Webhooks signature the way a receiver does,
// written from the specification alone: docs/events.md shows it, and the
// tests check the sender against it.
func verify(secret string, h http.Header, body []byte, now time.Time) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
	sent, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || now.Sub(time.Unix(sent, 0)).Abs() > 5*time.Minute {
		return errors.New("timestamp missing or too far from now")
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		b64, ok := strings.CutPrefix(sig, "v1,")
		got, err := base64.StdEncoding.DecodeString(b64)
		if ok && err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errors.New("no valid signature")
}

// A receiver verifies each POST with the endpoint's secret before it reads
// the events.
func Example_receiver() {
	key, secret := webhook.NewSecret()
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 10<<20))
		if err := verify(secret, r.Header, body, time.Now()); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			got <- err.Error()
			return
		}
		var events []struct{ ID, Type string }
		if err := json.Unmarshal(body, &events); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got <- fmt.Sprintf("verified: %d event, %s", len(events), events[0].Type)
	}))
	defer srv.Close()

	out := newMemOutbox()
	m := webhook.NewManager(webhook.Config{Outbox: out})
	m.Add(webhook.Endpoint{Name: "crm", URL: srv.URL, Secret: key})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go m.Run(ctx)
	out.add(webhook.WebhookTest, time.Now(), map[string]string{"endpoint": "crm"})
	m.Notify()
	fmt.Println(<-got)
	// Output: verified: 1 event, webhook.test
}
