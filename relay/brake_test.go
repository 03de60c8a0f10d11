package relay

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/holdrelay/relay/auth"
	"github.com/holdrelay/relay/relay/smtpapi"
	"github.com/holdrelay/relay/spool"
)

func brakeHarness(t *testing.T, cfg BrakeConfig) *harness {
	return newHarness(t, harnessConfig{intake: IntakeConfig{Hold: 30 * time.Second, Brake: &cfg}})
}

// loopMessage is one copy of a runaway's message; with fresh, its Date
// and Message-ID change every time, as a script stamping each copy does.
func loopMessage(i int, fresh bool) string {
	id, date := "<same@example.com>", "Mon, 30 Nov 2026 09:00:00 +0000"
	if fresh {
		id, date = fmt.Sprintf("<copy-%d@example.com>", i), fmt.Sprintf("Mon, 30 Nov 2026 09:%02d:00 +0000", i%60)
	}
	return fmt.Sprintf("Received: from script (hop %d)\r\nFrom: app@example.com\r\nTo: victim@example.net\r\nSubject: Your invoice\r\nDate: %s\r\nMessage-ID: %s\r\n\r\nPlease pay.\r\n", i, date, id)
}

// sendLoop sends n copies, a second apart on the fake clock, and returns
// their IDs.
func (h *harness) sendLoop(c *smtp.Client, n int, fresh bool) []spool.ID {
	h.t.Helper()
	var ids []spool.ID
	for i := range n {
		reply, err := send(h.t, c, "app@example.com", []string{"victim@example.net"}, loopMessage(i, fresh))
		if err != nil {
			h.t.Fatalf("copy %d: %v (the brake holds, it never refuses)", i+1, err)
		}
		ids = append(ids, queuedID(h.t, reply))
		h.clock.Advance(time.Second)
	}
	return ids
}

// brakes returns the spool's braked credentials by name.
func (h *harness) brakes() map[string]spool.Brake {
	h.t.Helper()
	bs, err := h.spool.Brakes()
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]spool.Brake{}
	for _, b := range bs {
		out[b.Credential] = b
	}
	return out
}

// passTime moves the clock well past every hold window and lets the
// dispatcher do whatever it would.
func (h *harness) passTime(d time.Duration) {
	h.t.Helper()
	h.clock.Advance(d)
	h.settle()
	h.waitNoFlights()
	h.upstream.WaitIdle(h.t)
}

// waitNoFlights waits until no delivery attempt is in progress: a loop
// that has gone back to sleep may have started one that has not reached
// the upstream yet, which the upstream's idleness would not show.
func (h *harness) waitNoFlights() {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		h.disp.mu.Lock()
		n := len(h.disp.inflight)
		h.disp.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%d deliveries still in flight", n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestBrakeLoopTripsAtNPlusOneAndNothingLeaves(t *testing.T) {
	for _, fresh := range []bool{false, true} {
		t.Run(fmt.Sprintf("fresh Message-ID and Date %v", fresh), func(t *testing.T) {
			t.Parallel()
			h := brakeHarness(t, BrakeConfig{Duplicates: 5, Rate: 600})
			c := h.login()
			h.sendLoop(c, 5, fresh)
			if b := h.brakes(); len(b) != 0 {
				t.Fatalf("braked after 5 copies (threshold 5): %+v", b)
			}
			ids := append(h.sendLoop(c, 1, fresh), h.sendLoop(c, 3, fresh)...)
			b, ok := h.brakes()["app"]
			if !ok || b.Trigger != spool.TriggerLoop || b.Count != 6 || b.Threshold != 5 ||
				b.Recipient != "victim@example.net" || b.Subject != "Your invoice" || b.Held != 6 {
				t.Fatalf("after the 6th copy: brake %+v (braked %v)", b, ok)
			}
			h.passTime(time.Hour)
			if n := len(h.upstream.Messages()); n != 0 {
				t.Fatalf("the upstream received %d messages of the loop", n)
			}
			for _, id := range ids {
				if m, _ := h.spool.Get(id); m.State != spool.Held || m.HeldBy != spool.HeldByBrake {
					t.Fatalf("%s after the trip: %s by %q", id, m.State, m.HeldBy)
				}
			}
			h.wantEvent(spool.EvBrakeTripped, `"trigger":"loop"`, `"recipient":"victim@example.net"`, `"subject":"Your invoice"`, `"count":6`)
		})
	}
}

