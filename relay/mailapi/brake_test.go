package mailapi

import (
	"strings"
	"testing"
	"time"

	"github.com/holdrelay/relay/relay"
	"github.com/holdrelay/relay/spool"
)

// TestBrakeWatchesTheMailAPI: mail that comes through the HTTP API goes
// through Submit, so the runaway brake sees it as it sees SMTP: the same
// message sent to the same address a 6th time brakes the credential, and
// all of it is held. The client still gets its 202.
func TestBrakeWatchesTheMailAPI(t *testing.T) {
	t.Parallel()
	h := newHarness(t, relay.IntakeConfig{})
	var ids []spool.ID
	for range 6 {
		ids = append(ids, h.mustSend(simple))
		h.clock.Advance(time.Second)
	}
	bs, err := h.spool.Brakes()
	if err != nil || len(bs) != 1 || bs[0].Credential != "app" || bs[0].Trigger != spool.TriggerLoop || bs[0].Count != 6 ||
		!strings.EqualFold(bs[0].Recipient, "john.doe@example.com") || bs[0].Subject != "Hello, World!" {
		t.Fatalf("brakes after 6 copies over HTTP: %+v, %v", bs, err)
	}
	// Held, not waiting: no clock releases them (relay's brake tests
	// show the dispatcher leaving them alone past the hold window).
	h.clock.Advance(time.Hour)
	for _, id := range ids {
		if m, _ := h.spool.Get(id); m.State != spool.Held || m.HeldBy != spool.HeldByBrake {
			t.Errorf("%s: %s by %q", id, m.State, m.HeldBy)
		}
	}
}
