package spool

import (
	"testing"
	"time"
)

// TestBrakeKeepsItsMailFromSelectors: while a credential is braked, a
// release or a flush by selector (--credential, --all), an enable's
// release of what a disable held, or a brake release that meets a new
// trip lets nothing of it go: only the named messages (an operator's
// explicit choice) and the brake's own release do. A message an operator
// or a disable held passes to the brake instead of going.
func TestBrakeKeepsItsMailFromSelectors(t *testing.T) {
	s, _ := openTest(t)
	op := Event{Time: t0.Add(2 * time.Minute), Actor: "uid:0"}
	mine := accept(t, s, time.Hour)
	if _, err := s.Hold(Selector{IDs: []ID{mine.ID}}, op, false); err != nil {
		t.Fatal(err)
	}
	acc, err := s.AcceptAll([]Incoming{tripIncoming("v@example.net")}, [][]byte{[]byte("Subject: loop\r\n\r\nx\r\n")})
	if err != nil || acc.Tripped == nil {
		t.Fatalf("trip: %+v %v", acc, err)
	}
	tripping := acc.Messages[0].ID
	// A disable that races the session: a message arrives held by the
	// freeze, which comes first on arrival.
	if err := s.Freeze("app", op); err != nil {
		t.Fatal(err)
	}
	frozen := accept(t, s, time.Hour)
	if err := s.Unfreeze("app", op); err != nil {
		t.Fatal(err)
	}
	if res, err := s.ReleaseFrozen("app", op); err != nil || res.Count(Changed) != 0 || res.Count(Braked) != 1 {
		t.Fatalf("enable's release while braked: %v %v", res.Counts(), err)
	}
	for _, sel := range []Selector{{Credential: "app"}, {All: true}} {
		if res, err := s.Release(sel, op, false); err != nil || res.Count(Changed) != 0 || res.Count(Braked) != 3 {
			t.Fatalf("release %+v while braked: %v %v", sel, res.Counts(), err)
		}
		if res, err := s.Flush(sel, op, false); err != nil || res.Count(Changed) != 0 || res.Count(Braked) != 3 {
			t.Fatalf("flush %+v while braked: %v %v", sel, res.Counts(), err)
		}
	}
	mustCheck(t, s)
	for _, id := range []ID{mine.ID, tripping, frozen.ID} {
		if m, _ := s.Get(id); m.State != Held || m.HeldBy != HeldByBrake {
			t.Errorf("%s after releases and flushes by selector: %s by %q, want held by the brake", id, m.State, m.HeldBy)
		}
	}
	// The release of a brake that a new trip put back on: the new brake
	// keeps what it holds.
	if res, err := s.action(Selector{Credential: "app", All: true, States: []State{Held}},
		releaseAction{ev: op, only: HeldByBrake}, false, nil); err != nil || res.Count(Changed) != 0 {
		t.Fatalf("the brake release's sweep while braked: %v %v", res.Counts(), err)
	}
	// By ID, the operator's choice goes.
	if res, err := s.Flush(Selector{IDs: []ID{tripping}}, op, false); err != nil || res.Count(Changed) != 1 {
		t.Fatalf("flush by ID: %v %v", res.Counts(), err)
	}
	if res, err := s.Release(Selector{IDs: []ID{frozen.ID}}, op, false); err != nil || res.Count(Changed) != 1 {
		t.Fatalf("release by ID: %v %v", res.Counts(), err)
	}
	if _, res, err := s.ReleaseBrake("app", op); err != nil || res.Count(Changed) != 1 {
		t.Fatalf("brake release: %v %v", res.Counts(), err)
	}
	mustCheck(t, s)
}

// TestBrakeReleasedDuringAnAttempt: a message in flight when the brake
// tripped carries the brake's intent; if the brake is released before
// the attempt ends, a deferral puts it back on schedule like the rest of
// the brake's mail, rather than holding it for a brake that is gone.
func TestBrakeReleasedDuringAnAttempt(t *testing.T) {
	s, _ := openTest(t)
	sending := accept(t, s, 0)
	if got, _ := s.Claim(t0, 1); len(got) != 1 {
		t.Fatalf("claim: %v", got)
	}
	acc, err := s.AcceptAll([]Incoming{tripIncoming("v@example.net")}, [][]byte{[]byte("Subject: loop\r\n\r\nx\r\n")})
	if err != nil || len(acc.InFlight) != 1 {
		t.Fatalf("trip: %+v %v", acc, err)
	}
	if _, _, err := s.ReleaseBrake("app", Event{Time: t0.Add(time.Minute), Actor: "uid:0"}); err != nil {
		t.Fatal(err)
	}
	m, err := s.Finish(sending.ID, Attempt{Rcpts: sending.Rcpts, State: Deferred, Retry: t0.Add(time.Hour), Now: t0.Add(2 * time.Minute)})
	if err != nil || m.State != Deferred {
		t.Fatalf("deferred after the brake's release: %s by %q, %v", m.State, m.HeldBy, err)
	}
	mustCheck(t, s)
}
