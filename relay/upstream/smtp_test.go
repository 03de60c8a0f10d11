package upstream

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/holdrelay/relay/internal/smtptest"
)

// testBody has a line starting with a dot, to see dot-stuffing round-trip.
var testBody = []byte("From: app@example.com\r\nTo: ann@example.net\r\nSubject: hi\r\n\r\nHello.\r\n.a line with a dot\r\n")

var testEnv = Envelope{ID: "0c5v3k2s8f9ga", From: "app@example.com", To: []string{"ann@example.net", "bob@example.net"}}

// dial builds a Transport for up; rawURL has "ADDR" where up's address goes.
func dial(t *testing.T, up *smtptest.Server, rawURL string) Transport {
	t.Helper()
	tr, err := New(strings.Replace(rawURL, "ADDR", up.Addr(), 1), Options{
		Hostname:    "relay.test",
		TLSConfig:   &tls.Config{RootCAs: up.RootCAs()},
		DialTimeout: 5 * time.Second,
		Timeout:     10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func deliver(t *testing.T, tr Transport, env Envelope) []Outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out := tr.Deliver(ctx, env, testBody)
	if len(out) != len(env.To) {
		t.Fatalf("%d outcomes for %d recipients", len(out), len(env.To))
	}
	for i, o := range out {
		if o.Rcpt != env.To[i] {
			t.Fatalf("outcome %d is for %q, want %q", i, o.Rcpt, env.To[i])
		}
	}
	return out
}

func wantAll(t *testing.T, out []Outcome, code int, msgPart string) {
	t.Helper()
	for _, o := range out {
		if o.Code != code || !strings.Contains(o.Message, msgPart) {
			t.Errorf("%s: got %d %q, want %d with %q", o.Rcpt, o.Code, o.Message, code, msgPart)
		}
	}
}

// wantOne checks that up received exactly the test message, as sent.
func wantOne(t *testing.T, up *smtptest.Server, tls bool) smtptest.Message {
	t.Helper()
	msgs := up.Messages()
	if len(msgs) != 1 {
		t.Fatalf("upstream has %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if !bytes.Equal(m.Data, testBody) {
		t.Errorf("upstream got body %q, want %q", m.Data, testBody)
	}
	if m.TLS != tls {
		t.Errorf("message went with TLS=%v, want %v", m.TLS, tls)
	}
	if m.Hello != "relay.test" {
		t.Errorf("EHLO name %q, want relay.test", m.Hello)
	}
	return m
}

func TestDeliver(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mode    smtptest.TLSMode
		url     string
		wantTLS bool
	}{
		{"tls=none", smtptest.Plain, "smtp://ADDR?tls=none", false},
		{"tls=none ignores STARTTLS", smtptest.StartTLS, "smtp://ADDR?tls=none", false},
		{"STARTTLS", smtptest.StartTLS, "smtp://ADDR", true},
		{"opportunistic, offered", smtptest.StartTLS, "smtp://ADDR?tls=opportunistic", true},
		{"opportunistic, not offered", smtptest.Plain, "smtp://ADDR?tls=opportunistic", false},
		{"smtps", smtptest.Implicit, "smtps://ADDR", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := &smtptest.Server{TLS: tc.mode}
			up.Start(t)
			out := deliver(t, dial(t, up, tc.url), testEnv)
			wantAll(t, out, 250, "2.0.0")
			for _, o := range out {
				if !o.Delivered() || o.Permanent() {
					t.Errorf("%+v: Delivered()=%v Permanent()=%v", o, o.Delivered(), o.Permanent())
				}
			}
			m := wantOne(t, up, tc.wantTLS)
			if m.From != testEnv.From || strings.Join(m.To, " ") != strings.Join(testEnv.To, " ") {
				t.Errorf("upstream envelope %q → %q, want %q → %q", m.From, m.To, testEnv.From, testEnv.To)
			}
		})
	}
}

func TestNullSender(t *testing.T) {
	up := &smtptest.Server{}
	up.Start(t)
	env := Envelope{ID: "x", From: "", To: []string{"ann@example.net"}}
	wantAll(t, deliver(t, dial(t, up, "smtp://ADDR?tls=none"), env), 250, "")
	if m := wantOne(t, up, false); m.From != "" {
		t.Errorf("MAIL FROM %q, want the null reverse-path", m.From)
	}
}

func TestStartTLSRequiredButNotOffered(t *testing.T) {
	up := &smtptest.Server{TLS: smtptest.Plain}
	up.Start(t)
	wantAll(t, deliver(t, dial(t, up, "smtp://ADDR"), testEnv), 0, "does not offer STARTTLS")
	if n := len(up.Messages()); n != 0 {
		t.Errorf("upstream got %d messages in plain text", n)
	}
}

func TestUntrustedCertificate(t *testing.T) {
	up := &smtptest.Server{TLS: smtptest.StartTLS}
	up.Start(t)
	tr, err := New("smtp://"+up.Addr(), Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	wantAll(t, deliver(t, tr, testEnv), 0, "certificate")
	if n := len(up.Messages()); n != 0 {
		t.Errorf("upstream got %d messages over an unverified connection", n)
	}
}

func TestAuth(t *testing.T) {
	// Reserved URL characters in both, to see them percent-decoded.
	const user, pass = "app@example.com", "p@ss:w/rd%?"
	userinfo := "app%40example.com:p%40ss%3Aw%2Frd%25%3F@"
	for _, tc := range []struct {
		name     string
		mode     smtptest.TLSMode
		url      string
		code     int
		msgPart  string
		wantSent bool
	}{
		{"STARTTLS", smtptest.StartTLS, "smtp://" + userinfo + "ADDR", 250, "", true},
		{"smtps", smtptest.Implicit, "smtps://" + userinfo + "ADDR", 250, "", true},
		{"tls=none allows clear text", smtptest.Plain, "smtp://" + userinfo + "ADDR?tls=none", 250, "", true},
		{"never in clear otherwise", smtptest.Plain, "smtp://" + userinfo + "ADDR?tls=opportunistic", 0, "refusing to send credentials", false},
		{"wrong password defers", smtptest.StartTLS, "smtp://app%40example.com:nope@ADDR", 0, "refused our credentials: 535 5.7.8", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := &smtptest.Server{TLS: tc.mode, Users: map[string]string{user: pass}}
			up.Start(t)
			wantAll(t, deliver(t, dial(t, up, tc.url), testEnv), tc.code, tc.msgPart)
			if !tc.wantSent {
				if n := len(up.Messages()); n != 0 {
					t.Errorf("upstream got %d messages", n)
				}
				return
			}
			m := wantOne(t, up, tc.mode != smtptest.Plain)
			if m.Username != user || m.Password != pass {
				t.Errorf("upstream saw credentials %q/%q, want %q/%q", m.Username, m.Password, user, pass)
			}
		})
	}
}

func reply(code int, enhanced smtp.EnhancedCode, msg string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: enhanced, Message: msg}
}

