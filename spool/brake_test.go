package spool

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func tripIncoming(to string) Incoming {
	return Incoming{Credential: "app", From: "app@example.com", To: []string{to}, Subject: "loop",
		Received: t0.Add(time.Minute), Release: t0.Add(time.Minute + 30*time.Second),
		Brake: &Brake{Trigger: TriggerLoop, Count: 6, Threshold: 5, Window: 10 * time.Minute, Recipient: to, Subject: "loop"}}
}

// TestTripHoldsEverythingInOneTransaction: the trip holds the credential's
// waiting, queued and pause-held mail and the tripping message; a message
// being sent gets an intent and is held when its attempt ends; an
// operator's hold stays the operator's; other credentials are untouched.
// The brake survives a reopen, and the release lets go of its own only.
func TestTripHoldsEverythingInOneTransaction(t *testing.T) {
	s, path := openTest(t)
	waiting := accept(t, s, time.Hour)
	sending := accept(t, s, 0)
	if got, _ := s.Claim(t0, 1); len(got) != 1 || got[0].ID != sending.ID {
		t.Fatalf("claim: %v", got)
	}
	mine := accept(t, s, time.Hour)
	if _, err := s.Hold(Selector{IDs: []ID{mine.ID}}, Event{Time: t0, Actor: "uid:0"}, false); err != nil {
		t.Fatal(err)
	}
	other := acceptAs(t, s, "other", "o@example.com", "x@example.net", time.Hour)

	acc, err := s.AcceptAll([]Incoming{tripIncoming("v@example.net")}, [][]byte{[]byte("Subject: loop\r\n\r\nx\r\n")})
	if err != nil {
		t.Fatal(err)
	}
	if acc.Tripped == nil || acc.Tripped.Held != 2 || len(acc.InFlight) != 1 || acc.InFlight[0] != sending.ID {
		t.Fatalf("accepted: tripped %+v, in flight %v", acc.Tripped, acc.InFlight)
	}
	mustCheck(t, s)
	for id, want := range map[ID]string{waiting.ID: HeldByBrake, acc.Messages[0].ID: HeldByBrake, mine.ID: HeldByOperator} {
		if m, _ := s.Get(id); m.State != Held || m.HeldBy != want {
			t.Errorf("%s: %s by %q, want held by %s", id, m.State, m.HeldBy, want)
		}
	}
	if m, _ := s.Get(other.ID); m.State != Waiting {
		t.Errorf("another credential's message: %s", m.State)
	}
	// The attempt ends in a deferral: the intent holds it for the brake.
	if m, err := s.Finish(sending.ID, Attempt{Rcpts: sending.Rcpts, State: Deferred, Retry: t0.Add(time.Hour), Now: t0}); err != nil || m.HeldBy != HeldByBrake {
		t.Fatalf("finish of the transfer in flight: %s by %q, %v", m.State, m.HeldBy, err)
	}
	// A second trip while braked does nothing more.
	acc2, err := s.AcceptAll([]Incoming{tripIncoming("w@example.net")}, [][]byte{[]byte("x")})
	if err != nil || acc2.Tripped != nil || acc2.Messages[0].HeldBy != HeldByBrake {
		t.Fatalf("second trip: %+v %v", acc2, err)
	}

	s.Close()
	s, err = openPath(t, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	bs, err := s.Brakes()
	if err != nil || len(bs) != 1 || bs[0].Credential != "app" || bs[0].Trigger != TriggerLoop || bs[0].Count != 6 {
		t.Fatalf("brakes after reopen: %+v %v", bs, err)
	}
	if m, _ := s.Accept(Incoming{Credential: "app", From: "a@x", To: []string{"b@y"}, Received: t0, Release: t0}, []byte("x")); m.HeldBy != HeldByBrake {
		t.Fatalf("new mail after reopen: %s by %q", m.State, m.HeldBy)
	}
	b, res, err := s.ReleaseBrake("app", Event{Time: t0.Add(time.Hour), Actor: "uid:0", Reason: "fixed", Audit: &AuditEntry{Action: "brake release", Actor: "uid:0"}})
	if err != nil || b.Trigger != TriggerLoop || res.Count(Changed) != 5 {
		t.Fatalf("release: %+v %v %v", b, res.Counts(), err)
	}
	if m, _ := s.Get(mine.ID); m.HeldBy != HeldByOperator {
		t.Errorf("the operator's hold: %s by %q after the brake's release", m.State, m.HeldBy)
	}
	if _, _, err := s.ReleaseBrake("app", Event{Time: t0}); !errors.Is(err, ErrNotBraked) {
		t.Errorf("second release: %v, want ErrNotBraked", err)
	}
	mustCheck(t, s)
	types := map[string]int{}
	evs, _ := s.Events(0, 1000)
	for _, ev := range evs {
		types[ev.Type]++
		if ev.Type == EvBrakeTripped && !strings.Contains(string(ev.Data), `"sample":{"recipient":"v@example.net","subject":"loop"}`) {
			t.Errorf("brake.tripped: %s", ev.Data)
		}
	}
	if types[EvBrakeTripped] != 1 || types[EvBrakeReleased] != 1 {
		t.Errorf("events: %v", types)
	}
	entries, _ := s.Audit(0, 10)
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Action)
	}
	if !strings.Contains(strings.Join(actions, ","), "brake release") || !strings.Contains(strings.Join(actions, ","), "brake trip") {
		t.Errorf("audit: %v", actions)
	}
}

// TestUnreadableBrakeFailsClosed: a brake record no one can read still
// brakes its credential, and says so.
func TestUnreadableBrakeFailsClosed(t *testing.T) {
	s, _ := openTest(t)
	if _, err := s.AcceptAll([]Incoming{tripIncoming("v@example.net")}, [][]byte{[]byte("x")}); err != nil {
		t.Fatal(err)
	}
	if err := s.SpoilRecord("brake", "app"); err != nil {
		t.Fatal(err)
	}
	if m := accept(t, s, 0); m.State != Held || m.HeldBy != HeldByBrake || !strings.Contains(m.Reason, "unreadable") {
		t.Fatalf("new mail under an unreadable brake: %s by %q (%s)", m.State, m.HeldBy, m.Reason)
	}
	if u, _ := s.Unreadable(); len(u) != 1 || u[0] != "brake app" {
		t.Fatalf("unreadable: %v", u)
	}
	if _, _, err := s.ReleaseBrake("app", Event{Time: t0}); err != nil {
		t.Fatalf("release of an unreadable brake: %v", err)
	}
}
