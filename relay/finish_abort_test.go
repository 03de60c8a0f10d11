package relay

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/holdrelay/relay/spool"
)

// A hold that arrives while a delivered message's outcome cannot be
// written waits for that outcome: the abort must not cut its recording,
// or the hold would answer before the truth is known and the upstream's
// 250 would be lost (the message left sending, sent again after a restart).
func TestAbortWaitsForAnOutcomeBeingRetried(t *testing.T) {
	var allow atomic.Int32
	h, _, id := deliverIntoFailingWrites(t, func() error {
		if allow.Add(-1) >= 0 {
			return nil
		}
		return fmt.Errorf("write spool.db: %w", syscall.EIO)
	})
	allow.Store(1) // the hold's own commit goes through (an intermittent fault)
	type answer struct {
		res spool.Result
		err error
	}
	done := make(chan answer, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		res, err := h.spool.HoldWait(spool.Selector{IDs: []spool.ID{id}}, spool.Event{Time: h.clock.Now(), Actor: "op"}, false,
			func(ids []spool.ID) error { return h.disp.Abort(ctx, ids) })
		done <- answer{res, err}
	}()
	waitFor(t, "the hold's intent", func() bool {
		m, _ := h.spool.Get(id)
		return m.Intent != nil
	})
	h.spool.InjectCommitFault(nil) // the disk recovers; the retry's timer fires
	h.clock.Advance(time.Minute)
	a := <-done
	if a.err != nil || a.res.Count(spool.AlreadyDelivered) != 1 {
		t.Fatalf("hold: %v, %v; want already delivered", a.res.Counts(), a.err)
	}
	if m, _ := h.spool.Get(id); m.State != spool.Delivered {
		t.Fatalf("the upstream took it, the spool says %s", m.State)
	}
	if n := len(h.upstream.Messages()); n != 1 {
		t.Fatalf("the upstream got %d copies", n)
	}
}