func TestRecipients(t *testing.T) {
	up := &smtptest.Server{OnRcpt: func(to string) error {
		switch to {
		case "nobody@example.net":
			return reply(550, smtp.EnhancedCode{5, 1, 1}, "no such user")
		case "busy@example.net":
			return reply(450, smtp.EnhancedCode{4, 2, 1}, "try later")
		}
		return nil
	}}
	up.Start(t)
	env := Envelope{ID: "x", From: "app@example.com", To: []string{"ann@example.net", "nobody@example.net", "busy@example.net"}}
	out := deliver(t, dial(t, up, "smtp://ADDR?tls=none"), env)
	want := []Outcome{
		{Rcpt: "ann@example.net", Code: 250, Message: "2.0.0 OK: queued"},
		{Rcpt: "nobody@example.net", Code: 550, Message: "5.1.1 no such user"},
		{Rcpt: "busy@example.net", Code: 450, Message: "4.2.1 try later"},
	}
	for i := range want {
		if out[i] != want[i] {
			t.Errorf("outcome %d = %+v, want %+v", i, out[i], want[i])
		}
	}
	if !out[1].Permanent() || out[2].Permanent() || out[2].Delivered() {
		t.Errorf("Permanent/Delivered wrong for %+v, %+v", out[1], out[2])
	}
	if m := wantOne(t, up, false); len(m.To) != 1 || m.To[0] != "ann@example.net" {
		t.Errorf("upstream delivered to %q, want only ann", m.To)
	}
}

