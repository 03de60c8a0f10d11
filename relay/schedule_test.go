package relay

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/holdrelay/relay/spool"
)

func scheduled(headers string) string {
	return "From: app@example.com\r\nTo: user@example.net\r\n" + headers + "Subject: scheduled\r\n\r\nHello.\r\n"
}

func TestSendAtWaitsThenGoesOutOnTime(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	sendAt := t0.Add(3 * time.Hour)
	api := fmt.Sprintf("X-SMTPAPI: {\"send_at\": %d, \"batch_id\": \"spring\",\r\n \"category\": [\"news\"], \"unique_args\": {\"user\": 42}}\r\n", sendAt.Unix())
	reply, err := send(t, h.login(), "app@example.com", []string{"user@example.net"}, scheduled(api+"X-Relay-Batch: spring\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	id := queuedID(t, reply)
	m, _ := h.spool.Get(id)
	if !m.Release.Equal(sendAt) || m.State != spool.Waiting || m.Batch != "spring" ||
		m.UniqueArgs["user"] != "42" || len(m.Categories) != 1 {
		t.Fatalf("scheduled message: release %v state %s meta %q %v %v", m.Release, m.State, m.Batch, m.Categories, m.UniqueArgs)
	}

	// Well past the 30s hold window, a second before send_at: nothing goes.
	h.clock.Set(sendAt.Add(-time.Second))
	h.settle()
	if n := len(h.upstream.Messages()); n != 0 {
		t.Fatalf("%d messages delivered before send_at", n)
	}
	h.clock.Set(sendAt)
	got := h.upstream.Wait(t, 1)
	h.waitState(id, spool.Delivered)
	data := got[0].Data
	for _, hdr := range []string{"X-SMTPAPI", "X-Relay-Batch", "unique_args", "send_at"} {
		if bytes.Contains(bytes.ToLower(data), bytes.ToLower([]byte(hdr))) {
			t.Errorf("the upstream received %q:\n%s", hdr, data)
		}
	}
	if !bytes.Contains(data, []byte("Subject: scheduled\r\n\r\nHello.\r\n")) {
		t.Errorf("the rest of the message changed:\n%s", data)
	}
}

// A send_at earlier than the end of the hold window does not shorten it.
func TestSendAtNeverShortensTheHold(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	past := t0.Add(-time.Hour).Format(time.RFC3339)
	reply, err := send(t, h.login(), "app@example.com", []string{"user@example.net"}, scheduled("X-Relay-Send-At: "+past+"\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := h.spool.Get(queuedID(t, reply)); !m.Release.Equal(t0.Add(30 * time.Second)) {
		t.Fatalf("release %v, want the hold window's end", m.Release)
	}
}

func TestMalformedSchedulingHeadersAreRefused(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	c := h.login()
	for _, tc := range []struct{ header, want string }{
		{"X-SMTPAPI: {\"send_at\": \"soon\"}\r\n", "send_at must be a unix timestamp"},
		{"X-SMTPAPI: {broken\r\n", "X-SMTPAPI: not a JSON object"},
		{"X-Relay-Send-At: tomorrow\r\n", "neither RFC 3339"},
		{"X-Relay-Batch: no spaces\r\n", "may only hold"},
	} {
		_, err := send(t, c, "app@example.com", []string{"user@example.net"}, scheduled(tc.header))
		if smtpReply(err) != "554 5.6.0" || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want 554 5.6.0 saying %q", tc.header, err, tc.want)
		}
		c.Reset()
	}
	if n, _ := h.spool.Counts(); n[spool.Waiting] != 0 {
		t.Fatalf("a refused message was spooled: %v", n)
	}
	// The session is still usable after the refusals.
	if _, err := send(t, c, "app@example.com", []string{"user@example.net"}, scheduled("")); err != nil {
		t.Fatalf("a good message after refusals: %v", err)
	}
}

func TestCancelledBatchDropsLaterArrivals(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	c := h.login()
	before, _ := send(t, c, "app@example.com", []string{"user@example.net"}, scheduled("X-Relay-Batch: promo\r\n"))
	ev := operator
	ev.Time = h.clock.Now()
	if _, err := h.spool.SetBatchStatus("promo", spool.BatchCancelled, ev); err != nil {
		t.Fatal(err)
	}
	if res := h.dropWait(spool.Selector{Batch: "promo", All: true}); res.Count(spool.Changed) != 1 {
		t.Fatalf("cancel dropped %v", res.Counts())
	}
	after, err := send(t, c, "app@example.com", []string{"user@example.net"}, scheduled("X-Relay-Batch: promo\r\n"))
	if err != nil {
		t.Fatalf("a later arrival of a cancelled batch is accepted (and dropped): %v", err)
	}
	other, _ := send(t, c, "app@example.com", []string{"user@example.net"}, scheduled("X-Relay-Batch: other\r\n"))
	h.clock.Advance(time.Minute)
	h.upstream.Wait(t, 1)
	h.waitState(queuedID(t, other), spool.Delivered)
	h.settle()
	for _, r := range []string{before, after} {
		if m, _ := h.spool.Get(queuedID(t, r)); m.State != spool.Dropped {
			t.Errorf("message of the cancelled batch is %s", m.State)
		}
	}
	if n := len(h.upstream.Messages()); n != 1 {
		t.Fatalf("the upstream got %d messages, want only the other batch's", n)
	}
}
