package relay

import (
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/holdrelay/relay/internal/clock"
	"github.com/holdrelay/relay/internal/smtptest"
	"github.com/holdrelay/relay/internal/spooltest"
	"github.com/holdrelay/relay/relay/upstream"
	"github.com/holdrelay/relay/spool"
)

func mustPrefixes(t *testing.T, s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range s {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}

func TestTemporaryFailureThenSuccessEndsDelivered(t *testing.T) {
	var calls atomic.Int32
	up := &smtptest.Server{OnData: func(smtptest.Message) error {
		if calls.Add(1) == 1 {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
		}
		return nil
	}}
	h := newHarness(t, harnessConfig{upstream: up, intake: IntakeConfig{Hold: time.Nanosecond}})
	reply, err := send(t, h.login(), "app@example.com", []string{"user@example.net"}, message("retry me"))
	if err != nil {
		t.Fatal(err)
	}
	id := queuedID(t, reply)
	h.clock.Advance(time.Second)
	m := h.waitState(id, spool.Deferred)
	if !strings.Contains(m.LastError, "451") || m.Attempts != 1 {
		t.Fatalf("deferred record: attempts %d, last error %q", m.Attempts, m.LastError)
	}
	wait := m.Release.Sub(h.clock.Now())
	if wait < 30*time.Second || wait > 90*time.Second {
		t.Errorf("first retry in %v, want about a minute with jitter", wait)
	}
	h.clock.Set(m.Release)
	m = h.waitState(id, spool.Delivered)
	if m.Attempts != 2 || len(h.upstream.Messages()) != 1 {
		t.Errorf("after retry: %d attempts, upstream has %d messages", m.Attempts, len(h.upstream.Messages()))
	}
	if _, err := h.spool.Body(id); err == nil {
		t.Error("delivered message kept its body")
	}
}

func TestPermanentFailureKeepsTheReply(t *testing.T) {
	up := &smtptest.Server{OnRcpt: func(to string) error {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user here"}
	}}
	h := newHarness(t, harnessConfig{upstream: up, intake: IntakeConfig{Hold: time.Nanosecond}})
	reply, err := send(t, h.login(), "app@example.com", []string{"ghost@example.net"}, message("bounce"))
	if err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Second)
	m := h.waitState(queuedID(t, reply), spool.Failed)
	if !strings.Contains(m.LastError, "550") || !strings.Contains(m.LastError, "no such user here") {
		t.Errorf("failed record lost the upstream's reply: %q", m.LastError)
	}
	if m.Rcpts[0].State != spool.RcptFailed {
		t.Errorf("recipient state %s", m.Rcpts[0].State)
	}
}

func TestPartialFailureRetriesOnlyThePendingRecipient(t *testing.T) {
	var refuse atomic.Bool
	refuse.Store(true)
	up := &smtptest.Server{OnRcpt: func(to string) error {
		if to == "later@example.net" && refuse.Load() {
			return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "mailbox full"}
		}
		return nil
	}}
	h := newHarness(t, harnessConfig{upstream: up, intake: IntakeConfig{Hold: time.Nanosecond}})
	reply, err := send(t, h.login(), "app@example.com", []string{"now@example.net", "later@example.net"}, message("split"))
	if err != nil {
		t.Fatal(err)
	}
	id := queuedID(t, reply)
	h.clock.Advance(time.Second)
	m := h.waitState(id, spool.Deferred)
	refuse.Store(false)
	h.clock.Set(m.Release)
	h.waitState(id, spool.Delivered)
	msgs := h.upstream.Messages()
	if len(msgs) != 2 || len(msgs[0].To) != 1 || msgs[0].To[0] != "now@example.net" || len(msgs[1].To) != 1 || msgs[1].To[0] != "later@example.net" {
		t.Fatalf("upstream deliveries: %+v", msgs)
	}
}

func TestGivesUpAfterMaxAge(t *testing.T) {
	up := &smtptest.Server{OnData: func(smtptest.Message) error {
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "busy"}
	}}
	h := newHarness(t, harnessConfig{upstream: up, intake: IntakeConfig{Hold: time.Nanosecond},
		disp: DispatcherConfig{MaxAge: 10 * time.Minute}})
	reply, err := send(t, h.login(), "app@example.com", []string{"user@example.net"}, message("doomed"))
	if err != nil {
		t.Fatal(err)
	}
	id := queuedID(t, reply)
	h.clock.Advance(time.Second)
	for i := 0; ; i++ {
		m, _ := h.spool.Get(id)
		if m.State == spool.Failed {
			if !strings.HasPrefix(m.LastError, "gave up after 10m0s") {
				t.Errorf("last error %q", m.LastError)
			}
			return
		}
		if i > 50 {
			t.Fatalf("still %s after %d retries", m.State, m.Attempts)
		}
		m = h.waitState(id, spool.Deferred)
		h.clock.Set(m.Release)
		h.waitState2(id, m.Attempts)
	}
}

