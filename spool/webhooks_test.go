package spool

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func addHook(t *testing.T, s *Spool, name string) Webhook {
	t.Helper()
	w, err := s.AddWebhook(Webhook{Name: name, URL: "https://example.com/" + name, Format: "standard",
		Secret: []byte("key"), Created: t0, CreatedBy: "uid:0"}, &AuditEntry{Time: t0, Actor: "uid:0", Action: "webhook add"})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestWebhooksAreStoredWithACursorAtTheNewestEvent(t *testing.T) {
	s, _ := openTest(t)
	accept(t, s, time.Minute)
	last, err := s.LastEventSeq()
	if err != nil || last == 0 {
		t.Fatalf("last event after an accept: %d %v", last, err)
	}
	w := addHook(t, s, "crm")
	if w.Cursor != last {
		t.Fatalf("a new webhook starts at %d, want the newest event %d", w.Cursor, last)
	}
	if _, err := s.AddWebhook(Webhook{Name: "crm", URL: "https://other"}, nil); !errors.Is(err, ErrExists) {
		t.Fatalf("a second crm: %v, want ErrExists", err)
	}
	addHook(t, s, "billing")
	hooks, err := s.Webhooks()
	if err != nil || len(hooks) != 2 || hooks[0].Name != "billing" || hooks[1].Name != "crm" {
		t.Fatalf("webhooks: %+v %v", hooks, err)
	}
	got, err := s.Webhook("crm")
	if err != nil || string(got.Secret) != "key" || got.URL != "https://example.com/crm" || got.CreatedBy != "uid:0" {
		t.Fatalf("crm: %+v %v", got, err)
	}
	if err := s.RemoveWebhook("crm", &AuditEntry{Time: t0, Actor: "uid:0", Action: "webhook rm"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Webhook("crm"); !errors.Is(err, ErrNotFound) || err.Error() != `no such webhook "crm"` {
		t.Fatalf("removed crm: %v", err)
	}
	if err := s.RemoveWebhook("crm", nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removing crm twice: %v", err)
	}
	audit, _ := s.Audit(0, 10)
	if len(audit) != 3 || audit[0].Action != "webhook rm" || audit[1].Action != "webhook add" {
		t.Fatalf("audit: %+v", audit)
	}
}

func TestWebhookTestEventIsForItsWebhookOnly(t *testing.T) {
	s, _ := openTest(t)
	addHook(t, s, "crm")
	changed := s.EventsChanged()
	ev, err := s.TestWebhook("crm", &AuditEntry{Time: t0, Actor: "uid:7", Action: "webhook test"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	default:
		t.Fatal("EventsChanged not closed after a commit that wrote an event")
	}
	evs, err := s.Events(0, 10)
	if err != nil || len(evs) != 1 {
		t.Fatalf("events: %+v %v", evs, err)
	}
	got := evs[0]
	if got.Type != EvWebhookTest || got.Endpoint != "crm" || got.ID != ev.ID || got.Seq != ev.Seq || !got.Time.Equal(t0) || len(got.ID) != 17 {
		t.Fatalf("test event %+v, returned %+v", got, ev)
	}
	var d map[string]any
	if err := json.Unmarshal(got.Data, &d); err != nil || d["webhook"] != "crm" || d["actor"] != "uid:7" {
		t.Fatalf("data %s: %v", got.Data, err)
	}
	if _, err := s.TestWebhook("nope", nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("test of no webhook: %v", err)
	}
}

func TestWebhookCursorMovesForwardOnly(t *testing.T) {
	s, _ := openTest(t)
	addHook(t, s, "crm")
	for range 3 {
		accept(t, s, time.Minute)
	}
	evs, _ := s.Events(0, 100)
	if len(evs) != 3 {
		t.Fatalf("%d events for 3 accepts", len(evs))
	}
	if err := s.AckWebhook("crm", evs[1].Seq); err != nil {
		t.Fatal(err)
	}
	if err := s.AckWebhook("crm", evs[0].Seq); err != nil {
		t.Fatal(err)
	}
	if c, err := s.WebhookCursor("crm"); err != nil || c != evs[1].Seq {
		t.Fatalf("cursor %d %v, want %d", c, err, evs[1].Seq)
	}
	if after, _ := s.Events(evs[1].Seq, 100); len(after) != 1 || after[0].Seq != evs[2].Seq {
		t.Fatalf("events after the cursor: %+v", after)
	}
	if err := s.GiveUpWebhook("crm", evs[2].Seq, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.DisableWebhook("crm", "410 Gone"); err != nil {
		t.Fatal(err)
	}
	w, _ := s.Webhook("crm")
	if w.Cursor != evs[2].Seq || !w.Disabled || w.DisabledReason != "410 Gone" {
		t.Fatalf("after give-up and disable: %+v", w)
	}
	audit, _ := s.Audit(0, 10)
	if len(audit) < 3 || audit[0].Action != "webhook disable" || audit[1].Action != "webhook give-up" ||
		audit[1].Counts["given_up"] != 1 || audit[1].Actor != "relayd" {
		t.Fatalf("audit: %+v", audit)
	}
	if err := s.AckWebhook("gone", 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ack of no webhook: %v", err)
	}
}

func TestEventsChangedIsNotClosedByWritesWithoutEvents(t *testing.T) {
	s, _ := openTest(t)
	addHook(t, s, "crm")
	changed := s.EventsChanged()
	if err := s.AckWebhook("crm", 0); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
		t.Fatal("closed by a commit that wrote no event")
	default:
	}
	accept(t, s, time.Minute)
	select {
	case <-changed:
	default:
		t.Fatal("not closed by an accept")
	}
}

// Each commit with events closes the channel taken before it, and only
// that one: readers that take the next before reading miss nothing.
func TestEventsChangedOncePerCommit(t *testing.T) {
	s, _ := openTest(t)
	first := s.EventsChanged()
	if s.EventsChanged() != first {
		t.Fatal("two channels for the same next commit")
	}
	accept(t, s, time.Minute)
	<-first
	next := s.EventsChanged()
	select {
	case <-next:
		t.Fatal("the channel after a commit is closed before the next one")
	default:
	}
	accept(t, s, time.Minute)
	select {
	case <-next:
	default:
		t.Fatal("the second commit did not close the channel taken after the first")
	}
}

// TestUnreadableWebhookIsNamedNotFatal: one webhook record that cannot be
// decoded leaves the others listed, is named by Unreadable, keeps its
// events from expiring early, and can be removed.
func TestUnreadableWebhookIsNamedNotFatal(t *testing.T) {
	s, _ := openTest(t)
	addHook(t, s, "billing")
	addHook(t, s, "crm")
	emitN(t, s, KeepEvents+100, t0)
	if err := s.AckWebhook("billing", KeepEvents+100); err != nil {
		t.Fatal(err)
	}
	if err := s.SpoilRecord("webhook", "crm"); err != nil {
		t.Fatal(err)
	}
	hooks, err := s.Webhooks()
	if err != nil || len(hooks) != 1 || hooks[0].Name != "billing" {
		t.Fatalf("webhooks with crm unreadable: %+v %v", hooks, err)
	}
	if bad, err := s.Unreadable(); err != nil || len(bad) != 1 || bad[0] != "webhook crm" {
		t.Fatalf("Unreadable: %q %v", bad, err)
	}
	if n := expireAll(t, s, t0.Add(-time.Hour)); n != 0 {
		t.Errorf("expired %d events an unreadable webhook may not have had", n)
	}
	if err := s.RemoveWebhook("crm", nil); err != nil {
		t.Fatalf("removing the unreadable webhook: %v", err)
	}
	if bad, _ := s.Unreadable(); len(bad) != 0 {
		t.Errorf("after removing it: %q", bad)
	}
	mustCheck(t, s)
}
