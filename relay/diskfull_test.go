package relay

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/holdrelay/relay/internal/diskfull"
	"github.com/holdrelay/relay/internal/spooltest"
	"github.com/holdrelay/relay/spool"
)

// TestDiskFull runs the relay with its spool on a small real file system
// and fills it: while full, the intake answers 451 4.3.0 (never a 5xx)
// and keeps serving; once space returns it accepts again, without a
// restart. Every message that got a 250 is delivered, exactly once.
func TestDiskFull(t *testing.T) {
	for _, kind := range diskfull.Kinds {
		t.Run(string(kind), func(t *testing.T) { testDiskFull(t, kind) })
	}
}

func testDiskFull(t *testing.T, kind diskfull.Kind) {
	spooltest.BoltOnly(t) // PostgreSQL's disk is not the one mounted here
	dir := diskfull.Mount(t, kind, 8<<20)
	logs := &lockedBuffer{}
	h := newHarness(t, harnessConfig{spoolDir: dir, logTo: logs})
	c := h.login()
	accepted := map[spool.ID]bool{}
	reply, err := send(t, c, "app@example.com", []string{"user@example.net"}, message("in flight"))
	if err != nil {
		t.Fatal(err)
	}
	inFlight := queuedID(t, reply)
	accepted[inFlight] = true

	// The upstream holds its answer to the final dot, while the disk fills.
	gate := h.upstream.StallEndOfData()
	t.Cleanup(gate.Release) // before the harness stops, should the test fail
	h.settle()
	h.clock.Advance(30 * time.Second)
	<-gate.Reached()
	free := diskfull.Fill(t, dir)
	defer free()

	// The spool file may have free pages inside: send smaller and smaller
	// messages until even a small one does not fit.
	refused := 0
	for _, size := range []int{256 << 10, 64 << 10, 16 << 10, 4 << 10, 1 << 10, 0} {
		for {
			body := message(fmt.Sprintf("filler %d", size)) + strings.Repeat(strings.Repeat("x", 78)+"\r\n", size/80)
			reply, err := send(t, c, "app@example.com", []string{"user@example.net"}, body)
			if err == nil {
				accepted[queuedID(t, reply)] = true
				continue
			}
			if got := smtpReply(err); got != "451 4.3.0" {
				t.Fatalf("%d-byte message on a full disk: %v, want 451 4.3.0", size, err)
			}
			refused++
			break
		}
	}
	if refused != 6 {
		t.Fatalf("%d refusals", refused)
	}
	// The daemon is up: a new session logs in and is refused politely too.
	c2 := h.login()
	if _, err := send(t, c2, "app@example.com", []string{"user@example.net"}, message("second session")); smtpReply(err) != "451 4.3.0" {
		t.Fatalf("new session on a full disk: %v, want 451 4.3.0", err)
	}

	// The upstream takes the message. Its outcome may fit in the spool
	// file's free pages or not (TestOutcomeWriteFailureIsRetried forces
	// the failure); either way it is recorded once space is back.
	gate.Release()
	h.upstream.Wait(t, 1)
	if err := h.spool.Check(); err != nil {
		t.Fatalf("spool invariants while full: %v", err)
	}

	free()
	// Space is back: the same session is served again.
	reply, err = send(t, c, "app@example.com", []string{"user@example.net"}, message("after"))
	if err != nil {
		t.Fatalf("after space came back: %v", err)
	}
	accepted[queuedID(t, reply)] = true
	h.clock.Advance(finishRetryMin)
	h.waitState(inFlight, spool.Delivered)

	h.settle()
	h.clock.Advance(time.Minute)
	got := h.upstream.Wait(t, len(accepted))
	h.settle()
	seen := map[string]int{}
	for _, m := range h.upstream.Messages() {
		seen[subjectOf(m.Data)]++
	}
	for id := range accepted {
		h.waitState(id, spool.Delivered)
	}
	for subj, n := range seen {
		if n > 1 && !strings.HasPrefix(subj, "filler") {
			t.Errorf("%q delivered %d times", subj, n)
		}
	}
	if len(got) != len(accepted) || len(h.upstream.Messages()) != len(accepted) {
		t.Errorf("upstream got %d messages for %d accepted", len(h.upstream.Messages()), len(accepted))
	}
}

// waitFor polls cond (for work on other goroutines, never for the fake
// clock) until it holds, or fails the test after ten seconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// lockedBuffer is a log destination that tests read while it is written.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// deliverIntoFailingWrites submits a message, lets the upstream take it
// while every spool commit goes through fault, and returns once the
// dispatcher has failed to record that outcome at least once.
func deliverIntoFailingWrites(t *testing.T, fault func() error) (*harness, *lockedBuffer, spool.ID) {
	t.Helper()
	logs := &lockedBuffer{}
	h := newHarness(t, harnessConfig{logTo: logs})
	reply, err := send(t, h.login(), "app@example.com", []string{"user@example.net"}, message("retry me"))
	if err != nil {
		t.Fatal(err)
	}
	id := queuedID(t, reply)
	gate := h.upstream.StallEndOfData()
	t.Cleanup(gate.Release)
	h.settle()
	h.clock.Advance(30 * time.Second)
	<-gate.Reached()

	h.spool.InjectCommitFault(fault)
	gate.Release()
	h.upstream.Wait(t, 1)
	waitFor(t, "a failed outcome write", func() bool {
		return strings.Contains(logs.String(), "recording delivery outcome failed; will try again")
	})
	return h, logs, id
}

// TestOutcomeWriteFailureIsRetried makes every spool commit fail while a
// delivery is at the upstream: the upstream takes the message, its outcome
// cannot be written, and the dispatcher tries again with backoff (on the
// fake clock) instead of leaving it sending until a restart. When writes
// work again the message is delivered, and was sent once.
func TestOutcomeWriteFailureIsRetried(t *testing.T) {
	h, logs, id := deliverIntoFailingWrites(t, func() error { return fmt.Errorf("write spool.db: %w", syscall.EIO) })
	// Backoff on the fake clock: a second later it tries again (and fails).
	h.clock.Advance(finishRetryMin)
	waitFor(t, "a second try", func() bool {
		return strings.Count(logs.String(), "recording delivery outcome failed; will try again") >= 2
	})
	if m, err := h.spool.Get(id); err != nil || m.State != spool.Sending {
		t.Fatalf("message while writes fail: %s, %v; want sending", m.State, err)
	}
	// A session meanwhile gets 451 4.3.0, never a 5xx.
	if _, err := send(t, h.login(), "app@example.com", []string{"user@example.net"}, message("refused")); smtpReply(err) != "451 4.3.0" {
		t.Fatalf("accept while writes fail: %v, want 451 4.3.0", err)
	}

	h.spool.InjectCommitFault(nil)
	h.clock.Advance(2 * finishRetryMin)
	m := h.waitState(id, spool.Delivered)
	if m.Attempts != 1 {
		t.Errorf("%d attempts, want 1", m.Attempts)
	}
	h.settle()
	h.clock.Advance(time.Hour)
	h.settle()
	if n := len(h.upstream.Messages()); n != 1 {
		t.Errorf("upstream got %d messages, want 1", n)
	}
}
