package relay

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/holdrelay/relay/internal/smtptest"
	"github.com/holdrelay/relay/spool"
)

// refuseGhosts is an upstream that answers 550 to ghost@example.net and
// takes everything else.
func refuseGhosts(also ...string) *smtptest.Server {
	return &smtptest.Server{OnRcpt: func(to string) error {
		if to == "ghost@example.net" || strings.Contains(strings.Join(also, " "), to) {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user here"}
		}
		return nil
	}}
}

// TestBounceOnPermanentFailure: a 550 sends the sender exactly one DSN,
// from the null reverse path, a multipart/report that names the failed
// recipient and the upstream's reply and returns the original header;
// the failed record and its message.failed event name it.
func TestBounceOnPermanentFailure(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessConfig{upstream: refuseGhosts(), intake: IntakeConfig{Hold: time.Nanosecond},
		disp: DispatcherConfig{Bounces: true, Hostname: "relay.test"}})
	reply, err := send(t, h.login(), "app@example.com", []string{"ghost@example.net", "user@example.net"}, message("bounce me"))
	if err != nil {
		t.Fatal(err)
	}
	id := queuedID(t, reply)
	h.clock.Advance(time.Second)
	m := h.waitState(id, spool.Failed)
	if m.DSN == 0 {
		t.Fatal("failed message names no DSN")
	}
	dsn := h.waitState(m.DSN, spool.Delivered)
	h.settle()
	if dsn.From != "" || dsn.BounceOf != id || dsn.Credential != "app" || len(dsn.Rcpts) != 1 || dsn.Rcpts[0].Addr != "app@example.com" {
		t.Errorf("DSN record: %+v", dsn)
	}
	var dsns []smtptest.Message
	for _, msg := range h.upstream.Messages() {
		if msg.From == "" {
			dsns = append(dsns, msg)
		}
	}
	if len(dsns) != 1 || len(dsns[0].To) != 1 || dsns[0].To[0] != "app@example.com" {
		t.Fatalf("want one DSN from <> to the sender; upstream got %+v", h.upstream.Messages())
	}
	parts := parseReport(t, dsns[0].Data)
	status := parts["message/delivery-status"]
	for _, want := range []string{"Reporting-MTA: dns; relay.test", "Final-Recipient: rfc822; ghost@example.net",
		"Action: failed", "Status: 5.1.1", "Diagnostic-Code: smtp; 550 5.1.1 no such user here"} {
		if !strings.Contains(status, want) {
			t.Errorf("delivery-status lacks %q:\n%s", want, status)
		}
	}
	if strings.Contains(status, "user@example.net") {
		t.Errorf("delivery-status names the delivered recipient:\n%s", status)
	}
	if !strings.Contains(parts["text/rfc822-headers"], "Subject: bounce me") || strings.Contains(parts["text/rfc822-headers"], "Hello.") {
		t.Errorf("returned header:\n%s", parts["text/rfc822-headers"])
	}
	if !strings.Contains(parts["text/plain"], "<ghost@example.net>: 550 5.1.1 no such user here") {
		t.Errorf("text part:\n%s", parts["text/plain"])
	}
	if got := failedEventDSN(t, h.spool, id); got != m.DSN.String() {
		t.Errorf("message.failed dsn_message_id %q, want %s", got, m.DSN)
	}
}

// parseReport checks msg is an RFC 3464 report and returns its parts'
// bodies by content type.
func parseReport(t *testing.T, msg []byte) map[string]string {
	t.Helper()
	r, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("content type %q (%v)", r.Header.Get("Content-Type"), err)
	}
	out := map[string]string{}
	var order []string
	mr := multipart.NewReader(r.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		b, _ := io.ReadAll(p)
		out[ct] = string(b)
		order = append(order, ct)
	}
	if strings.Join(order, ",") != "text/plain,message/delivery-status,text/rfc822-headers" {
		t.Fatalf("report parts %v", order)
	}
	return out
}

