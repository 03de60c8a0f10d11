package relay

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/holdrelay/relay/spool"
)

func TestPlainAndLoginBothDeliverAfterTheHold(t *testing.T) {
	for _, mech := range []string{"PLAIN", "LOGIN"} {
		t.Run(mech, func(t *testing.T) {
			h := newHarness(t, harnessConfig{})
			c := h.dial()
			client := sasl.NewPlainClient("", "app", h.password)
			if mech == "LOGIN" {
				client = sasl.NewLoginClient("app", h.password)
			}
			if err := c.Auth(client); err != nil {
				t.Fatalf("AUTH %s: %v", mech, err)
			}
			reply, err := send(t, c, "app@example.com", []string{"user@example.net"}, message("hello "+mech))
			if err != nil {
				t.Fatal(err)
			}
			id := queuedID(t, reply)
			m := h.waitState(id, spool.Waiting)
			if m.Credential != "app" || m.Subject != "hello "+mech || !m.Release.Equal(t0.Add(30*time.Second)) {
				t.Fatalf("spooled record: %+v", m)
			}

			// One second short of the window: the release time has not come.
			h.settle()
			h.clock.Advance(29 * time.Second)
			h.settle()
			h.waitState(id, spool.Waiting)
			if n := len(h.upstream.Messages()); n != 0 {
				t.Fatalf("upstream got %d messages inside the hold window", n)
			}

			h.clock.Advance(time.Second)
			got := h.upstream.Wait(t, 1)[0]
			h.waitState(id, spool.Delivered)
			if got.From != "app@example.com" || len(got.To) != 1 || got.To[0] != "user@example.net" {
				t.Errorf("upstream envelope %s -> %v", got.From, got.To)
			}
			data := string(got.Data)
			if !strings.HasPrefix(data, "Received: from client.test ([127.0.0.1])") || !strings.Contains(data, "with ESMTPA;") {
				t.Errorf("no Received trace header first:\n%s", data)
			}
			if !strings.HasSuffix(data, message("hello "+mech)) {
				t.Errorf("body changed in transit:\n%s", data)
			}
		})
	}
}

func TestBadPasswordIs535AndMailBeforeAuthIs530(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	c := h.dial()
	err := c.Auth(sasl.NewPlainClient("", "app", "wrong"))
	if got := smtpReply(err); got != "535 5.7.8" {
		t.Fatalf("wrong password: %v, want 535 5.7.8", err)
	}
	err = c.Auth(sasl.NewLoginClient("nobody", "wrong"))
	if smtpCode(err) != 535 {
		t.Fatalf("unknown user over LOGIN: %v, want 535", err)
	}
	err = c.Mail("app@example.com", nil)
	if got := smtpReply(err); got != "530 5.7.0" {
		t.Fatalf("MAIL before AUTH: %v, want 530 5.7.0", err)
	}
	if n, _ := h.spool.Counts(); n[spool.Waiting] != 0 {
		t.Fatalf("something was spooled: %v", n)
	}
}

func TestPlaintextAuthOnlyOnLoopbackOrOptIn(t *testing.T) {
	t.Run("remote client without TLS", func(t *testing.T) {
		h := newHarness(t, harnessConfig{remote: true})
		c := h.dial()
		if ok, _ := c.Extension("AUTH"); ok {
			t.Error("AUTH advertised to a remote client over plaintext")
		}
		err := c.Auth(sasl.NewPlainClient("", "app", h.password))
		if got := smtpReply(err); got != "538 5.7.11" {
			t.Errorf("AUTH over plaintext from afar: %v, want 538 5.7.11", err)
		}
		if smtpCode(c.Mail("app@example.com", nil)) != 530 {
			t.Error("MAIL without AUTH was not refused with 530")
		}
	})
	t.Run("remote client with --insecure-auth", func(t *testing.T) {
		h := newHarness(t, harnessConfig{remote: true, intake: IntakeConfig{InsecureAuth: true}})
		c := h.dial()
		if ok, params := c.Extension("AUTH"); !ok || params != "PLAIN LOGIN" {
			t.Errorf("AUTH extension = %v %q, want PLAIN LOGIN", ok, params)
		}
		if err := c.Auth(sasl.NewPlainClient("", "app", h.password)); err != nil {
			t.Errorf("opted-in plaintext AUTH: %v", err)
		}
	})
	t.Run("loopback client", func(t *testing.T) {
		h := newHarness(t, harnessConfig{})
		if ok, _ := h.dial().Extension("AUTH"); !ok {
			t.Error("AUTH not advertised on loopback")
		}
	})
}

