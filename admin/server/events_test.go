package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/admin/server/servertest"
)

// collect reads a whole stream that does not follow.
func collect(t *testing.T, c *admin.Client, req admin.EventsRequest) []admin.OutboxEvent {
	t.Helper()
	var out []admin.OutboxEvent
	if err := c.Events(t.Context(), req, func(e admin.OutboxEvent) error { out = append(out, e); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func types(evs []admin.OutboxEvent) string {
	var ts []string
	for _, e := range evs {
		ts = append(ts, e.Type)
	}
	return strings.Join(ts, " ")
}

// TestEventsFollow: a follower gets an event written after its request
// started, and relayd's shutdown ends the stream instead of waiting for
// the client to leave.
func TestEventsFollow(t *testing.T) {
	r := servertest.Start(t, servertest.Options{Tokens: tokens})
	c := client(t, r.TCP, supportSecret)
	if _, _, err := r.Creds.Add("shop", "", nil); err != nil {
		t.Fatal(err)
	}
	r.Accept(t, "shop")

	got := make(chan admin.OutboxEvent, 10)
	ended := make(chan error, 1)
	go func() {
		ended <- c.Events(context.Background(), admin.EventsRequest{Follow: true, Types: []string{"message.*"}},
			func(e admin.OutboxEvent) error { got <- e; return nil })
	}()
	first := receive(t, got)
	m := r.Accept(t, "shop") // the stream is open: it has sent the first event
	second := receive(t, got)
	if first.Type != "message.accepted" || second.Type != "message.accepted" || second.Seq <= first.Seq ||
		!strings.Contains(string(second.Data), `"message_id":"`+m.ID.String()+`"`) {
		t.Errorf("first %+v\nsecond %+v", first, second)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := r.Server.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with a follower: %v", err)
	}
	select {
	case err := <-ended:
		if err == nil || !strings.Contains(err.Error(), "ended the event stream: it is shutting down") {
			t.Errorf("the stream ended with %v, want a word of the shutdown", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the stream is still open after Shutdown")
	}
}

func receive(t *testing.T, got <-chan admin.OutboxEvent) admin.OutboxEvent {
	t.Helper()
	select {
	case e := <-got:
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no event in 10s")
		return admin.OutboxEvent{}
	}
}

// TestEventsQuery: after, type and the selectors pick events; without
// after the stream starts at the last admin.EventsTail events.
func TestEventsQuery(t *testing.T) {
	r := servertest.Start(t, servertest.Options{})
	c := client(t, r.Socket, "")
	ctx := t.Context()
	for _, name := range []string{"shop", "billing"} {
		if _, err := c.AddCredential(ctx, admin.AddCredentialRequest{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	r.Accept(t, "shop")
	r.Accept(t, "billing")
	if _, err := c.Hold(ctx, admin.ActionRequest{Selector: admin.Selector{Credential: "billing"}, Reason: "check"}); err != nil {
		t.Fatal(err)
	}

	all := collect(t, c, admin.EventsRequest{})
	if got := types(all); got != "credential.added credential.added message.accepted message.accepted message.held" {
		t.Fatalf("every event: %s", got)
	}
	if all[0].ID == "" || all[0].Timestamp != servertest.Now || all[0].Seq == 0 {
		t.Errorf("first event: %+v", all[0])
	}
	tests := []struct {
		req  admin.EventsRequest
		want string
	}{
		{admin.EventsRequest{After: &all[2].Seq}, "message.accepted message.held"},
		{admin.EventsRequest{Types: []string{"credential.*", "message.held"}}, "credential.added credential.added message.held"},
		{admin.EventsRequest{Selector: admin.Selector{Credential: "billing"}}, "credential.added message.accepted message.held"},
		{admin.EventsRequest{Selector: admin.Selector{From: "@example.com", To: "someone@example.org"}}, "message.accepted message.accepted message.held"},
		{admin.EventsRequest{Selector: admin.Selector{To: "@elsewhere.example"}}, ""},
	}
	for _, tt := range tests {
		if got := types(collect(t, c, tt.req)); got != tt.want {
			t.Errorf("%+v: %s, want %s", tt.req, got, tt.want)
		}
	}

	for i := range admin.EventsTail {
		if _, err := c.AddCredential(ctx, admin.AddCredentialRequest{Name: fmt.Sprintf("c%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if tail := collect(t, c, admin.EventsRequest{}); len(tail) != admin.EventsTail || tail[0].Seq != all[4].Seq+1 {
		t.Errorf("without after: %d events from seq %d, want %d from %d", len(tail), tail[0].Seq, admin.EventsTail, all[4].Seq+1)
	}
}

// TestEventsRefusals: what the stream cannot honour is a 400 that says
// why, before any line.
func TestEventsRefusals(t *testing.T) {
	r := servertest.Start(t, servertest.Options{})
	for query, want := range map[string]string{
		"type=message.nope":  `unknown event type "message.nope"`,
		"state=held":         "select messages, not events",
		"older_than=1h":      "select messages, not events",
		"after=-1":           `after="-1"`,
		"follow=maybe":       `follow="maybe"`,
		"credential=Bad+One": "invalid credential name",
		"limit=5":            `unknown query parameter "limit"`,
	} {
		resp, body := raw(t, r, http.MethodGet, "/v1/events?"+query, "")
		var e admin.Error
		if err := json.Unmarshal([]byte(body), &e); err != nil || resp.StatusCode != http.StatusBadRequest || !strings.Contains(e.Error.Message, want) {
			t.Errorf("%s: %d %s, want 400 saying %s", query, resp.StatusCode, body, want)
		}
	}
	resp, body := raw(t, r, http.MethodGet, "/v1/events", "")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != admin.EventsContentType || body != "" {
		t.Errorf("an empty outbox: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}
