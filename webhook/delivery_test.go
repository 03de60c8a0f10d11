package webhook_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdrelay/relay/internal/clock"
	"github.com/holdrelay/relay/webhook"
)

func eventIDs(t *testing.T, body []byte) []string {
	t.Helper()
	var evs []struct{ ID string }
	if err := json.Unmarshal(body, &evs); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	ids := make([]string, len(evs))
	for i, e := range evs {
		ids[i] = e.ID
	}
	return ids
}

// 250 matching events among 50 others go out as 100, 100 and 50, in
// order, and the cursor ends past the last event, which matches nothing.
func TestBatchesOfAHundredSkippingUnmatched(t *testing.T) {
	h := start(t, webhook.Config{})
	rc := newReceiver(t, nil)
	var want []string
	for i := range 300 {
		if i%6 == 5 {
			h.out.add(webhook.CredentialAdded, t0, nil)
			continue
		}
		want = append(want, h.out.add(webhook.MessageAccepted, t0, message("m", "a@example.org")).ID)
	}
	ep, _ := standard(t, "crm", rc.srv.URL, "message.*")
	h.add(t, ep)

	var got []string
	for _, size := range []int{100, 100, 50} {
		ids := eventIDs(t, rc.next(t).body)
		if len(ids) != size {
			t.Fatalf("a POST held %d events, want %d", len(ids), size)
		}
		got = append(got, ids...)
	}
	if !slices.Equal(got, want) {
		t.Errorf("events out of order or missing:\n got %v\nwant %v", got, want)
	}
	h.waitStatus(t, "crm", func(st webhook.Status) bool { return st.Cursor == 300 })
	if acks := h.out.ackList("crm"); !slices.Equal(acks, []uint64{119, 239, 300}) {
		t.Errorf("acks %v, want through 119, 239, 300", acks)
	}
}

// A 500 is retried after the backoff with the same body and webhook-id and
// a new timestamp; the cursor moves only after the 200.
func TestRetrySendsTheSameBodyAndID(t *testing.T) {
	h := start(t, webhook.Config{})
	rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 0 {
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	ep, secret := standard(t, "crm", rc.srv.URL)
	e := h.out.add(webhook.MessageDelivered, t0, message("m1", "a@example.org"))
	h.add(t, ep)

	first := rc.next(t)
	st := h.waitStatus(t, "crm", func(st webhook.Status) bool { return st.Failures == 1 })
	if h.out.cursor("crm") != 0 || st.Cursor != 0 {
		t.Fatalf("cursor moved after a 500: outbox %d, status %d", h.out.cursor("crm"), st.Cursor)
	}
	if wait := st.NextAttempt.Sub(t0); wait < 5*time.Second || wait > time.Hour {
		t.Errorf("first retry after %v, want 5s..1h", wait)
	}
	if !strings.Contains(st.LastError, "500") {
		t.Errorf("last error %q does not name the 500", st.LastError)
	}
	h.clk.Set(st.NextAttempt)
	second := rc.next(t)

	if string(second.body) != string(first.body) || second.header.Get("webhook-id") != first.header.Get("webhook-id") {
		t.Errorf("retry differs:\n%s %s\n%s %s", first.header.Get("webhook-id"), first.body,
			second.header.Get("webhook-id"), second.body)
	}
	if !strings.HasPrefix(first.header.Get("webhook-id"), "msg_") {
		t.Errorf("webhook-id %q", first.header.Get("webhook-id"))
	}
	if second.header.Get("webhook-timestamp") == first.header.Get("webhook-timestamp") {
		t.Error("retry kept the first attempt's timestamp")
	}
	if err := verify(secret, second.header, second.body, h.clk.Now()); err != nil {
		t.Errorf("retry signature: %v", err)
	}
	st = h.waitStatus(t, "crm", func(st webhook.Status) bool { return st.Cursor == e.Seq })
	if st.Failures != 0 || !st.LastSuccess.Equal(h.clk.Now()) {
		t.Errorf("status after success %+v", st)
	}
	if acks := h.out.ackList("crm"); !slices.Equal(acks, []uint64{e.Seq}) {
		t.Errorf("acks %v, want one through %d", acks, e.Seq)
	}
	if n := h.metric(t, "relay_webhook_requests_total", "crm", "failed"); n != 1 {
		t.Errorf("failed requests counted %v, want 1", n)
	}
}

func TestGoneDisablesTheEndpoint(t *testing.T) {
	h := start(t, webhook.Config{})
	rc := newReceiver(t, status(http.StatusGone))
	ep, _ := standard(t, "crm", rc.srv.URL)
	h.out.add(webhook.MessageAccepted, t0, message("m1", "a@example.org"))
	h.add(t, ep)

	rc.next(t)
	st := h.waitStatus(t, "crm", func(st webhook.Status) bool { return st.Disabled != "" })
	h.out.mu.Lock()
	reason := h.out.disabled["crm"]
	h.out.mu.Unlock()
	if reason == "" || st.Cursor != 0 || h.out.cursor("crm") != 0 {
		t.Errorf("after 410: outbox disabled %q, cursor %d/%d", reason, st.Cursor, h.out.cursor("crm"))
	}
	h.out.add(webhook.MessageAccepted, t0, message("m2", "a@example.org"))
	h.clk.Advance(time.Hour) // past any retry or poll
	select {
	case r := <-rc.got:
		t.Errorf("a disabled endpoint got another POST: %s", r.body)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestRedirectIsAFailureNotFollowed(t *testing.T) {
	h := start(t, webhook.Config{})
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/moved" {
			http.Redirect(w, r, "/moved", http.StatusFound)
		}
	})
	ep, _ := standard(t, "crm", rc.srv.URL+"/hook")
	h.out.add(webhook.MessageAccepted, t0, message("m1", "a@example.org"))
	h.add(t, ep)

	if r := rc.next(t); r.path != "/hook" {
		t.Fatalf("first request to %s", r.path)
	}
	st := h.waitStatus(t, "crm", func(st webhook.Status) bool { return st.Failures == 1 })
	if !strings.Contains(st.LastError, "302") || h.out.cursor("crm") != 0 {
		t.Errorf("after a 302: last error %q, cursor %d", st.LastError, h.out.cursor("crm"))
	}
	select {
	case r := <-rc.got:
		t.Errorf("redirect followed to %s", r.path)
	case <-time.After(100 * time.Millisecond):
	}
}

