package relay

import (
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/holdrelay/relay/internal/clock"
	"github.com/holdrelay/relay/internal/smtptest"
	"github.com/holdrelay/relay/relay/upstream"
	"github.com/holdrelay/relay/spool"
)

// closedPort returns a loopback address nothing listens on (yet).
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// transportTo builds a plain SMTP transport to a test upstream.
func transportTo(t *testing.T, addr string) upstream.Transport {
	tr, err := upstream.New("smtp://"+addr+"?tls=none", upstream.Options{Hostname: "relay.test"})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// fallbackHarness is a harness whose primary upstream is at primaryAddr
// and whose global fallback is a fresh test upstream, returned.
func fallbackHarness(t *testing.T, hc harnessConfig, primaryAddr string) (*harness, *smtptest.Server) {
	fb := &smtptest.Server{}
	hc.disp.Fallback = transportTo(t, fb.Start(t))
	hc.upstreamAddr = primaryAddr
	hc.intake.Hold = time.Nanosecond
	return newHarness(t, hc), fb
}

// deliverNow submits a message, lets its hold pass and waits until it
// reaches want.
func (h *harness) deliverNow(subject string, want spool.State) spool.Message {
	h.t.Helper()
	id := h.submit(subject)
	h.clock.Advance(time.Second)
	return h.waitState(id, want)
}

func TestFallbackWhilePrimaryIsDownThenPrimaryAgain(t *testing.T) {
	t.Parallel()
	down := closedPort(t)
	h, fb := fallbackHarness(t, harnessConfig{}, down)
	m := h.deliverNow("while down", spool.Delivered)
	if got := fb.Wait(t, 1); len(got) != 1 {
		t.Fatalf("fallback got %d messages", len(got))
	}
	if want := "smtp://" + fb.Addr() + "?tls=none"; m.Upstream != want {
		t.Errorf("record says upstream %q, want the fallback %q", m.Upstream, want)
	}
	d, err := h.spool.Details(m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if last := d.History[len(d.History)-1]; last.State != spool.Delivered || last.Upstream != m.Upstream {
		t.Errorf("history's last event %+v: want delivered through %s", last, m.Upstream)
	}

	// The primary comes back on the same port: the next message takes it.
	primary := &smtptest.Server{Listen: down}
	primary.Start(t)
	m = h.deliverNow("primary back", spool.Delivered)
	primary.Wait(t, 1)
	if n := len(fb.Messages()); n != 1 {
		t.Errorf("fallback has %d messages, want still 1", n)
	}
	if want := "smtp://" + down + "?tls=none"; m.Upstream != want {
		t.Errorf("record says upstream %q, want the primary %q", m.Upstream, want)
	}
}

func TestFallbackOnTemporaryRefusalsOnly(t *testing.T) {
	t.Parallel()
	refuse := func(code int) *smtp.SMTPError {
		return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{code / 100, 0, 0}, Message: "primary says no"}
	}
	for _, tc := range []struct {
		name    string
		primary func() *smtptest.Server
		want    spool.State
		viaFB   bool
	}{
		{"421 at greeting", func() *smtptest.Server { return &smtptest.Server{OnSession: func(string) error { return refuse(421) }} }, spool.Delivered, true},
		{"451 at RCPT", func() *smtptest.Server { return &smtptest.Server{OnRcpt: func(string) error { return refuse(451) }} }, spool.Delivered, true},
		{"451 at end of data", func() *smtptest.Server {
			return &smtptest.Server{OnData: func(smtptest.Message) error { return refuse(451) }}
		}, spool.Delivered, true},
		{"550 at RCPT is final", func() *smtptest.Server { return &smtptest.Server{OnRcpt: func(string) error { return refuse(550) }} }, spool.Failed, false},
		{"554 at end of data is final", func() *smtptest.Server {
			return &smtptest.Server{OnData: func(smtptest.Message) error { return refuse(554) }}
		}, spool.Failed, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			primary := tc.primary()
			h, fb := fallbackHarness(t, harnessConfig{}, primary.Start(t))
			m := h.deliverNow(tc.name, tc.want)
			if n := len(fb.Messages()); n != map[bool]int{true: 1, false: 0}[tc.viaFB] {
				t.Errorf("fallback got %d messages", n)
			}
			if !tc.viaFB && !strings.Contains(m.LastError, "primary says no") {
				t.Errorf("last error %q: want the primary's refusal", m.LastError)
			}
		})
	}
}

