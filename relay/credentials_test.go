package relay

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/holdrelay/relay/auth"
	"github.com/holdrelay/relay/spool"
)

// dialFrom opens a session from a chosen loopback address (all of
// 127.0.0.0/8 is local on Linux), so tests can play several clients.
func (h *harness) dialFrom(ip string) *smtp.Client {
	h.t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	conn, err := d.Dial("tcp", h.addr)
	if err != nil {
		h.t.Fatal(err)
	}
	c := smtp.NewClient(conn)
	h.t.Cleanup(func() { c.Close() })
	if err := c.Hello("client.test"); err != nil {
		h.t.Fatal(err)
	}
	return c
}

// closedSoon waits for the server to close c's connection.
func closedSoon(t *testing.T, c *smtp.Client) bool {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if err := c.Noop(); err != nil {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

func TestRotationWithoutGraceEndsLiveSessions(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	live := h.login()
	if _, err := send(t, live, "app@example.com", []string{"u@example.net"}, message("before")); err != nil {
		t.Fatal(err)
	}
	newPW, err := h.creds.Rotate("app", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !closedSoon(t, live) {
		t.Fatal("a session logged in with the old password is still open")
	}
	if err := h.dial().Auth(sasl.NewPlainClient("", "app", h.password)); smtpCode(err) != 535 {
		t.Errorf("old password after rotation: %v, want 535", err)
	}
	c := h.dial()
	if err := c.Auth(sasl.NewPlainClient("", "app", newPW)); err != nil {
		t.Fatalf("new password: %v", err)
	}
	if _, err := send(t, c, "app@example.com", []string{"u@example.net"}, message("after")); err != nil {
		t.Fatal(err)
	}
}

func TestRotationWithGraceLastsUntilTheGraceEnds(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	live := h.login()
	if _, err := h.creds.Rotate("app", 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := send(t, live, "app@example.com", []string{"u@example.net"}, message("in grace")); err != nil {
		t.Fatalf("old password inside the grace period: %v", err)
	}
	if err := h.dial().Auth(sasl.NewPlainClient("", "app", h.password)); err != nil {
		t.Fatalf("new login with the old password inside the grace: %v", err)
	}
	h.clock.Advance(10 * time.Minute)
	if !closedSoon(t, live) {
		t.Fatal("session with the old password outlived the grace period")
	}
}

func TestDeadLoginCannotSendOnItsConnection(t *testing.T) {
	// Even before the connection is closed, MAIL re-checks the login.
	h := newHarness(t, harnessConfig{})
	s := &session{in: h.intake}
	if err := s.authenticate("app", h.password); err != nil {
		t.Fatal(err)
	}
	if err := h.creds.SetDisabled("app", true); err != nil {
		t.Fatal(err)
	}
	if got := smtpReply(s.Mail("app@example.com", nil)); got != "530 5.7.0" {
		t.Fatalf("MAIL after disable: %s, want 530 5.7.0", got)
	}
}

func TestDisableClosesSessionsAndRefusesLogins(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	live := h.login()
	if err := h.creds.SetDisabled("app", true); err != nil {
		t.Fatal(err)
	}
	if !closedSoon(t, live) {
		t.Fatal("session of a disabled credential still open")
	}
	if err := h.dial().Auth(sasl.NewPlainClient("", "app", h.password)); smtpCode(err) != 535 {
		t.Errorf("login to a disabled credential: %v, want 535", err)
	}
	h.creds.SetDisabled("app", false)
	if err := h.dial().Auth(sasl.NewPlainClient("", "app", h.password)); err != nil {
		t.Errorf("login after enable: %v", err)
	}
}

func TestCredentialSettingsAreEnforced(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	hold := 5 * time.Minute
	_, err := h.creds.Update("app", auth.Settings{Hold: &hold, AllowedSenders: []string{"@corp.example"},
		MaxMessageSize: 600, RateLimit: 3})
	if err != nil {
		t.Fatal(err)
	}
	c := h.login()
	fromCorp := "From: app@corp.example\r\nSubject: ok\r\n\r\nhi\r\n"
	reply, err := send(t, c, "app@corp.example", []string{"u@example.net"}, fromCorp)
	if err != nil {
		t.Fatalf("allowed sender: %v", err)
	}
	m := h.waitState(queuedID(t, reply), spool.Waiting)
	if !m.Release.Equal(t0.Add(hold)) {
		t.Errorf("release %v: the credential's own hold was not used", m.Release)
	}

	if got := smtpReply(c.Mail("app@other.example", nil)); got != "550 5.7.1" {
		t.Errorf("MAIL FROM outside the allowed senders: %s", got)
	}
	c.Reset()
	_, err = send(t, c, "app@corp.example", []string{"u@example.net"}, "From: ceo@other.example\r\n\r\nhi\r\n")
	if got := smtpReply(err); got != "550 5.7.1" {
		t.Errorf("From: header outside the allowed senders: %s", got)
	}
	c.Reset()
	_, err = send(t, c, "app@corp.example", []string{"u@example.net"}, fromCorp+strings.Repeat("x", 700)+"\r\n")
	if got := smtpReply(err); got != "552 5.3.4" {
		t.Errorf("over the credential's size: %s", got)
	}
	c.Reset()
	// The rate limit (3 a minute) is spent by now: four MAILs so far.
	err = c.Mail("app@corp.example", nil)
	if got := smtpReply(err); got != "450 4.7.1" || !strings.Contains(err.Error(), "3 messages per minute") {
		t.Errorf("over the rate limit: %v", err)
	}
	h.clock.Advance(time.Minute)
	if _, err := send(t, c, "app@corp.example", []string{"u@example.net"}, fromCorp); err != nil {
		t.Errorf("after a minute the rate limit still refuses: %v", err)
	}
}

func TestWrongPasswordsAreThrottledPerAddress(t *testing.T) {
	// A thousand connections stay open: no connection limit here.
	h := newHarness(t, harnessConfig{intake: IntakeConfig{MaxConnections: -1, MaxConnectionsPerIP: -1}})
	var refused, throttled int
	for i := 0; i < 1000; i++ {
		// A connection per guess: go-smtp's client follows a failed AUTH
		// with a stray "*", and the server hangs up after a few of those.
		err := h.dialFrom("127.0.0.1").Auth(sasl.NewPlainClient("", "app", fmt.Sprint("guess", i)))
		switch smtpReply(err) {
		case "535 5.7.8":
			refused++
		case "454 4.7.0":
			throttled++
		default:
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	if refused != addrFailures || throttled != 1000-addrFailures {
		t.Errorf("%d checked and refused, %d throttled; want %d checked", refused, throttled, addrFailures)
	}
	// The real application, elsewhere, logs in as usual.
	if err := h.dialFrom("127.0.0.2").Auth(sasl.NewPlainClient("", "app", h.password)); err != nil {
		t.Fatalf("correct client on another address: %v", err)
	}
	// And the guesser's address stays blocked even with the right password
	// until its window ends.
	if err := h.dialFrom("127.0.0.1").Auth(sasl.NewPlainClient("", "app", h.password)); smtpReply(err) != "454 4.7.0" {
		t.Errorf("throttled address with the right password: %v", err)
	}
	h.clock.Advance(throttleWindow)
	if err := h.dialFrom("127.0.0.1").Auth(sasl.NewPlainClient("", "app", h.password)); err != nil {
		t.Errorf("after the window: %v", err)
	}
}

func TestStrangersCannotLockOutTheApplication(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	// The application has logged in before from its address.
	if err := h.dialFrom("127.0.0.2").Auth(sasl.NewPlainClient("", "app", h.password)); err != nil {
		t.Fatal(err)
	}
	// Strangers spread guesses at "app" over many addresses.
	for i := 0; i < userFailures+5; i++ {
		ip := fmt.Sprintf("127.0.1.%d", 1+i%50)
		err := h.dialFrom(ip).Auth(sasl.NewPlainClient("", "app", "wrong"))
		if code := smtpCode(err); code != 535 && code != 454 {
			t.Fatalf("guess from %s: %v", ip, err)
		}
	}
	if err := h.dialFrom("127.0.0.3").Auth(sasl.NewPlainClient("", "app", h.password)); smtpReply(err) != "454 4.7.0" {
		t.Errorf("under attack, a new address was not throttled for the username: %v", err)
	}
	if err := h.dialFrom("127.0.0.2").Auth(sasl.NewPlainClient("", "app", h.password)); err != nil {
		t.Fatalf("the application was locked out: %v", err)
	}
}
