package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/holdrelay/relay/internal/smtptest"
	"github.com/holdrelay/relay/spool"
	"github.com/holdrelay/relay/webhook"
)

// hookLog is a webhook receiver that records, per message, the types of
// the events it was sent.
type hookLog struct {
	mu   sync.Mutex
	seen map[string]map[string]bool // relay ID -> event types
	n    int                        // events received, duplicates included
}

func (h *hookLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var evs []webhook.Event
	if err := json.Unmarshal(body, &evs); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range evs {
		var d webhook.MessageData
		if json.Unmarshal(e.Data, &d) != nil || d.MessageID == "" {
			continue
		}
		if h.seen[d.MessageID] == nil {
			h.seen[d.MessageID] = map[string]bool{}
		}
		h.seen[d.MessageID][e.Type] = true
		h.n++
	}
	w.WriteHeader(http.StatusOK)
}

// missing returns the accepted IDs whose accepted or final-state event
// the receiver has not had: dropped for a message a drop reported
// dropped, delivered or dropped for one a drop was sent for without an
// answer, delivered for the others.
func (h *hookLog) missing(led *ledger) []string {
	led.mu.Lock()
	defer led.mu.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, id := range led.accepted {
		seen := h.seen[id]
		final := seen[webhook.MessageDelivered]
		switch {
		case led.dropped[id]:
			final = seen[webhook.MessageDropped]
		case led.tried[id]:
			final = final || seen[webhook.MessageDropped]
		}
		if !seen[webhook.MessageAccepted] || !final {
			out = append(out, id)
		}
	}
	return out
}

// subscribeOffline adds a webhook for every event to the spool in data
// while relayd is stopped, as `relayctl webhook add` would while it runs.
func subscribeOffline(t *testing.T, data, url string) {
	t.Helper()
	sp, err := spool.Open(filepath.Join(data, "spool.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	key, _ := webhook.NewSecret()
	if _, err := sp.AddWebhook(spool.Webhook{Name: "recorder", URL: url, Format: webhook.FormatStandard, Secret: key}, nil); err != nil {
		t.Fatal(err)
	}
}

// TestEventsSurviveKill9 holds guarantee 7: relayd is killed with SIGKILL
// at random moments while clients submit, an operator drops and a webhook
// receiver records; after the last restart, every message that got a 250
// has reached the receiver as message.accepted and as its final state
// (delivered, or dropped), at least once.
func TestEventsSurviveKill9(t *testing.T) {
	up := &smtptest.Server{OnData: func(smtptest.Message) error {
		time.Sleep(time.Millisecond)
		return nil
	}}
	upAddr := up.Start(t)
	hooks := &hookLog{seen: map[string]map[string]bool{}}
	rcv := httptest.NewServer(hooks)
	t.Cleanup(rcv.Close)
	data := t.TempDir()
	subscribeOffline(t, data, rcv.URL)
	sock := "unix:" + shortSock(t)
	args := []string{"--hold", "200ms", "--upstream", "smtp://" + upAddr + "?tls=none", "--admin-listen", sock}
	kills := crashKills(t)
	led := killLoop(t, data, sock, args, kills)

	d := startRelayd(t, data, args...)
	deadline := time.Now().Add(60 * time.Second)
	for {
		missing := hooks.missing(led)
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d accepted messages lack their events at the receiver: %v\nstderr:\n%s",
				len(missing), len(led.accepted), missing[:min(10, len(missing))], d.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	hooks.mu.Lock()
	t.Logf("%d kills: %d accepted, %d reported dropped, %d message events received", kills, len(led.accepted), len(led.dropped), hooks.n)
	hooks.mu.Unlock()
	if len(led.accepted) == 0 {
		t.Fatal("no message was accepted: the test exercised nothing")
	}
	stopAndCheck(t, d, data, fmt.Sprintf("after %d kills", kills))
}
