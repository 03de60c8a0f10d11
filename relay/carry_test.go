package relay

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdrelay/relay/spool"
)

// TestOneCommitPerDeliveredMessage: a slot takes its next message in the
// transaction that records its outcome, so that delivering n messages
// costs n commits and one claim, not a claim and an outcome each.
func TestOneCommitPerDeliveredMessage(t *testing.T) {
	const n = 20
	h := newHarness(t, harnessConfig{intake: IntakeConfig{Hold: time.Hour}, disp: DispatcherConfig{Concurrency: 1}})
	ids := make([]spool.ID, n)
	for i := range ids {
		ids[i] = h.submit(fmt.Sprint("carried ", i))
	}
	h.settle()
	var commits atomic.Int32
	h.spool.InjectCommitFault(func() error { commits.Add(1); return nil })
	h.clock.Advance(time.Hour)
	for _, id := range ids {
		h.waitState(id, spool.Delivered)
	}
	h.settle()
	// n outcomes, the loop's first claim, and the janitor's two rounds of
	// expiry the hour on starts; a claim and an outcome each made 2n+3.
	want := int32(n + 3)
	if h.spool.Clustered() {
		want += n // each attempt's dot gate: a transaction that writes nothing
	}
	if got := commits.Load(); got > want {
		t.Errorf("%d commits to deliver %d messages, want at most %d", got, n, want)
	}
	if got := len(h.upstream.Messages()); got != n {
		t.Errorf("upstream got %d messages, want %d", got, n)
	}
}

// The claim hook runs inside a transaction that may run again or fail:
// a second call for an ID keeps its flight, a failed claim ends every
// flight it registered (so that an Abort waiting on one is let go), and
// the end of an earlier attempt of the same message leaves the new
// attempt's flight registered.
func TestRegistrarSurvivesRetriedAndFailedClaims(t *testing.T) {
	d := NewDispatcher(DispatcherConfig{}, nil, nil, nil, nil)
	ctx := t.Context()
	const a, b = spool.ID(1), spool.ID(2)

	old := &flight{cancel: func() {}, done: make(chan struct{})}
	d.inflight[a] = old // an attempt of a whose outcome is in, not yet unregistered
	reg := d.registrar(ctx)
	reg.register(a)
	reg.register(b)
	reg.register(a) // the transaction ran again
	got := reg.settle([]spool.Claimed{{Message: spool.Message{ID: a}}}, nil)
	if len(got) != 1 || got[0] == old || d.inflight[a] != got[0] {
		t.Fatalf("flights %v, registered %v", got, d.inflight)
	}
	if _, ok := d.inflight[b]; ok {
		t.Error("b was not claimed in the end, yet stays registered")
	}
	d.unregister(a, old)
	if d.inflight[a] != got[0] {
		t.Error("the end of the old attempt unregistered the new one")
	}

	reg = d.registrar(ctx)
	reg.register(b)
	f := d.inflight[b]
	if got := reg.settle(nil, errors.New("commit failed")); len(got) != 0 || !isClosed(f.done) || d.inflight[b] != nil {
		t.Errorf("a failed claim left flight %v registered (done closed: %v)", d.inflight[b], isClosed(f.done))
	}
}