// A receiver that never answers costs its endpoint one timeout per
// attempt, and the other endpoint gets its events meanwhile.
func TestHangingEndpointDelaysNoOther(t *testing.T) {
	h := start(t, webhook.Config{Timeout: 500 * time.Millisecond})
	release := make(chan struct{})
	defer close(release)
	hung := newReceiver(t, func(_ int, _ http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	fine := newReceiver(t, nil)
	slow, _ := standard(t, "slow", hung.srv.URL)
	quick, _ := standard(t, "quick", fine.srv.URL)
	h.add(t, slow)
	e := h.out.add(webhook.MessageAccepted, t0, message("m1", "a@example.org"))
	hung.next(t) // now hanging
	h.add(t, quick)
	if ids := eventIDs(t, fine.next(t).body); !slices.Equal(ids, []string{e.ID}) {
		t.Errorf("the other endpoint got %v", ids)
	}
	if st, _ := h.m.Status("slow"); st.Failures != 0 {
		t.Fatalf("the other endpoint was served only after the hanging one timed out: %+v", st)
	}
	st := h.waitStatus(t, "slow", func(st webhook.Status) bool { return st.Failures == 1 })
	if !strings.Contains(st.LastError, "deadline exceeded") || h.out.cursor("slow") != 0 {
		t.Errorf("hanging endpoint: last error %q, cursor %d", st.LastError, h.out.cursor("slow"))
	}
}

// Events that stay undeliverable past MaxAge are given up: one last
// attempt when the age runs out, then the cursor passes them, with a
// metric, and later events go out as usual.
func TestGiveUpAfterMaxAge(t *testing.T) {
	h := start(t, webhook.Config{MaxAge: 2 * time.Hour})
	var up atomic.Bool
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		if !up.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	ep, _ := standard(t, "crm", rc.srv.URL)
	old := h.out.add(webhook.MessageAccepted, t0, message("m1", "a@example.org"))
	h.add(t, ep)

	// One request read per attempt, the last included: the loop ends on the
	// status that request led to, not on the outbox cursor, which can move
	// after the clock is set and before the request is read; that request,
	// left unread, was then taken for a POST after the give-up.
	attempts := 0
	for {
		rc.next(t)
		attempts++
		st := h.waitStatus(t, "crm", func(st webhook.Status) bool {
			return st.Failures == attempts || st.Cursor != 0
		})
		if st.Cursor != 0 {
			break
		}
		if !st.NextAttempt.After(h.clk.Now()) || st.NextAttempt.After(t0.Add(2*time.Hour)) {
			t.Fatalf("retry planned at %v, not between now (%v) and the max age", st.NextAttempt, h.clk.Now())
		}
		h.clk.Set(st.NextAttempt)
	}
	if !h.clk.Now().Equal(t0.Add(2*time.Hour)) || attempts < 3 {
		t.Errorf("gave up at %v after %d attempts; want at the max age, after a few", h.clk.Now(), attempts)
	}
	h.out.mu.Lock()
	giveUps := slices.Clone(h.out.giveUps["crm"])
	h.out.mu.Unlock()
	if !slices.Equal(giveUps, [][2]uint64{{old.Seq, 1}}) || len(h.out.ackList("crm")) != 0 {
		t.Errorf("give-ups %v, acks %v", giveUps, h.out.ackList("crm"))
	}
	if n := h.metric(t, "relay_webhook_events_total", "crm", "given_up"); n != 1 {
		t.Errorf("given-up events counted %v, want 1", n)
	}

	up.Store(true)
	next := h.out.add(webhook.MessageAccepted, h.clk.Now(), message("m2", "a@example.org"))
	if ids := eventIDs(t, rc.next(t).body); !slices.Equal(ids, []string{next.ID}) {
		t.Errorf("after the give-up the endpoint got %v, want %s", ids, next.ID)
	}
}

// A batch rebuilt by a new Manager after a restart has the same webhook-id,
// so a receiver that handled it before the crash can tell.
func TestWebhookIDSurvivesRestart(t *testing.T) {
	rc := newReceiver(t, status(http.StatusInternalServerError))
	ep, _ := standard(t, "crm", rc.srv.URL)
	out := newMemOutbox()
	out.add(webhook.MessageAccepted, t0, message("m1", "a@example.org"))
	out.add(webhook.MessageDropped, t0, message("m2", "a@example.org"))
	var ids []string
	for range 2 {
		m := webhook.NewManager(webhook.Config{Outbox: out, Clock: clock.NewFake(t0)})
		if err := m.Add(ep); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { m.Run(ctx); close(done) }()
		ids = append(ids, rc.next(t).header.Get("webhook-id"))
		cancel()
		<-done
	}
	if ids[0] == "" || ids[0] != ids[1] {
		t.Errorf("webhook-id before and after the restart: %q, %q", ids[0], ids[1])
	}
	other, _ := standard(t, "other", rc.srv.URL)
	m := webhook.NewManager(webhook.Config{Outbox: out, Clock: clock.NewFake(t0)})
	m.Add(other)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	if id := rc.next(t).header.Get("webhook-id"); id == ids[0] {
		t.Errorf("two endpoints share the webhook-id %q", id)
	}
}

// A batch settles in one step of the status: whoever reads the new cursor
// (the admin API, a test) reads the failures cleared with it, and finds
// the outbox and the metrics already updated. Each round fails once, then
// is delivered or, on even rounds, given up; a reader polls meanwhile.
func TestStatusSettlesInOneStep(t *testing.T) {
	const maxAge, rounds = time.Hour, 50
	h := start(t, webhook.Config{MaxAge: maxAge})
	var up atomic.Bool
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		if !up.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	ep, _ := standard(t, "crm", rc.srv.URL)
	h.add(t, ep)
	torn := pollStatus(t, h, "crm", func(st webhook.Status) bool {
		return st.Failures != 0 && st.Cursor == uint64(h.out.len())
	})

	for i := range rounds {
		up.Store(false)
		at := h.clk.Now()
		if i%2 == 0 { // its last attempt comes at the first retry
			at = at.Add(5*time.Second - maxAge)
		}
		e := h.out.add(webhook.MessageAccepted, at, message("m", "a@example.org"))
		rc.next(t)
		st := h.waitStatus(t, "crm", func(st webhook.Status) bool { return st.Failures == 1 })
		up.Store(i%2 == 1)
		h.clk.Set(st.NextAttempt)
		rc.next(t)
		h.waitStatus(t, "crm", func(st webhook.Status) bool { return st.Cursor == e.Seq && st.Failures == 0 })
	}
	if n := torn(); n != 0 {
		t.Errorf("%d reads showed the new cursor beside the failures of the batch it settled", n)
	}
	delivered := h.metric(t, "relay_webhook_events_total", "crm", "delivered")
	givenUp := h.metric(t, "relay_webhook_events_total", "crm", "given_up")
	if delivered != rounds/2 || givenUp != rounds/2 {
		t.Errorf("events counted delivered %v, given up %v; want %d each", delivered, givenUp, rounds/2)
	}
}