func TestTrustedNetworkRelaysWithoutAuth(t *testing.T) {
	h := newHarness(t, harnessConfig{intake: IntakeConfig{TrustedNetworks: mustPrefixes(t, "127.0.0.1/32")}})
	reply, err := send(t, h.dial(), "cron@example.com", []string{"ops@example.net"}, message("trusted"))
	if err != nil {
		t.Fatalf("trusted client refused: %v", err)
	}
	m := h.waitState(queuedID(t, reply), spool.Waiting)
	if m.Credential != "" {
		t.Errorf("credential %q recorded for an unauthenticated client", m.Credential)
	}

	h2 := newHarness(t, harnessConfig{intake: IntakeConfig{TrustedNetworks: mustPrefixes(t, "127.0.0.2/32")}})
	if smtpCode(h2.dial().Mail("cron@example.com", nil)) != 530 {
		t.Error("client outside the trusted network relayed without AUTH")
	}
}

func TestLimits(t *testing.T) {
	h := newHarness(t, harnessConfig{intake: IntakeConfig{MaxMessageBytes: 1024, MaxRecipients: 2}})
	c := h.login()
	_, err := send(t, c, "app@example.com", []string{"a@example.net"}, message("big")+strings.Repeat("line of text\r\n", 100))
	if got := smtpReply(err); got != "552 5.3.4" {
		t.Errorf("oversized message: %v, want 552 5.3.4", err)
	}
	c.Reset()
	_, err = send(t, c, "app@example.com", []string{"a@example.net", "b@example.net", "c@example.net"}, message("many"))
	if smtpCode(err) != 452 {
		t.Errorf("third recipient: %v, want 452", err)
	}
	c.Reset()
	// go-smtp's path parser answers 501 for syntax; validAddress 553 for
	// what parses but no upstream would take.
	for bad, want := range map[string]int{"no-at-sign": 501, "a@": 501, "@b": 501, "a@b..c": 553, "a@.b": 553} {
		if err := c.Mail("app@example.com", nil); err != nil {
			t.Fatal(err)
		}
		if code := smtpCode(c.Rcpt(bad, nil)); code != want {
			t.Errorf("RCPT TO:<%s>: code %d, want %d", bad, code, want)
		}
		c.Reset()
	}
	if n, _ := h.spool.Counts(); n[spool.Waiting] != 0 {
		t.Errorf("refused messages were spooled: %v", n)
	}
}

func TestSpoolThatCannotWriteAnswers451(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	c := h.login()
	if err := h.spool.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := send(t, c, "app@example.com", []string{"user@example.net"}, message("lost?"))
	if got := smtpReply(err); got != "451 4.3.0" {
		t.Fatalf("spool closed: %v, want 451 4.3.0", err)
	}
	if strings.Contains(err.Error(), "closed") {
		t.Errorf("internal error text leaked to the client: %v", err)
	}
}

func TestOverlongLineIsRefused(t *testing.T) {
	h := newHarness(t, harnessConfig{intake: IntakeConfig{MaxLineLength: 100}})
	_, err := send(t, h.login(), "app@example.com", []string{"a@example.net"}, message(strings.Repeat("x", 200)))
	if got := smtpReply(err); got != "500 5.5.2" {
		t.Errorf("overlong line: %v, want 500 5.5.2", err)
	}
	if n, _ := h.spool.Counts(); n[spool.Waiting] != 0 {
		t.Errorf("message with an overlong line was spooled: %v", n)
	}
}

func TestShutdownClosesIdleSessionsAtTheDeadline(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	c := h.dial() // logged in to nothing, idle
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := h.intake.Shutdown(ctx); err == nil {
		t.Fatal("Shutdown with an idle session reported a clean finish")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Shutdown took %v", d)
	}
	if err := c.Noop(); err == nil {
		t.Error("idle session still answers after the shutdown deadline")
	}
}
