package webhook_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/holdrelay/relay/webhook"
)

// sendGrid returns a valid SendGrid-format endpoint for url.
func sendGrid(t *testing.T, name, url string) webhook.Endpoint {
	t.Helper()
	key, _, err := webhook.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return webhook.Endpoint{Name: name, URL: url, Format: webhook.FormatSendGrid, PrivateKey: key}
}

// bodyHas reports whether a request body names each of ids (relay IDs or
// event IDs) and none of not.
func bodyHas(body []byte, ids []string, not ...string) bool {
	for _, id := range ids {
		if !strings.Contains(string(body), `"`+id+`"`) {
			return false
		}
	}
	for _, id := range not {
		if strings.Contains(string(body), `"`+id+`"`) {
			return false
		}
	}
	return true
}

// An event the format cannot carry (its data is not what the spool should
// write) is given up, as an expired one is: a give-up in the outbox (which
// audits it), a metric and the last error, instead of failing every
// attempt and blocking the events behind it. The events around it go out
// in order, in the batches before and after it.
func TestUnencodableEventIsGivenUp(t *testing.T) {
	for _, format := range []string{webhook.FormatStandard, webhook.FormatSendGrid} {
		t.Run(format, func(t *testing.T) {
			h := start(t, webhook.Config{})
			rc := newReceiver(t, nil)
			ep, _ := standard(t, "crm", rc.srv.URL)
			if format == webhook.FormatSendGrid {
				ep = sendGrid(t, "crm", rc.srv.URL)
			}
			h.out.add(webhook.MessageAccepted, t0, message("m1", "a@example.org"))
			bad := h.out.add(webhook.MessageAccepted, t0, nil)
			h.out.mu.Lock()
			h.out.events[1].Data = []byte(`{"recipients": "not a list"`)
			h.out.mu.Unlock()
			last := h.out.add(webhook.MessageDelivered, t0, message("m3", "a@example.org"))
			h.add(t, ep)

			if b := rc.next(t).body; !bodyHas(b, []string{"m1"}, "m3") || strings.Contains(string(b), "not a list") {
				t.Errorf("first body %s, want m1 alone", b)
			}
			if b := rc.next(t).body; !bodyHas(b, []string{"m3"}, "m1") {
				t.Errorf("second body %s, want m3 alone", b)
			}
			h.waitStatus(t, "crm", func(st webhook.Status) bool { return st.Cursor == last.Seq })
			if got := h.out.giveUpList("crm"); !slices.Equal(got, [][2]uint64{{bad.Seq, 1}}) {
				t.Errorf("give-ups %v, want one through %d", got, bad.Seq)
			}
			if n := h.metric(t, "relay_webhook_events_total", "crm", "given_up"); n != 1 {
				t.Errorf("given-up events counted %v, want 1", n)
			}
			if st, _ := h.m.Status("crm"); !strings.Contains(st.LastError, bad.ID) {
				t.Errorf("last error %q does not name %s", st.LastError, bad.ID)
			}
		})
	}
}

// A message event without recipients (its record expired before the
// event was read) makes no SendGrid object: it is given up, not acked as
// if it had gone out. A type SendGrid has no word for is the format's
// filter, passed over without a give-up.
func TestSendGridMessageWithoutRecipientsIsGivenUp(t *testing.T) {
	h := start(t, webhook.Config{})
	rc := newReceiver(t, nil)
	h.out.add(webhook.MessageAccepted, t0, message("m1", "a@example.org"))
	h.out.add(webhook.CredentialAdded, t0, map[string]string{"credential": "shop"})
	bare := h.out.add(webhook.MessageDelivered, t0, webhook.MessageData{MessageID: "m2", Response: "250 ok"})
	last := h.out.add(webhook.MessageDelivered, t0, message("m3", "a@example.org"))
	h.add(t, sendGrid(t, "sg", rc.srv.URL))

	if b := rc.next(t).body; !bodyHas(b, []string{"m1"}, "m2", "m3") {
		t.Errorf("first body %s, want m1 alone", b)
	}
	if b := rc.next(t).body; !bodyHas(b, []string{"m3"}, "m1", "m2") {
		t.Errorf("second body %s, want m3 alone", b)
	}
	h.waitStatus(t, "sg", func(st webhook.Status) bool { return st.Cursor == last.Seq })
	if got := h.out.giveUpList("sg"); !slices.Equal(got, [][2]uint64{{bare.Seq, 1}}) {
		t.Errorf("give-ups %v, want one through %d", got, bare.Seq)
	}
	if acks := h.out.ackList("sg"); !slices.Equal(acks, []uint64{bare.Seq - 1, last.Seq}) {
		t.Errorf("acks %v, want through %d (m1 and the credential event) and %d", acks, bare.Seq-1, last.Seq)
	}
	if n := h.metric(t, "relay_webhook_events_total", "sg", "given_up"); n != 1 {
		t.Errorf("given-up events counted %v, want 1", n)
	}
}

// Events the outbox expired before the sender read them (relayd was down
// longer than they are kept) are given up explicitly, as many as the gap
// holds, before the events after the gap go out.
func TestExpiredGapIsGivenUp(t *testing.T) {
	h := start(t, webhook.Config{})
	rc := newReceiver(t, nil)
	var ids []string
	for range 8 {
		ids = append(ids, h.out.add(webhook.MessageAccepted, t0, message("m", "a@example.org")).ID)
	}
	h.out.mu.Lock()
	h.out.cursors["crm"], h.out.expired = 2, 5
	h.out.mu.Unlock()
	ep, _ := standard(t, "crm", rc.srv.URL)
	h.add(t, ep)

	if got := eventIDs(t, rc.next(t).body); !slices.Equal(got, ids[5:]) {
		t.Errorf("after the gap the endpoint got %v, want %v", got, ids[5:])
	}
	h.waitStatus(t, "crm", func(st webhook.Status) bool { return st.Cursor == 8 })
	if got := h.out.giveUpList("crm"); !slices.Equal(got, [][2]uint64{{5, 3}}) {
		t.Errorf("give-ups %v, want 3 events through 5", got)
	}
	if n := h.metric(t, "relay_webhook_events_total", "crm", "given_up"); n != 3 {
		t.Errorf("given-up events counted %v, want 3", n)
	}
}
