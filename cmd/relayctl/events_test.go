package main

import (
	"testing"

	"github.com/holdrelay/relay/admin"
)

// The summary says what the data says that matters to an operator: a
// drop the upstream may have had does not read as a plain drop, and the
// words given with a hold are shown beside who decided.
func TestEventSummary(t *testing.T) {
	for _, tc := range []struct{ typ, data, want string }{
		{"message.dropped", `{"message_id":"m1","actor":"token:ops","reason":"wrong list"}`, "by token:ops: wrong list"},
		{"message.dropped", `{"message_id":"m1","actor":"token:ops","reason":"wrong list","maybe_delivered":true}`,
			"maybe delivered; by token:ops: wrong list"},
		{"message.held", `{"message_id":"m1","actor":"token:ops","reason":"operator","note":"customer asked"}`,
			"by token:ops: operator: customer asked"},
		{"message.accepted", `{"message_id":"m1","from":"a@example.com","recipients":["b@example.org"],"subject":"Hi"}`,
			`a@example.com -> b@example.org "Hi"`},
	} {
		if got := eventSummary(admin.OutboxEvent{Type: tc.typ, Data: []byte(tc.data)}); got != tc.want {
			t.Errorf("%s %s: summary %q, want %q", tc.typ, tc.data, got, tc.want)
		}
	}
}
