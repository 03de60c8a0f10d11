package relay

import (
	"testing"
	"time"

	"github.com/holdrelay/relay/spool"
)

// TestBrakeIgnoresReleaseBySelector: with a loop braked, an operator's
// release or flush of the whole credential (or of everything) sends
// none of it upstream; only the brake's own release does.
func TestBrakeIgnoresReleaseBySelector(t *testing.T) {
	t.Parallel()
	h := brakeHarness(t, BrakeConfig{Duplicates: 3, Rate: 600})
	c := h.login()
	h.sendLoop(c, 5, true)
	if _, ok := h.brakes()["app"]; !ok {
		t.Fatal("not braked after 5 copies (threshold 3)")
	}
	ev := operator
	ev.Time = h.clock.Now()
	for _, sel := range []spool.Selector{{Credential: "app"}, {All: true}} {
		if res, err := h.spool.Release(sel, ev, false); err != nil || res.Count(spool.Braked) != 5 {
			t.Fatalf("release %+v: %v %v", sel, res.Counts(), err)
		}
		if res, err := h.spool.Flush(sel, ev, false); err != nil || res.Count(spool.Braked) != 5 {
			t.Fatalf("flush %+v: %v %v", sel, res.Counts(), err)
		}
	}
	h.passTime(time.Hour)
	if n := len(h.upstream.Messages()); n != 0 {
		t.Fatalf("after releases and flushes by selector: the upstream has %d of the loop", n)
	}
	if _, res, err := h.spool.ReleaseBrake("app", ev); err != nil || res.Count(spool.Changed) != 5 {
		t.Fatalf("brake release: %v %v", res.Counts(), err)
	}
	h.passTime(time.Hour)
	if n := len(h.upstream.Messages()); n != 5 {
		t.Fatalf("after the brake's release: the upstream has %d, want 5", n)
	}
}