func TestTransactionFailures(t *testing.T) {
	refuseBob := func(to string) error {
		if to == "bob@example.net" {
			return reply(550, smtp.EnhancedCode{5, 1, 1}, "no such user")
		}
		return nil
	}
	for _, tc := range []struct {
		name    string
		up      *smtptest.Server
		annCode int // bob is refused at RCPT where the server says so
		annMsg  string
	}{
		{"421 at EHLO", &smtptest.Server{OnSession: func(string) error {
			return reply(421, smtp.EnhancedCode{4, 3, 2}, "shutting down")
		}}, 421, "4.3.2 shutting down"},
		{"MAIL refused", &smtptest.Server{OnMail: func(string) error {
			return reply(553, smtp.EnhancedCode{5, 7, 1}, "sender not allowed")
		}}, 553, "5.7.1 sender not allowed"},
		{"DATA answered 451", &smtptest.Server{OnRcpt: refuseBob, OnData: func(smtptest.Message) error {
			return reply(451, smtp.EnhancedCode{4, 3, 0}, "local trouble")
		}}, 451, "4.3.0 local trouble"},
		{"DATA answered 554", &smtptest.Server{OnRcpt: refuseBob, OnData: func(smtptest.Message) error {
			return reply(554, smtp.EnhancedCode{5, 6, 0}, "spam")
		}}, 554, "5.6.0 spam"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.up.Start(t)
			out := deliver(t, dial(t, tc.up, "smtp://ADDR?tls=none"), testEnv)
			if out[0].Code != tc.annCode || out[0].Message != tc.annMsg {
				t.Errorf("ann: %d %q, want %d %q", out[0].Code, out[0].Message, tc.annCode, tc.annMsg)
			}
			bob := Outcome{Rcpt: "bob@example.net", Code: tc.annCode, Message: tc.annMsg}
			if tc.up.OnRcpt != nil {
				bob = Outcome{Rcpt: "bob@example.net", Code: 550, Message: "5.1.1 no such user"}
			}
			if out[1] != bob {
				t.Errorf("bob: %+v, want %+v", out[1], bob)
			}
			if n := len(tc.up.Messages()); n != 0 {
				t.Errorf("upstream kept %d messages", n)
			}
		})
	}
}

func TestAllRecipientsRefusedSkipsData(t *testing.T) {
	up := &smtptest.Server{
		OnRcpt: func(string) error { return reply(550, smtp.EnhancedCode{5, 1, 1}, "no such user") },
		OnData: func(smtptest.Message) error { panic("DATA sent with no recipient accepted") },
	}
	up.Start(t)
	wantAll(t, deliver(t, dial(t, up, "smtp://ADDR?tls=none"), testEnv), 550, "5.1.1 no such user")
}

func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	tr, err := New("smtp://"+addr+"?tls=none", Options{})
	if err != nil {
		t.Fatal(err)
	}
	wantAll(t, deliver(t, tr, testEnv), 0, "refused")
}

func TestCancelledBeforeStart(t *testing.T) {
	up := &smtptest.Server{}
	up.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	wantAll(t, dial(t, up, "smtp://ADDR?tls=none").Deliver(ctx, testEnv, testBody), 0, "cancelled")
}

// The drop guarantee: cancelled while the upstream stalls before the go-ahead
// to DATA, Deliver returns at once, and the message never arrives.
func TestCancelWhileDATAStalls(t *testing.T) {
	up := &smtptest.Server{}
	up.Start(t)
	gate := up.StallDATA()
	tr := dial(t, up, "smtp://ADDR?tls=none")

	cancelAtGate(t, tr, gate)

	gate.Release()
	up.WaitIdle(t)
	if n := len(up.Messages()); n != 0 {
		t.Errorf("upstream stored %d messages after the transfer was aborted", n)
	}
	if n := up.AbortedData(); n != 1 {
		t.Errorf("upstream saw %d aborted DATA transfers, want 1", n)
	}
}