// TestFallbackDownToo: both down, the message is deferred, and its error
// says what each upstream answered.
func TestFallbackDownToo(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessConfig{upstreamAddr: closedPort(t), intake: IntakeConfig{Hold: time.Nanosecond},
		disp: DispatcherConfig{Fallback: transportTo(t, closedPort(t))}})
	m := h.deliverNow("nowhere", spool.Deferred)
	if !strings.Contains(m.LastError, "(primary smtp://") || !strings.Contains(m.LastError, "refused") {
		t.Errorf("last error %q: want the fallback's and the primary's failures", m.LastError)
	}
}

func TestCredentialRoute(t *testing.T) {
	t.Parallel()
	own := &smtptest.Server{}
	ownURL := "smtp://" + own.Start(t) + "?tls=none"
	h := newHarness(t, harnessConfig{intake: IntakeConfig{Hold: time.Nanosecond}, disp: DispatcherConfig{
		Upstream: upstream.Options{Hostname: "relay.test"},
		Routes: func(cred string) Route {
			if cred == "app" {
				return Route{Primary: ownURL}
			}
			return Route{}
		},
	}})
	if m := h.deliverNow("own route", spool.Delivered); m.Upstream != ownURL {
		t.Errorf("app's message went through %q, want %q", m.Upstream, ownURL)
	}
	own.Wait(t, 1)

	_, pw, err := h.creds.Add("other", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	c := h.dial()
	if err := c.Auth(sasl.NewPlainClient("", "other", pw)); err != nil {
		t.Fatal(err)
	}
	reply, err := send(t, c, "other@example.com", []string{"user@example.net"}, message("global route"))
	if err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Second)
	h.waitState(queuedID(t, reply), spool.Delivered)
	h.upstream.Wait(t, 1)
	if n := len(own.Messages()); n != 1 {
		t.Errorf("app's own upstream got %d messages, want only app's", n)
	}
}

// TestDropCutsAFallbackTransfer: guarantee 3 holds on the fallback too.
func TestDropCutsAFallbackTransfer(t *testing.T) {
	t.Parallel()
	fb := &smtptest.Server{}
	gate := fb.StallDATA()
	h := newHarness(t, harnessConfig{upstreamAddr: closedPort(t), intake: IntakeConfig{Hold: time.Nanosecond},
		disp: DispatcherConfig{Fallback: transportTo(t, fb.Start(t))}})
	id := h.submit("stalled on the fallback")
	h.clock.Advance(time.Second)
	<-gate.Reached()
	res := h.dropWait(spool.Selector{IDs: []spool.ID{id}})
	if res.Count(spool.Changed) != 1 {
		t.Fatalf("drop during the fallback's transfer: %v", res.Counts())
	}
	gate.Release()
	fb.WaitIdle(t)
	if n := len(fb.Messages()); n != 0 {
		t.Fatalf("the fallback received %d messages after the drop", n)
	}
	if m, _ := h.spool.Get(id); m.State != spool.Dropped {
		t.Errorf("message is %s, want dropped", m.State)
	}
}