// waitState2 waits until the message has made more than n attempts and
// is no longer sending.
func (h *harness) waitState2(id spool.ID, n int) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m, err := h.spool.Get(id); err == nil && m.Attempts > n && m.State != spool.Sending {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	h.t.Fatalf("message %s made no new attempt", id)
}

func TestJudge(t *testing.T) {
	cfg := DispatcherConfig{}
	cfg.setDefaults()
	m := spool.Message{Received: t0, Attempts: 1, Rcpts: []spool.Recipient{{Addr: "a@x"}, {Addr: "b@x"}}}
	for _, tc := range []struct {
		name  string
		codes [2]int
		now   time.Time
		want  spool.State
	}{
		{"all 250", [2]int{250, 250}, t0, spool.Delivered},
		{"one 550", [2]int{250, 550}, t0, spool.Failed},
		{"one 451", [2]int{250, 451}, t0, spool.Deferred},
		{"network error", [2]int{0, 0}, t0, spool.Deferred},
		{"451 too old", [2]int{250, 451}, t0.Add(cfg.MaxAge), spool.Failed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			outs := []upstream.Outcome{{Rcpt: "a@x", Code: tc.codes[0]}, {Rcpt: "b@x", Code: tc.codes[1]}}
			got := judge(m, outs, tc.now, cfg)
			if got.State != tc.want {
				t.Fatalf("state %s, want %s", got.State, tc.want)
			}
			if got.State == spool.Deferred && !got.Retry.After(tc.now) {
				t.Errorf("retry %v not after now", got.Retry)
			}
		})
	}
}

func TestBackoffGrowsAndStaysBounded(t *testing.T) {
	prevMax := time.Duration(0)
	for attempts := 1; attempts <= 12; attempts++ {
		d := backoff(attempts, time.Minute, time.Hour)
		if d < prevMax/2 || d > time.Hour*5/4 {
			t.Fatalf("attempt %d: backoff %v out of range", attempts, d)
		}
		prevMax = d
	}
	if d := backoff(1, time.Minute, time.Hour); d < 45*time.Second || d > 75*time.Second {
		t.Errorf("first backoff %v, want 1m ± 25%%", d)
	}
}

// TestEventExpiryDoesNotDelayAFlush: the outbox expiry runs beside the
// dispatcher's loop, not in it: while a round of it is stuck (as one
// deleting a bulk action's hundred thousand events takes a while), a
// flushed message is still delivered.
func TestEventExpiryDoesNotDelayAFlush(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	h.settle()
	reached, unblock := make(chan struct{}), make(chan struct{})
	var once sync.Once
	block := func() {
		once.Do(func() { close(reached) })
		<-unblock
	}
	h.disp.beforeExpireStep.Store(&block)
	defer close(unblock)
	h.clock.Advance(time.Minute) // the next janitor round
	select {
	case <-reached:
	case <-time.After(10 * time.Second):
		t.Fatal("no outbox expiry a minute on")
	}

	id := h.submit("flushed")
	ev := operator
	ev.Time = h.clock.Now()
	if _, err := h.spool.Flush(spool.Selector{IDs: []spool.ID{id}}, ev, false); err != nil {
		t.Fatal(err)
	}
	h.disp.Notify(h.clock.Now())
	h.waitState(id, spool.Delivered)
}

// TestPauseExpiryCutShortStaysIncomplete: a pause's expiry is audited as
// an operator's resume is, "(incomplete)" until its messages are released:
// when the release fails, the audit log says so instead of "resume".
func TestPauseExpiryCutShortStaysIncomplete(t *testing.T) {
	sp, _ := spooltest.Open(t)
	defer sp.Close()
	if _, err := sp.Pause(spool.Pause{Credential: "app", Actor: "uid:0", Since: t0, Until: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	in := spool.Incoming{Credential: "app", From: "a@example.com", To: []string{"b@example.net"}, Received: t0, Release: t0.Add(time.Second)}
	if _, err := sp.Accept(in, []byte("Subject: x\r\n\r\nx\r\n")); err != nil {
		t.Fatal(err)
	}
	d := NewDispatcher(DispatcherConfig{}, sp, nil, clock.NewFake(t0), slog.New(slog.NewTextHandler(io.Discard, nil)))
	var commits atomic.Int32
	sp.InjectCommitFault(func() error {
		if commits.Add(1) > 1 { // the pause ends; its release does not
			return errors.New("injected write error")
		}
		return nil
	})
	d.endPauses(t0.Add(time.Hour))
	sp.InjectCommitFault(nil)
	if ps, _ := sp.Pauses(); len(ps) != 0 {
		t.Fatalf("the pause was not ended: %+v", ps)
	}
	if a, _ := sp.Audit(0, 1); len(a) != 1 || a[0].Action != "resume (incomplete)" || a[0].Actor != "system" {
		t.Errorf("audit after an expiry whose release failed: %+v", a)
	}
}
