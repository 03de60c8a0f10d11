package relay

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/holdrelay/relay/internal/clock"
	"github.com/holdrelay/relay/internal/smtptest"
	"github.com/holdrelay/relay/internal/spooltest"
	"github.com/holdrelay/relay/relay/upstream"
	"github.com/holdrelay/relay/spool"
)

// drainRig runs a dispatcher as relayd does, with a drain context of its
// own, delivering to a real upstream with the transport's default timeout.
type drainRig struct {
	store spooltest.Handle
	spool *spool.Spool
	clock *clock.Fake
	disp  *Dispatcher
	drain context.CancelFunc
	done  chan struct{} // closed when Run has returned
}

func newDrainRig(t *testing.T, up *smtptest.Server) *drainRig {
	t.Helper()
	r := &drainRig{clock: clock.NewFake(t0), done: make(chan struct{})}
	r.spool, r.store = spooltest.Open(t)
	t.Cleanup(func() { r.spool.Close() })
	tr, err := upstream.New("smtp://"+up.Start(t)+"?tls=none", upstream.Options{Hostname: "relay.test"})
	if err != nil {
		t.Fatal(err)
	}
	r.disp = NewDispatcher(DispatcherConfig{}, r.spool, tr, r.clock, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, stop := context.WithCancel(context.Background())
	drain, cancel := context.WithCancel(context.Background())
	r.drain = func() { stop(); cancel() }
	go func() {
		defer close(r.done)
		r.disp.Run(ctx, drain)
	}()
	t.Cleanup(func() { r.drain(); <-r.done })
	return r
}

// accept spools a message due at once.
func (r *drainRig) accept(t *testing.T) spool.ID {
	t.Helper()
	m, err := r.spool.Accept(spool.Incoming{Credential: "app", From: "app@example.com", To: []string{"user@example.net"},
		Received: t0, Release: t0}, []byte(message("cut short")))
	if err != nil {
		t.Fatal(err)
	}
	r.disp.Notify(m.Release)
	return m.ID
}

// stopped ends the drain and wants Run back long before the transport's
// 5-minute timeout.
func (r *drainRig) stopped(t *testing.T) {
	t.Helper()
	r.drain()
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run still waiting for the upstream 10s after the drain ended")
	}
}

// The shutdown deadline bounds everything: a delivery whose upstream
// withholds its reply to the dot is cut, and its message is left as a
// crash leaves it: queued again at the next start, marked interrupted.
func TestDrainCutsADeliveryPastTheDot(t *testing.T) {
	up := &smtptest.Server{}
	gate := up.StallEndOfData()
	defer gate.Release()
	r := newDrainRig(t, up)
	id := r.accept(t)
	<-gate.Reached()

	r.stopped(t)
	if m, _ := r.spool.Get(id); m.State != spool.Sending {
		t.Fatalf("cut past the dot, the message is %s (%q); want it left sending", m.State, m.LastError)
	}
	r.spool.Close()
	sp, err := spooltest.Reopen(t, r.store)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if m, _ := sp.Get(id); m.State != spool.Queued || !m.Interrupted {
		t.Errorf("after a restart: %s, interrupted %v; want queued, interrupted", m.State, m.Interrupted)
	}
}

// Before the dot nothing is ambiguous: the transfer is aborted and the
// message is due again at once.
func TestDrainAbortsADeliveryBeforeTheDot(t *testing.T) {
	up := &smtptest.Server{}
	gate := up.StallDATA()
	r := newDrainRig(t, up)
	id := r.accept(t)
	<-gate.Reached()

	r.stopped(t)
	m, _ := r.spool.Get(id)
	if m.State != spool.Deferred || !m.Release.Equal(r.clock.Now()) || m.LastError != "cancelled" || m.Interrupted {
		t.Errorf("aborted before the dot: %s due %v (%q), interrupted %v; want deferred, due at once", m.State, m.Release, m.LastError, m.Interrupted)
	}
	gate.Release()
	up.WaitIdle(t)
	if n := len(up.Messages()); n != 0 {
		t.Errorf("the upstream kept %d messages", n)
	}
}

// A drop that meets an upstream sitting on its reply to the dot answers
// within abortReplyWait: in flight, outcome unknown. The upstream's answer
// then settles it.
func TestDropPastTheDotAnswersInTime(t *testing.T) {
	up := &smtptest.Server{}
	gate := up.StallEndOfData()
	defer gate.Release()
	h := newHarness(t, harnessConfig{upstream: up, intake: IntakeConfig{Hold: time.Nanosecond}})
	id := h.submit("withheld")
	h.clock.Advance(time.Second)
	<-gate.Reached()
	h.settle()
	timers := h.clock.Timers()

	done := make(chan spool.Result, 1)
	go func() { done <- h.dropWait(spool.Selector{IDs: []spool.ID{id}}) }()
	waitFor(t, "the drop to wait for the upstream's reply", func() bool { return h.clock.Timers() > timers })
	h.clock.Advance(abortReplyWait)
	select {
	case res := <-done:
		if res.Count(spool.InFlight) != 1 || len(res.IDs) != 1 {
			t.Fatalf("drop of a message whose dot is unanswered: %v; want it in flight", res.Counts())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("drop still waiting for the upstream 5s after its bound")
	}
	if m, _ := h.spool.Get(id); m.State != spool.Sending || m.Intent == nil || !m.Intent.Drop {
		t.Fatalf("after the drop answered: %s, intent %+v; want sending, to be dropped", m.State, m.Intent)
	}

	gate.Release() // the upstream takes it: delivered, whatever was asked
	m := h.waitState(id, spool.Delivered)
	if !strings.Contains(m.Rcpts[0].Reply, "2.0.0") {
		t.Errorf("delivered with reply %q", m.Rcpts[0].Reply)
	}
}