// TestBreakerSkipsADeadPrimaryThenProbesIt: after breakerTrips attempts
// that found the primary unreachable, it is left alone for breakerPause,
// then tried again.
func TestBreakerSkipsADeadPrimaryThenProbesIt(t *testing.T) {
	t.Parallel()
	// A primary that accepts and hangs up at once: unreachable, and
	// countable.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var dials atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			dials.Add(1)
			c.Close()
		}
	}()
	h, fb := fallbackHarness(t, harnessConfig{}, l.Addr().String())
	for i := range breakerTrips + 1 {
		h.deliverNow("message "+string(rune('a'+i)), spool.Delivered)
	}
	fb.Wait(t, breakerTrips+1)
	if n := dials.Load(); n != breakerTrips {
		t.Errorf("primary dialled %d times for %d messages; want %d, then skipped", n, breakerTrips+1, breakerTrips)
	}
	h.clock.Advance(breakerPause)
	h.deliverNow("probe", spool.Delivered)
	if n := dials.Load(); n != breakerTrips+1 {
		t.Errorf("primary dialled %d times after the pause, want a probe (%d)", n, breakerTrips+1)
	}
}

// TestCredentialFallbackAndAChangedURL: a credential's own fallback takes
// its mail when the primary is down, and a changed URL applies from the
// next attempt, with a transport of its own.
func TestCredentialFallbackAndAChangedURL(t *testing.T) {
	t.Parallel()
	first, second := &smtptest.Server{}, &smtptest.Server{}
	var route atomic.Pointer[Route]
	route.Store(&Route{Fallback: "smtp://" + first.Start(t) + "?tls=none"})
	secondURL := "smtp://" + second.Start(t) + "?tls=none"
	h := newHarness(t, harnessConfig{upstreamAddr: closedPort(t), intake: IntakeConfig{Hold: time.Nanosecond},
		disp: DispatcherConfig{Upstream: upstream.Options{Hostname: "relay.test"},
			Routes: func(string) Route { return *route.Load() }}})
	h.deliverNow("own fallback", spool.Delivered)
	first.Wait(t, 1)

	route.Store(&Route{Fallback: secondURL})
	if m := h.deliverNow("changed fallback", spool.Delivered); m.Upstream != secondURL {
		t.Errorf("after the change, delivered by %q, want %q", m.Upstream, secondURL)
	}
	second.Wait(t, 1)
	if n := len(first.Messages()); n != 1 {
		t.Errorf("the old fallback got %d messages, want 1", n)
	}
	h.settle()
	if n := h.disp.upstreams.Len(); n != 0 {
		t.Errorf("%d credential transports kept while idle, want none", n)
	}
}

// TestRouteReleaseTimeIsTheEnd: a credential's transport counts as used
// until its delivery ends, not since it began, so that the janitor's
// Forget (idle for a minute) does not close the sessions of a transport
// that has just finished a long transfer.
func TestRouteReleaseTimeIsTheEnd(t *testing.T) {
	t.Parallel()
	up := &smtptest.Server{}
	gate := up.StallDATA()
	url := "smtp://" + up.Start(t) + "?tls=none"
	clk := clock.NewFake(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC))
	d := NewDispatcher(DispatcherConfig{Upstream: upstream.Options{Hostname: "relay.test"},
		Routes: func(string) Route { return Route{Primary: url} }},
		nil, transportTo(t, closedPort(t)), clk, slog.New(slog.NewTextHandler(io.Discard, nil)))
	c := spool.Claimed{Message: spool.Message{Credential: "app", From: "a@example.com"},
		Body: []byte("Subject: long\r\n\r\nbody\r\n")}
	done := make(chan []upstream.Outcome, 1)
	go func() {
		outs, _ := d.send(t.Context(), c, upstream.Envelope{ID: "x", From: c.From, To: []string{"b@example.org"}})
		done <- outs
	}()
	<-gate.Reached()
	clk.Advance(5 * time.Minute) // a long transfer
	gate.Release()
	if outs := <-done; !outs[0].Delivered() {
		t.Fatalf("outcome %+v", outs[0])
	}
	d.upstreams.Forget(clk.Now().Add(-time.Minute))
	if n := d.upstreams.Len(); n != 1 {
		t.Errorf("the transport that just ended a delivery was forgotten as idle for a minute (%d kept)", n)
	}
	d.upstreams.Forget(time.Time{})
}
