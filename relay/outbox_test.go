package relay

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holdrelay/relay/internal/clock"
	"github.com/holdrelay/relay/spool"
	"github.com/holdrelay/relay/webhook"
)

// receiver is an HTTP webhook receiver that checks each request's
// signature and records the events it accepted.
type receiver struct {
	t      testing.TB
	key    []byte
	mu     sync.Mutex
	events []webhook.Event
	bad    []string
	got    chan struct{} // a request arrived
	hang   chan struct{} // while open, every request waits on it
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	select {
	case rc.got <- struct{}{}:
	default:
	}
	if rc.hang != nil {
		<-rc.hang
	}
	var evs []webhook.Event
	err := json.Unmarshal(body, &evs)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if !rc.signed(r.Header, body) || err != nil {
		rc.bad = append(rc.bad, string(body))
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	rc.events = append(rc.events, evs...)
	w.WriteHeader(http.StatusNoContent)
}

// signed checks the Standard Webhooks signature as a receiver does.
func (rc *receiver) signed(h http.Header, body []byte) bool {
	mac := hmac.New(sha256.New, rc.key)
	mac.Write([]byte(h.Get("webhook-id") + "." + h.Get("webhook-timestamp") + "."))
	mac.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	return h.Get("webhook-id") != "" && slices.Contains(strings.Fields(h.Get("webhook-signature")), want)
}

func (rc *receiver) received() []webhook.Event {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.events)
}

// waitFor waits until the receiver has events of every type in types
// for the message id.
func (rc *receiver) waitFor(id spool.ID, types ...string) map[string]webhook.MessageData {
	rc.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := map[string]webhook.MessageData{}
		for _, e := range rc.received() {
			var d webhook.MessageData
			if json.Unmarshal(e.Data, &d) == nil && d.MessageID == id.String() {
				got[e.Type] = d
			}
		}
		if len(got) >= len(types) && !slices.ContainsFunc(types, func(t string) bool { _, ok := got[t]; return !ok }) {
			return got
		}
		if time.Now().After(deadline) {
			rc.t.Fatalf("receiver has %v for %s, want %v (refused: %v)", slices.Collect(maps.Keys(got)), id, types, rc.bad)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// subscribe adds a webhook for every event, pointing at a new receiver,
// and runs a webhook.Manager over the harness's spool, woken as relayd
// wakes it.
func (h *harness) subscribe(clk clock.Clock, hang bool) *receiver {
	h.t.Helper()
	key, _ := webhook.NewSecret()
	rc := &receiver{t: h.t, key: key, got: make(chan struct{}, 1)}
	if hang {
		rc.hang = make(chan struct{})
	}
	srv := httptest.NewServer(rc)
	h.t.Cleanup(srv.Close)
	if hang {
		h.t.Cleanup(func() { close(rc.hang) }) // before srv.Close, which waits for handlers
	}
	w, err := h.spool.AddWebhook(spool.Webhook{Name: "crm", URL: srv.URL, Format: webhook.FormatStandard, Secret: key}, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	m := webhook.NewManager(webhook.Config{Outbox: Outbox{h.spool}, Clock: clk})
	if err := m.Add(webhook.Endpoint{Name: w.Name, URL: w.URL, Format: w.Format, Secret: w.Secret}); err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); m.Run(ctx) }()
	go func() { defer wg.Done(); Outbox{h.spool}.Watch(ctx, m.Notify) }()
	h.t.Cleanup(func() { cancel(); wg.Wait() })
	return rc
}

func TestWebhookReceivesAcceptedAndDeliveredSigned(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	rc := h.subscribe(clock.Real{}, false)
	id := h.submit("order 1042")
	rc.waitFor(id, webhook.MessageAccepted)
	h.clock.Advance(30 * time.Second)
	h.waitState(id, spool.Delivered)
	got := rc.waitFor(id, webhook.MessageAccepted, webhook.MessageDelivered)
	acc := got[webhook.MessageAccepted]
	if acc.Credential != "app" || acc.From != "app@example.com" || !slices.Equal(acc.Recipients, []string{"user@example.net"}) ||
		acc.Subject != "order 1042" || acc.MessageIDHeader != "<order-1042@example.com>" {
		t.Errorf("message.accepted data %+v", acc)
	}
	if d := got[webhook.MessageDelivered]; !strings.HasPrefix(d.Response, "250") {
		t.Errorf("message.delivered response %q", d.Response)
	}
}

// A receiver that never answers must not hold up the mail: the message is
// delivered at its release time, by the fake clock, while the receiver
// sits on the request that carries its message.accepted.
func TestHangingReceiverDoesNotDelayMail(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	rc := h.subscribe(h.clock, true)
	id := h.submit("while the receiver hangs")
	select {
	case <-rc.got:
	case <-time.After(10 * time.Second):
		t.Fatal("the receiver never got the accepted event")
	}
	h.clock.Advance(30 * time.Second)
	m := h.waitState(id, spool.Delivered)
	if !m.Finished.Equal(t0.Add(30 * time.Second)) {
		t.Errorf("delivered at %v, want the release time %v", m.Finished, t0.Add(30*time.Second))
	}
	if n := len(rc.received()); n != 0 {
		t.Fatalf("the hanging receiver answered %d events", n)
	}
}

// TestSpoolEventDataIsWebhookMessageData keeps the spool's copy of the
// event names and data fields in step with package webhook's.
func TestSpoolEventDataIsWebhookMessageData(t *testing.T) {
	spoolTypes := []string{spool.EvMessageAccepted, spool.EvMessageHeld, spool.EvMessageReleased, spool.EvMessageFlushed,
		spool.EvMessageDeferred, spool.EvMessageDelivered, spool.EvMessageFailed, spool.EvMessageDropped,
		spool.EvCredentialAdded, spool.EvCredentialRotated, spool.EvCredentialDisabled, spool.EvCredentialEnabled,
		spool.EvCredentialRemoved, spool.EvPauseStarted, spool.EvPauseEnded, spool.EvBatchPaused, spool.EvBatchResumed,
		spool.EvBatchCancelled, spool.EvWebhookTest}
	for _, typ := range spoolTypes {
		if !slices.Contains(webhook.Types, typ) {
			t.Errorf("the spool writes %q, which package webhook does not know", typ)
		}
	}
	h := newHarness(t, harnessConfig{upstream: nil})
	id := h.submit("fields")
	if _, err := h.spool.Drop(spool.Selector{IDs: []spool.ID{id}}, spool.Event{Time: t0, Actor: "uid:0", Reason: "r"}, false); err != nil {
		t.Fatal(err)
	}
	evs, err := h.spool.Events(0, 10)
	if err != nil || len(evs) != 2 {
		t.Fatalf("events %v %v", evs, err)
	}
	for _, e := range evs {
		var d webhook.MessageData
		dec := json.NewDecoder(bytes.NewReader(e.Data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&d); err != nil {
			t.Errorf("%s data %s is not webhook.MessageData: %v", e.Type, e.Data, err)
			continue
		}
		again, _ := json.Marshal(d)
		if !jsonEqual(t, again, e.Data) {
			t.Errorf("%s data changes through webhook.MessageData:\n%s\n%s", e.Type, e.Data, again)
		}
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		t.Fatalf("not JSON: %s / %s", a, b)
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}
