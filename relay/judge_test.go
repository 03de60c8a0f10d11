package relay

import (
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/holdrelay/relay/internal/smtptest"
	"github.com/holdrelay/relay/spool"
)

// TestMaxAgeIsNotOutlivedByARetry: with retries an hour apart and a
// 10-minute --max-queue-age, the retry after a temporary failure comes at
// the max age, and the message fails then, not an hour later.
func TestMaxAgeIsNotOutlivedByARetry(t *testing.T) {
	up := &smtptest.Server{OnData: func(smtptest.Message) error {
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "busy"}
	}}
	const maxAge = 10 * time.Minute
	h := newHarness(t, harnessConfig{upstream: up, intake: IntakeConfig{Hold: time.Nanosecond},
		disp: DispatcherConfig{MaxAge: maxAge, RetryMin: time.Hour, RetryMax: time.Hour}})
	reply, err := send(t, h.login(), "app@example.com", []string{"user@example.net"}, message("doomed"))
	if err != nil {
		t.Fatal(err)
	}
	id := queuedID(t, reply)
	h.clock.Advance(time.Second)
	m := h.waitState(id, spool.Deferred)
	deadline := m.Received.Add(maxAge)
	if !m.Release.Equal(deadline) {
		t.Fatalf("retry planned at %v, want the max age, %v", m.Release, deadline)
	}
	h.clock.Set(m.Release)
	m = h.waitState(id, spool.Failed)
	if m.Finished.After(deadline) || !strings.HasPrefix(m.LastError, "gave up after 10m0s") {
		t.Errorf("failed at %v (max age %v): %q", m.Finished, deadline, m.LastError)
	}
}
