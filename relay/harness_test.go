package relay

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/holdrelay/relay/auth"
	"github.com/holdrelay/relay/internal/clock"
	"github.com/holdrelay/relay/internal/pgtest"
	"github.com/holdrelay/relay/internal/smtptest"
	"github.com/holdrelay/relay/internal/spooltest"
	"github.com/holdrelay/relay/relay/upstream"
	"github.com/holdrelay/relay/spool"
)

// TestMain stops the PostgreSQL server the tests started, if they ran on
// it (RELAY_TEST_SPOOL=pg).
func TestMain(m *testing.M) { pgtest.Main(m) }

var t0 = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

// harness is a relay assembled from its real parts: an intake on
// 127.0.0.1:0, a spool file in a temp dir, a dispatcher delivering to an
// in-process upstream SMTP server. Only the clock is fake.
type harness struct {
	t        testing.TB
	clock    *clock.Fake
	spool    *spool.Spool
	creds    *auth.Service
	intake   *Intake
	disp     *Dispatcher
	upstream *smtptest.Server
	addr     string
	password string // of the credential "app"
}

type harnessConfig struct {
	intake   IntakeConfig
	disp     DispatcherConfig
	upstream *smtptest.Server
	// remote makes every client look non-loopback to the AUTH rule.
	remote bool
	// upstreamURL overrides smtp://ADDR?tls=none; %s is the upstream's address.
	upstreamURL  string
	upstreamOpts upstream.Options
	// upstreamAddr, when set, is where the primary upstream is instead
	// of upstream's address (a closed port, an upstream started later).
	upstreamAddr string
	// front, when set, is put between the relay and the upstream: it gets
	// the upstream's address and returns the one to deliver to.
	front func(upAddr string) string
	// spoolDir puts a bbolt spool file there (a test of its disk) instead
	// of opening one on the driver the tests run on (spooltest).
	spoolDir string
	// logTo, when set, gets the relay's log (text, debug level).
	logTo io.Writer
}

func newHarness(t testing.TB, hc harnessConfig) *harness {
	t.Helper()
	h := &harness{t: t, clock: clock.NewFake(t0), upstream: hc.upstream}
	if h.upstream == nil {
		h.upstream = &smtptest.Server{}
	}
	upAddr := h.upstream.Start(t)
	var err error
	if hc.spoolDir == "" {
		h.spool, _ = spooltest.Open(t)
	} else if h.spool, err = spool.Open(filepath.Join(hc.spoolDir, "spool.db")); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if hc.logTo != nil {
		log = slog.New(slog.NewTextHandler(hc.logTo, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	h.creds, err = auth.New(h.spool, auth.Options{Params: auth.TestParams, Now: h.clock.Now, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if _, h.password, err = h.creds.Add("app", "", nil); err != nil {
		t.Fatal(err)
	}
	if hc.front != nil {
		upAddr = hc.front(upAddr)
	}
	if hc.upstreamAddr != "" {
		upAddr = hc.upstreamAddr
	}
	url := "smtp://%s?tls=none"
	if hc.upstreamURL != "" {
		url = hc.upstreamURL
	}
	opts := hc.upstreamOpts
	opts.Hostname = "relay.test"
	tr, err := upstream.New(fmt.Sprintf(url, upAddr), opts)
	if err != nil {
		t.Fatal(err)
	}
	h.disp = NewDispatcher(hc.disp, h.spool, tr, h.clock, log)
	if hc.intake.Hold == 0 {
		hc.intake.Hold = 30 * time.Second
	}
	h.intake = NewIntake(hc.intake, h.spool, h.creds, h.clock, log, h.disp.Notify)
	if hc.remote {
		h.intake.loopback = func(netip.Addr) bool { return false }
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.addr = l.Addr().String()
	go h.intake.Serve(l, false)

	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		h.disp.Run(ctx, ctx)
		close(done)
	}()
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.intake.Shutdown(sctx)
		stop()
		<-done
		if err := h.spool.Check(); err != nil && err != spool.ErrClosed {
			t.Errorf("spool invariants: %v", err)
		}
		h.spool.Close()
	})
	return h
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// dial opens an SMTP client session that has said EHLO.
func (h *harness) dial() *smtp.Client {
	h.t.Helper()
	c, err := smtp.Dial(h.addr)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	if err := c.Hello("client.test"); err != nil {
		h.t.Fatal(err)
	}
	return c
}

// login dials and authenticates as "app" with PLAIN.
func (h *harness) login() *smtp.Client {
	h.t.Helper()
	c := h.dial()
	if err := c.Auth(sasl.NewPlainClient("", "app", h.password)); err != nil {
		h.t.Fatalf("AUTH PLAIN: %v", err)
	}
	return c
}

// send submits one message on c and returns the 250 reply's text.
func send(t testing.TB, c *smtp.Client, from string, to []string, body string) (string, error) {
	t.Helper()
	if err := c.Mail(from, nil); err != nil {
		return "", err
	}
	for _, r := range to {
		if err := c.Rcpt(r, nil); err != nil {
			return "", err
		}
	}
	w, err := c.Data()
	if err != nil {
		return "", err
	}
	if _, err := io.WriteString(w, body); err != nil {
		return "", err
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return "", err
	}
	return resp.StatusText, nil
}

// queuedID parses the ID from "OK: queued as ID".
func queuedID(t testing.TB, reply string) spool.ID {
	t.Helper()
	_, text, ok := strings.Cut(reply, "queued as ")
	if !ok {
		t.Fatalf("reply %q names no ID", reply)
	}
	id, err := spool.ParseID(text)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func message(subject string) string {
	return fmt.Sprintf("From: app@example.com\r\nTo: user@example.net\r\nSubject: %s\r\nMessage-ID: <%s@example.com>\r\n\r\nHello.\r\n", subject, strings.ReplaceAll(subject, " ", "-"))
}

// waitState polls the spool until the message reaches state. The
// dispatcher works on its own goroutines; this waits for them, never for
// the hold window, which only the fake clock moves.
func (h *harness) waitState(id spool.ID, want spool.State) spool.Message {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		m, err := h.spool.Get(id)
		if err == nil && m.State == want {
			return m
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("message %s is %s (%v), want %s", id, m.State, err, want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// smtpReply is an error's "code x.y.z" as the client saw it.
func smtpReply(err error) string {
	if se, ok := err.(*smtp.SMTPError); ok {
		return fmt.Sprintf("%d %d.%d.%d", se.Code, se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
	}
	return fmt.Sprint(err)
}

// settle waits until the dispatcher has handled every wake-up it was sent
// and sleeps: whatever it would do at this instant of the fake clock, it
// has done.
func (h *harness) settle() {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for stable := 0; stable < 3; {
		if h.dispatcherResting() {
			stable++
		} else {
			stable = 0
		}
		if time.Now().After(deadline) {
			h.t.Fatal("dispatcher never settled")
		}
		time.Sleep(time.Millisecond)
	}
}

// dispatcherResting: the loop sleeps with nothing sent to it and no
// timer of its due (a fired timer's loop may not have run yet on a
// loaded machine). Attempts may still run: some tests hold one on
// purpose.
func (h *harness) dispatcherResting() bool {
	d := h.disp
	if !d.sleeping.Load() || len(d.wake) > 0 || len(d.freed) > 0 {
		return false
	}
	at := d.wakeAt.Load() // 0 while it backs off from a failed claim
	return at == 0 || at > h.clock.Now().UnixNano()
}

func smtpCode(err error) int {
	if se, ok := err.(*smtp.SMTPError); ok {
		return se.Code
	}
	return 0
}