// After the dot the message is the upstream's: cancelling then must not make
// Deliver report a message the upstream took as undelivered.
func TestCancelAfterEndOfData(t *testing.T) {
	up := &smtptest.Server{}
	up.Start(t)
	gate := up.StallEndOfData()
	tr := dial(t, up, "smtp://ADDR?tls=none")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan []Outcome)
	go func() { done <- tr.Deliver(ctx, testEnv, testBody) }()
	<-gate.Reached()
	cancel()
	gate.Release()
	select {
	case out := <-done:
		wantAll(t, out, 250, "2.0.0")
	case <-time.After(5 * time.Second):
		t.Fatal("Deliver still running 5s after the upstream answered")
	}
	wantOne(t, up, false)
}

func TestString(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"smtp://app:secret@relay.example.com:2525?tls=opportunistic", "smtp://app@relay.example.com:2525?tls=opportunistic"},
		{"smtp://relay.example.com", "smtp://relay.example.com:587"},
		{"SMTPS://a%40b:secret@[::1]", "smtps://a%40b@[::1]:465"},
		{"file:///var/spool/outbox", "file:///var/spool/outbox"},
		{"file://./relay-data/outbox", "file:relay-data/outbox"},
		{"file:relay-data/outbox", "file:relay-data/outbox"},
	} {
		tr, err := New(tc.url, Options{})
		if err != nil {
			t.Errorf("New(%q): %v", tc.url, err)
			continue
		}
		if got := tr.String(); got != tc.want {
			t.Errorf("New(%q).String() = %q, want %q", tc.url, got, tc.want)
		}
	}
}

func TestBadURL(t *testing.T) {
	for _, raw := range []string{
		"",
		"relay.example.com:25",
		"http://relay.example.com",
		"smtp://",
		"smtp://:25",
		"smtp://relay.example.com:0",
		"smtp://relay.example.com:99999",
		"smtp://user:secret@relay.example.com:bad",
		"smtp://user:sec ret@relay.example.com",
		"smtp://user@relay.example.com",
		"smtp://relay.example.com/path",
		"smtp://relay.example.com?tls=yes",
		"smtp://relay.example.com?tls=",
		"smtp://relay.example.com?tls=none&tls=none",
		"smtp://relay.example.com?tsl=none",
		"smtps://relay.example.com?tls=none",
		"file://",
		"file://otherhost/dir",
		"file:///dir?x=1",
		"file://user:secret@/dir",
	} {
		_, err := New(raw, Options{})
		if err == nil {
			t.Errorf("New(%q) succeeded", raw)
			continue
		}
		if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "sec ret") {
			t.Errorf("New(%q) error shows the password: %v", raw, err)
		}
		t.Logf("%-45q %v", raw, err)
	}
}

// cancelAtGate starts a delivery, cancels it once the upstream's gate is
// reached, and wants it back at once, every recipient "cancelled".
func cancelAtGate(t *testing.T, tr Transport, gate *smtptest.Gate) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan []Outcome)
	go func() { done <- tr.Deliver(ctx, testEnv, testBody) }()
	<-gate.Reached()
	cancel()
	select {
	case out := <-done:
		wantAll(t, out, 0, "cancelled")
	case <-time.After(5 * time.Second):
		t.Fatal("Deliver still running 5s after cancel")
	}
}

// Interrupt is the shutdown deadline: it cuts a delivery that waits for the
// reply to its dot, and the outcome is unknown, not "cancelled".
func TestInterruptAfterEndOfData(t *testing.T) {
	up := &smtptest.Server{}
	up.Start(t)
	gate := up.StallEndOfData()
	defer gate.Release()
	tr := dial(t, up, "smtp://ADDR?tls=none")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan []Outcome)
	go func() { done <- tr.Deliver(ctx, testEnv, testBody) }()
	<-gate.Reached()
	cancel()
	select {
	case out := <-done:
		t.Fatalf("cancellation cut the wait for the dot's reply: %+v", out)
	case <-time.After(50 * time.Millisecond):
	}
	tr.(Interrupter).Interrupt()
	select {
	case out := <-done:
		wantAll(t, out, 0, "no reply to the end of data (the upstream may have the message): interrupted")
		for _, o := range out {
			if !o.Unknown {
				t.Errorf("%s: outcome not unknown after the dot", o.Rcpt)
			}
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Deliver still waiting for the reply 5s after Interrupt")
	}
}