// failedEventDSN is dsn_message_id of id's message.failed event.
func failedEventDSN(t *testing.T, sp *spool.Spool, id spool.ID) string {
	t.Helper()
	evs, err := sp.Events(0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		var d struct {
			MessageID string `json:"message_id"`
			DSN       string `json:"dsn_message_id"`
		}
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			t.Fatal(err)
		}
		if ev.Type == spool.EvMessageFailed && d.MessageID == id.String() {
			return d.DSN
		}
	}
	t.Fatalf("no message.failed event for %s", id)
	return ""
}

// TestNoBounce: no DSN for a null sender, with --bounces off, nor for a
// DSN that fails itself (never a bounce of a bounce).
func TestNoBounce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		from    string
		bounces bool
		up      *smtptest.Server
		want    int // messages in the spool at the end
	}{
		{"null sender", "", true, refuseGhosts(), 1},
		{"bounces off", "app@example.com", false, refuseGhosts(), 1},
		{"bounce of a bounce", "app@example.com", true, refuseGhosts("app@example.com"), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessConfig{upstream: tt.up, intake: IntakeConfig{Hold: time.Nanosecond},
				disp: DispatcherConfig{Bounces: tt.bounces, Hostname: "relay.test"}})
			reply, err := send(t, h.login(), tt.from, []string{"ghost@example.net"}, message("no bounce"))
			if err != nil {
				t.Fatal(err)
			}
			id := queuedID(t, reply)
			h.clock.Advance(time.Second)
			m := h.waitState(id, spool.Failed)
			if tt.want == 2 {
				if m.DSN == 0 {
					t.Fatal("no DSN for the first failure")
				}
				if d := h.waitState(m.DSN, spool.Failed); d.DSN != 0 {
					t.Errorf("the failed DSN was bounced: %s", d.DSN)
				}
			} else if m.DSN != 0 {
				t.Errorf("DSN %s sent", m.DSN)
			}
			h.settle()
			n, err := h.spool.Counts()
			if err != nil {
				t.Fatal(err)
			}
			total := 0
			for _, c := range n {
				total += c
			}
			if total != tt.want || len(h.upstream.Messages()) != 0 {
				t.Errorf("%d messages in the spool (%v), %d at the upstream; want %d and 0", total, n, len(h.upstream.Messages()), tt.want)
			}
		})
	}
}

// FuzzBuildDSN: whatever the upstream replied and whatever header the
// failed message had, the DSN is a well-formed report whose status part
// keeps each field on its line.
func FuzzBuildDSN(f *testing.F) {
	f.Add("550 5.1.1 no such user", []byte("Subject: x\r\n\r\nbody\r\n"))
	f.Add("dial tcp: connection refused", []byte("no header at all"))
	f.Add("550 multi\r\nline\r\n--boundary", []byte("Subject: \xff\r\n folded\r\n\r\n"))
	f.Fuzz(func(t *testing.T, reply string, body []byte) {
		m := spool.Message{ID: 7, From: "app@example.com", Received: t0}
		_, out := buildDSN(dsnInfo{hostname: "relay.test", msg: m, body: body, now: t0,
			failed: []spool.Recipient{{Addr: "ghost@example.net", State: spool.RcptFailed, Reply: reply}}})
		r, err := mail.ReadMessage(bytes.NewReader(out))
		if err != nil {
			t.Fatal(err)
		}
		_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil {
			t.Fatal(err)
		}
		mr := multipart.NewReader(r.Body, params["boundary"])
		if _, err := mr.NextPart(); err != nil {
			t.Fatal(err)
		}
		st, err := mr.NextPart()
		if err != nil {
			t.Fatal(err)
		}
		status, _ := io.ReadAll(st)
		for _, line := range strings.Split(strings.TrimSpace(string(status)), "\r\n") {
			if line != "" && !strings.Contains(line, ": ") {
				t.Fatalf("status part line %q is not a field", line)
			}
		}
	})
}