// wantEvent finds an event of typ whose data holds every part.
func (h *harness) wantEvent(typ string, parts ...string) {
	h.t.Helper()
	evs, err := h.spool.Events(0, 100000)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Type != typ {
			continue
		}
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(string(ev.Data), p)
		}
		if ok {
			return
		}
		h.t.Errorf("%s: %s lacks one of %q", typ, ev.Data, parts)
		return
	}
	h.t.Errorf("no %s event", typ)
}

func TestBrakeRateBurstHoldsWhatWasWaiting(t *testing.T) {
	t.Parallel()
	h := brakeHarness(t, BrakeConfig{Duplicates: 5, Rate: 20})
	c := h.login()
	var ids []spool.ID
	for i := range 25 {
		reply, err := send(t, c, "app@example.com", []string{fmt.Sprintf("u%d@example.net", i)}, message(fmt.Sprintf("news %d", i)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, queuedID(t, reply))
		h.clock.Advance(100 * time.Millisecond)
	}
	b, ok := h.brakes()["app"]
	if !ok || b.Trigger != spool.TriggerRate || b.Count != 21 || b.Held != 21 {
		t.Fatalf("brake %+v (braked %v)", b, ok)
	}
	h.passTime(time.Hour)
	if n := len(h.upstream.Messages()); n != 0 {
		t.Fatalf("the upstream received %d messages of the burst", n)
	}
	held, _ := h.spool.Count(spool.Selector{Credential: "app", All: true})
	if held[spool.Held] != 25 {
		t.Fatalf("states after the burst: %v", held)
	}
}

func TestBrakeLeavesLegitimateMailAlone(t *testing.T) {
	t.Parallel()
	t.Run("200 recipients at an even pace", func(t *testing.T) {
		t.Parallel()
		h := brakeHarness(t, DefaultBrake)
		c := h.login()
		for i := range 200 {
			if _, err := send(t, c, "app@example.com", []string{fmt.Sprintf("u%d@example.net", i)}, message("Monthly newsletter")); err != nil {
				t.Fatal(err)
			}
			h.clock.Advance(150 * time.Millisecond) // 400 a minute, under 600
		}
		if b := h.brakes(); len(b) != 0 {
			t.Fatalf("braked: %+v", b)
		}
	})
	t.Run("announced batch of 5000 as fast as possible", func(t *testing.T) {
		t.Parallel()
		h := brakeHarness(t, DefaultBrake)
		if _, err := h.spool.CreateBatch("spring", h.clock.Now(), nil); err != nil {
			t.Fatal(err)
		}
		// The first hundred over SMTP, the rest through Submit in
		// requests of 250 as the HTTP mail API sends them (the same
		// detector; 5,000 SMTP transactions take 20 s under -race).
		c := h.login()
		body := "X-SMTPAPI: {\"batch_id\": \"spring\"}\r\n" + message("Spring sale")
		for i := range 100 {
			if _, err := send(t, c, "app@example.com", []string{fmt.Sprintf("u%d@example.net", i)}, body); err != nil {
				t.Fatal(err)
			}
		}
		cred, _ := h.creds.Get("app")
		for i := 100; i < 5000; i += 250 {
			subs := make([]Submission, 250)
			for j := range subs {
				subs[j] = Submission{Cred: &cred, From: "app@example.com", To: []string{fmt.Sprintf("u%d@example.net", i+j)},
					Message: []byte(message("Spring sale")), Options: smtpapiBatch("spring")}
			}
			if _, err := h.intake.Submit(subs); err != nil {
				t.Fatal(err)
			}
		}
		if b := h.brakes(); len(b) != 0 {
			t.Fatalf("braked by an announced batch: %+v", b)
		}
		// A batch that a message registered is no announcement: it counts.
		subs := make([]Submission, 601)
		for i := range subs {
			subs[i] = Submission{Cred: &cred, From: "app@example.com", To: []string{fmt.Sprintf("v%d@example.net", i)},
				Message: []byte(message("Ad hoc")), Options: smtpapiBatch("adhoc")}
		}
		if _, err := h.intake.Submit(subs); err != nil {
			t.Fatal(err)
		}
		if b := h.brakes()["app"]; b.Trigger != spool.TriggerRate {
			t.Fatalf("601 messages of an unannounced batch in no time: brake %+v", b)
		}
	})
}

func smtpapiBatch(id string) smtpapi.Options { return smtpapi.Options{Batch: id} }

func TestBrakeReleaseDeliversAndRearms(t *testing.T) {
	t.Parallel()
	h := brakeHarness(t, BrakeConfig{Duplicates: 3, Rate: 600})
	c := h.login()
	ids := h.sendLoop(c, 4, false)
	if _, ok := h.brakes()["app"]; !ok {
		t.Fatal("not braked after 4 copies (threshold 3)")
	}
	// One message let go on purpose goes, and does not trip anything.
	ev := operator
	ev.Time = h.clock.Now()
	if res, err := h.spool.Flush(spool.Selector{IDs: ids[:1]}, ev, false); err != nil || res.Count(spool.Changed) != 1 {
		t.Fatalf("flush of one braked message: %v %v", res.Counts(), err)
	}
	h.passTime(time.Minute)
	if n := len(h.upstream.Messages()); n != 1 {
		t.Fatalf("after flushing one: the upstream has %d", n)
	}
	b, res, err := h.spool.ReleaseBrake("app", ev)
	if err != nil || b.Trigger != spool.TriggerLoop || res.Count(spool.Changed) != 3 {
		t.Fatalf("release: %+v %v %v", b, res.Counts(), err)
	}
	h.intake.ResetBrake("app")
	h.passTime(time.Hour)
	if n := len(h.upstream.Messages()); n != 4 {
		t.Fatalf("after the release: the upstream has %d, want 4", n)
	}
	h.wantEvent(spool.EvBrakeReleased, `"actor":"uid:0"`, `"trigger":"loop"`)
	// Re-armed with fresh counts: the same loop trips it again at 4.
	h.sendLoop(c, 3, false)
	if b := h.brakes(); len(b) != 0 {
		t.Fatalf("braked again after 3 fresh copies: %+v", b)
	}
	h.sendLoop(c, 1, false)
	if _, ok := h.brakes()["app"]; !ok {
		t.Fatal("the same loop did not trip the brake again")
	}
	if _, _, err := h.spool.ReleaseBrake("nobody", ev); err == nil {
		t.Fatal("released a brake that is not on")
	}
}

// TestBrakeCredentialThresholds: a credential's own threshold wins over
// the global one, at once, for a session already logged in; 0 is off.
func TestBrakeCredentialThresholds(t *testing.T) {
	t.Parallel()
	h := brakeHarness(t, DefaultBrake)
	c := h.login()
	set := func(dup *int) {
		cred, _ := h.creds.Get("app")
		s := auth.SettingsOf(cred)
		s.BrakeDuplicates = dup
		if _, err := h.creds.Update("app", s); err != nil {
			t.Fatal(err)
		}
	}
	off, two := 0, 2
	set(&off)
	h.sendLoop(c, 10, false)
	if b := h.brakes(); len(b) != 0 {
		t.Fatalf("braked with the loop trigger off: %+v", b)
	}
	set(&two)
	h.clock.Advance(loopWindow) // the copies sent while off were not counted anyway
	h.sendLoop(c, 3, false)
	if b, ok := h.brakes()["app"]; !ok || b.Threshold != 2 || b.Count != 3 {
		t.Fatalf("with its own threshold 2: %+v (braked %v)", b, ok)
	}
}

// A job that mails the same message to a list longer than the pair table
// every 100 seconds, 100 recipients a message, stays under the rate
// trigger and cycles the pair table without a pair ever repeating in it;
// the table of recipient lists still sees each message come back, and
// the sixth run trips the loop trigger.
func TestBrakeCatchesALoopToALongList(t *testing.T) {
	d := newDetector(DefaultBrake)
	cred := &auth.Credential{Name: "news"}
	digest := d.digest("Weekly news", []byte("Subject: Weekly news\r\n\r\nSame again.\r\n"))
	const perMessage, messages = 100, maxPairs/100 + 10 // 9,200 addresses
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	for run := 1; run <= 6; run++ {
		for m := range messages {
			to := make([]string, perMessage)
			for r := range to {
				to[r] = fmt.Sprintf("reader%d@example.net", m*perMessage+r)
			}
			trip := d.observe(observation{cred: cred, to: to, subject: "Weekly news", digest: digest, counted: true}, now)
			if trip != nil && (run < 6 || trip.Trigger != spool.TriggerLoop || trip.Count != 6) {
				t.Fatalf("run %d, message %d: trip %+v; want the loop trigger at 6 copies, in run 6 only", run, m+1, trip)
			}
			if trip != nil {
				return
			}
			now = now.Add(time.Second)
		}
		now = now.Add(100*time.Second - messages*time.Second)
	}
	t.Fatal("six runs of the same message to the same 9,200 addresses did not trip the brake")
}
