package spool

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func acceptAs(t *testing.T, s *Spool, cred, from string, to string, hold time.Duration) Message {
	t.Helper()
	m, err := s.Accept(Incoming{Credential: cred, From: from, To: []string{to}, Received: t0, Release: t0.Add(hold),
		Headers: []Header{{Name: "Subject", Value: "hi"}}}, []byte("Subject: hi\r\n\r\nx\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var op = Event{Time: t0.Add(time.Second), Actor: "uid:0", Reason: "runaway script"}

func TestEmptySelectorIsRefused(t *testing.T) {
	s, _ := openTest(t)
	acceptAs(t, s, "app", "a@x", "b@y", time.Hour)
	for name, f := range map[string]func(Selector, Event, bool) (Result, error){"drop": s.Drop, "hold": s.Hold, "flush": s.Flush, "release": s.Release} {
		if _, err := f(Selector{}, op, false); !errors.Is(err, ErrEmptySelector) {
			t.Errorf("%s with an empty selector: %v", name, err)
		}
	}
	wantCounts(t, s, map[State]int{Waiting: 1})
}

func TestSelectorsPickExactly(t *testing.T) {
	s, _ := openTest(t)
	a1 := acceptAs(t, s, "billing", "bill@corp.com", "x@customer.com", time.Hour)
	a2 := acceptAs(t, s, "billing", "bill@corp.com", "y@other.org", time.Hour)
	b1 := acceptAs(t, s, "news", "news@corp.com", "x@customer.com", time.Hour)
	for _, tc := range []struct {
		sel  Selector
		want []ID
	}{
		{Selector{Credential: "billing"}, []ID{a1.ID, a2.ID}},
		{Selector{Credential: "news"}, []ID{b1.ID}},
		{Selector{From: "news@corp.com"}, []ID{b1.ID}},
		{Selector{From: "@CORP.com"}, []ID{a1.ID, a2.ID, b1.ID}},
		{Selector{To: "@customer.com"}, []ID{a1.ID, b1.ID}},
		{Selector{Credential: "billing", To: "@other.org"}, []ID{a2.ID}},
		{Selector{States: []State{Held}}, nil},
		{Selector{OlderThan: t0}, nil},
		{Selector{NewerThan: t0.Add(-time.Second)}, []ID{a1.ID, a2.ID, b1.ID}},
		{Selector{IDs: []ID{b1.ID, 42}}, []ID{b1.ID}},
	} {
		res, err := s.Hold(tc.sel, op, true)
		if err != nil {
			t.Fatal(err)
		}
		got := res.IDs[Changed]
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%+v selected %v, want %v", tc.sel, got, tc.want)
		}
	}
	wantCounts(t, s, map[State]int{Waiting: 3}) // every run was a dry run
}

func TestDropHoldFlushRelease(t *testing.T) {
	s, _ := openTest(t)
	a := acceptAs(t, s, "app", "a@x", "r@y", time.Hour)
	b := acceptAs(t, s, "app", "a@x", "r@y", time.Hour)
	other := acceptAs(t, s, "other", "o@x", "r@y", time.Hour)

	res, err := s.Hold(Selector{Credential: "app"}, op, false)
	if err != nil || res.Count(Changed) != 2 {
		t.Fatalf("hold: %v %v", res.Counts(), err)
	}
	wantCounts(t, s, map[State]int{Held: 2, Waiting: 1})
	if got, _ := s.Claim(t0.Add(2*time.Hour), 10); len(got) != 1 || got[0].ID != other.ID {
		t.Fatalf("claimed held messages: %v", got)
	}

	res, _ = s.Release(Selector{IDs: []ID{a.ID}}, op, false)
	if res.Count(Changed) != 1 {
		t.Fatalf("release: %v", res.Counts())
	}
	if m, _ := s.Get(a.ID); m.State != Waiting || m.HeldBy != "" {
		t.Fatalf("released message is %s held by %q", m.State, m.HeldBy)
	}

	res, _ = s.Flush(Selector{IDs: []ID{a.ID, b.ID}}, op, false)
	if res.Count(Changed) != 2 {
		t.Fatalf("flush: %v", res.Counts())
	}
	if at, ok, _ := s.NextDue(); !ok || !at.Equal(op.Time) {
		t.Errorf("flushed messages due at %v, want %v", at, op.Time)
	}

	res, _ = s.Drop(Selector{IDs: []ID{a.ID, 12345}}, op, false)
	if res.Count(Changed) != 1 || res.Count(NotFound) != 1 {
		t.Fatalf("drop: %v", res.Counts())
	}
	d, err := s.Details(a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.State != Dropped || d.Reason != "runaway script" || len(d.Headers) != 1 {
		t.Errorf("dropped details: %+v", d)
	}
	var trail []string
	for _, ev := range d.History {
		trail = append(trail, ev.State.String()+"/"+ev.Actor)
	}
	if want := []string{"waiting/smtp", "held/uid:0", "waiting/uid:0", "queued/uid:0", "dropped/uid:0"}; !slices.Equal(trail, want) {
		t.Errorf("history %v, want %v", trail, want)
	}
	if _, err := s.Body(a.ID); !errors.Is(err, ErrNotFound) {
		t.Error("dropped message kept its body")
	}
	// Dropping again names it as finished, not dropped twice.
	res, _ = s.Drop(Selector{IDs: []ID{a.ID}}, op, false)
	if res.Count(AlreadyFinished) != 1 {
		t.Errorf("second drop: %v", res.Counts())
	}
}

func TestDropOfSendingMessageWaitsForTheAttempt(t *testing.T) {
	for _, tc := range []struct {
		attempt     State
		interrupted bool // the dot went out, no reply came
		want        State
	}{
		{Delivered, false, Delivered}, // the upstream had it: drop must say so
		{Deferred, false, Dropped},    // aborted before the dot
		{Failed, false, Dropped},
		{Deferred, true, Unsure}, // it may have it
	} {
		t.Run(fmt.Sprintf("%s,interrupted=%v", tc.attempt, tc.interrupted), func(t *testing.T) {
			s, _ := openTest(t)
			m := accept(t, s, 0)
			s.Claim(t0, 1)
			res, err := s.Drop(Selector{All: true}, op, false)
			if err != nil || res.Count(InFlight) != 1 {
				t.Fatalf("drop of a sending message: %v %v", res.Counts(), err)
			}
			if got, _ := s.Get(m.ID); got.State != Sending || got.Intent == nil || !got.Intent.Drop {
				t.Fatalf("after drop: %s intent %+v", got.State, got.Intent)
			}
			rc := []Recipient{{Addr: "rcpt@example.com", State: RcptPending}}
			if tc.attempt == Delivered {
				rc[0].State = RcptDelivered
			}
			done, err := s.Finish(m.ID, Attempt{Rcpts: rc, State: tc.attempt, Retry: t0.Add(time.Hour),
				Now: t0.Add(time.Second), Interrupted: tc.interrupted})
			if err != nil {
				t.Fatal(err)
			}
			if done.State != tc.want || done.Intent != nil {
				t.Errorf("attempt %s under a drop ended %s", tc.attempt, done.State)
			}
			mustCheck(t, s)
		})
	}
}

// An attempt whose dot went out without a reply (a timeout, a broken
// connection) is deferred and retried; a drop meanwhile must not say
// "dropped", since the upstream may have the message.
func TestDropAfterAnUnansweredDotSaysMaybeDelivered(t *testing.T) {
	s, _ := openTest(t)
	m := accept(t, s, 0)
	s.Claim(t0, 1)
	rc := []Recipient{{Addr: "rcpt@example.com", State: RcptPending, Reply: "no reply to the end of data"}}
	if _, err := s.Finish(m.ID, Attempt{Rcpts: rc, State: Deferred, Retry: t0.Add(time.Hour), Now: t0, Interrupted: true}); err != nil {
		t.Fatal(err)
	}
	res, err := s.Drop(Selector{IDs: []ID{m.ID}}, op, false)
	if err != nil || res.Count(MaybeDelivered) != 1 {
		t.Fatalf("drop after an unanswered dot: %v %v", res.Counts(), err)
	}
	if got, _ := s.Get(m.ID); got.State != Unsure {
		t.Errorf("state %s, want maybe_delivered", got.State)
	}
	mustCheck(t, s)
}

// A drop that waits on an attempt past its dot, then kill -9: the
// upstream may have the message, so it must not come back as dropped.
func TestCrashDuringDroppedSendIsMaybeDeliveredAtOpen(t *testing.T) {
	path := t.TempDir() + "/spool.db"
	s, err := openPath(t, path)
	if err != nil {
		t.Fatal(err)
	}
	dropped := accept(t, s, 0)
	held := accept(t, s, 0)
	s.Claim(t0, 2)
	s.Drop(Selector{IDs: []ID{dropped.ID}}, op, false)
	s.Hold(Selector{IDs: []ID{held.ID}}, op, false)
	s.Close()

	s, err = openPath(t, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustCheck(t, s)
	d, _ := s.Details(dropped.ID)
	if d.State != Unsure || d.State.String() != "maybe_delivered" || !d.State.Finished() {
		t.Errorf("dropped-while-sending message is %s after restart", d.State)
	}
	if last := d.History[len(d.History)-1]; last.Actor != op.Actor || !strings.Contains(last.Reason, op.Reason) ||
		!strings.Contains(last.Reason, "interrupted") {
		t.Errorf("its history ends %+v", last)
	}
	wantCounts(t, s, map[State]int{Unsure: 1, Held: 1})
	// It is never sent again, and a later drop says what it is.
	if c, _ := s.Claim(t0.Add(time.Hour), 10); len(c) != 0 {
		t.Errorf("claimed %d after restart", len(c))
	}
	if res, _ := s.Drop(Selector{IDs: []ID{dropped.ID}}, op, false); res.Count(AlreadyFinished) != 1 {
		t.Errorf("drop again: %v", res.Counts())
	}
	if m, _ := s.Get(held.ID); m.State != Held || m.HeldBy != HeldByOperator {
		t.Errorf("held-while-sending message is %s (%s) after restart", m.State, m.HeldBy)
	}
}

func TestPauseHoldsAndResumeReleases(t *testing.T) {
	s, _ := openTest(t)
	app := acceptAs(t, s, "app", "a@x", "r@y", 0)
	other := acceptAs(t, s, "other", "o@x", "r@y", 0)
	n, err := s.Pause(Pause{Credential: "app", Reason: "loop", Actor: "uid:0", Since: t0})
	if err != nil || n != 1 {
		t.Fatalf("pause held %d, %v", n, err)
	}
	late := acceptAs(t, s, "app", "a@x", "r@y", 0)
	if late.State != Held || late.HeldBy != HeldByPause || late.Reason != "paused: credential app: loop" {
		t.Errorf("arrival during a pause: %s by %q (%q)", late.State, late.HeldBy, late.Reason)
	}
	got, _ := s.Claim(t0, 10)
	if len(got) != 1 || got[0].ID != other.ID {
		t.Fatalf("claim under a pause took %d messages", len(got))
	}
	// Flush does not override a pause; release neither.
	if res, _ := s.Flush(Selector{IDs: []ID{app.ID}}, op, false); res.Count(Paused) != 1 {
		t.Errorf("flush of a paused message: %v", res.Counts())
	}
	if ps, _ := s.Pauses(); len(ps) != 1 || ps[0].Credential != "app" {
		t.Errorf("pauses: %+v", ps)
	}
	n, err = s.Resume("app", t0.Add(time.Minute), "uid:0", "fixed")
	if err != nil || n != 2 {
		t.Fatalf("resume released %d, %v", n, err)
	}
	if got, _ := s.Claim(t0.Add(time.Minute), 10); len(got) != 2 {
		t.Errorf("after resume, claimed %d", len(got))
	}
	if _, err := s.Resume("app", t0, "uid:0", ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("resume without a pause: %v", err)
	}
}

func TestGlobalPauseStopsAllClaims(t *testing.T) {
	s, _ := openTest(t)
	acceptAs(t, s, "", "cron@x", "r@y", 0)
	held := acceptAs(t, s, "app", "a@x", "r@y", time.Hour)
	s.Hold(Selector{IDs: []ID{held.ID}}, op, false)
	s.Pause(Pause{Actor: "uid:0", Since: t0})
	if got, _ := s.Claim(t0.Add(2*time.Hour), 10); len(got) != 0 {
		t.Fatalf("claimed %d under a global pause", len(got))
	}
	wantCounts(t, s, map[State]int{Held: 2})
	if n, _ := s.Resume("", t0, "uid:0", ""); n != 1 {
		t.Errorf("resume released %d, want only the pause's message", n)
	}
	if m, _ := s.Get(held.ID); m.State != Held || m.HeldBy != HeldByOperator {
		t.Errorf("operator's hold lifted by a resume: %s %s", m.State, m.HeldBy)
	}
}

func TestListPagesNewestFirst(t *testing.T) {
	s, _ := openTest(t)
	var ids []ID
	for i := 0; i < 7; i++ {
		cred := "a"
		if i%2 == 1 {
			cred = "b"
		}
		ids = append(ids, acceptAs(t, s, cred, fmt.Sprintf("s%d@x", i), "r@y", time.Hour).ID)
	}
	var got []ID
	var cursor ID
	for page := 0; ; page++ {
		msgs, next, err := s.List(Selector{}, cursor, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			got = append(got, m.ID)
		}
		if next == 0 {
			break
		}
		cursor = next
		if page > 5 {
			t.Fatal("paging does not end")
		}
	}
	want := slices.Clone(ids)
	slices.Reverse(want)
	if !slices.Equal(got, want) {
		t.Fatalf("pages gave %v, want %v", got, want)
	}
	msgs, next, _ := s.List(Selector{Credential: "b"}, 0, 10)
	if len(msgs) != 3 || next != 0 || msgs[0].ID != ids[5] {
		t.Errorf("credential b: %d messages, next %v", len(msgs), next)
	}
}

func TestAuditLog(t *testing.T) {
	s, _ := openTest(t)
	for i := 0; i < 3; i++ {
		if _, err := s.AddAudit(AuditEntry{Time: t0, Actor: "uid:0", Action: fmt.Sprint("drop", i), Counts: map[string]int{"changed": i}}); err != nil {
			t.Fatal(err)
		}
	}
	es, err := s.Audit(0, 2)
	if err != nil || len(es) != 2 || es[0].Action != "drop2" || es[1].Action != "drop1" {
		t.Fatalf("audit page: %+v %v", es, err)
	}
	es, _ = s.Audit(es[1].Seq, 10)
	if len(es) != 1 || es[0].Action != "drop0" {
		t.Fatalf("audit next page: %+v", es)
	}
}

func TestFreezeHoldsArrivalsAndStopsClaims(t *testing.T) {
	s, _ := openTest(t)
	before := acceptAs(t, s, "rogue", "r@x", "v@y", 0)
	other := acceptAs(t, s, "fine", "f@x", "v@y", 0)
	if err := s.Freeze("rogue", op); err != nil {
		t.Fatal(err)
	}
	after := acceptAs(t, s, "rogue", "r@x", "v@y", 0)
	if after.State != Held || after.HeldBy != HeldByFreeze || after.Reason != op.Reason {
		t.Errorf("arrival after freeze: %s by %q (%q)", after.State, after.HeldBy, after.Reason)
	}
	got, _ := s.Claim(t0, 10)
	if len(got) != 1 || got[0].ID != other.ID {
		t.Fatalf("claim took %d messages; a frozen credential's was among them?", len(got))
	}
	res, err := s.HoldFrozenWait("rogue", op, func([]ID) error { return nil })
	if err != nil || res.Count(Changed) != 1 || res.IDs[Changed][0] != before.ID {
		t.Fatalf("hold after freeze: %v %v", res.Counts(), err)
	}
	counts, _ := s.Count(Selector{Credential: "rogue"})
	if counts[Held] != 2 || len(counts) != 1 {
		t.Errorf("counts for rogue: %v", counts)
	}
	s.Unfreeze("rogue", op)
	if m := acceptAs(t, s, "rogue", "r@x", "v@y", 0); m.State != Queued {
		t.Errorf("arrival after unfreeze: %s", m.State)
	}
}

func TestDropAfterAnInterruptedAttemptSaysMaybeDelivered(t *testing.T) {
	path := t.TempDir() + "/spool.db"
	s, err := openPath(t, path)
	if err != nil {
		t.Fatal(err)
	}
	m := accept(t, s, 0)
	clean := accept(t, s, time.Hour)
	s.Claim(t0, 1) // then the process dies mid-attempt
	s.Close()
	s, err = openPath(t, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, _ := s.Get(m.ID); got.State != Queued || !got.Interrupted {
		t.Fatalf("after restart: %s, interrupted %v", got.State, got.Interrupted)
	}
	res, err := s.Drop(Selector{IDs: []ID{m.ID, clean.ID}}, op, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Count(MaybeDelivered) != 1 || res.IDs[MaybeDelivered][0] != m.ID || res.Count(Changed) != 1 {
		t.Fatalf("drop after a crash: %v", res.Counts())
	}
	if got, _ := s.Get(m.ID); got.State != Unsure {
		t.Errorf("state %s, want maybe_delivered", got.State)
	}
	mustCheck(t, s)
}

func TestFrozenMailIsNotFlushedNorBlocksOthers(t *testing.T) {
	s, _ := openTest(t)
	var frozen []ID
	for i := 0; i < 3; i++ {
		frozen = append(frozen, acceptAs(t, s, "shop", "s@x", "r@y", time.Hour).ID)
	}
	s.Freeze("shop", op)
	s.HoldWait(Selector{Credential: "shop", All: true}, op, false, func([]ID) error { return nil })
	for name, f := range map[string]func(Selector, Event, bool) (Result, error){"flush": s.Flush, "release": s.Release} {
		res, err := f(Selector{Credential: "shop"}, op, false)
		if err != nil || res.Count(Disabled) != 3 || res.Count(Changed) != 0 {
			t.Errorf("%s of a disabled credential's mail: %v %v", name, res.Counts(), err)
		}
	}
	// Even if frozen mail sits at the head of the queue, others go past it.
	s.update(func(t *txn) error {
		for _, id := range frozen {
			m, _ := t.get(id)
			t.transition(&m, op, func(m *Message) { m.State, m.HeldBy, m.Release = Queued, "", t0 })
		}
		return nil
	})
	bill := acceptAs(t, s, "bill", "b@x", "r@y", 0)
	got, err := s.Claim(t0.Add(time.Minute), 2)
	if err != nil || len(got) != 1 || got[0].ID != bill.ID {
		t.Fatalf("claim behind frozen mail: %d messages, %v", len(got), err)
	}
}

func TestHoldDoesNotUndoADrop(t *testing.T) {
	s, _ := openTest(t)
	m := accept(t, s, 0)
	s.Claim(t0, 1)
	s.Drop(Selector{IDs: []ID{m.ID}}, op, false)
	res, _ := s.HoldWait(Selector{IDs: []ID{m.ID}}, op, false, func([]ID) error {
		_, err := s.Finish(m.ID, Attempt{Rcpts: []Recipient{{Addr: "rcpt@example.com"}}, State: Deferred, Retry: t0.Add(time.Hour), Now: t0})
		return err
	})
	if got, _ := s.Get(m.ID); got.State != Dropped {
		t.Fatalf("a hold after a drop left the message %s", got.State)
	}
	if res.Count(AlreadyFinished) != 1 {
		t.Errorf("hold's report: %v", res.Counts())
	}
}

func TestRepeatedIDsCountOnce(t *testing.T) {
	s, _ := openTest(t)
	m := accept(t, s, time.Hour)
	dry, _ := s.Drop(Selector{IDs: []ID{m.ID, m.ID}}, op, true)
	real, _ := s.Drop(Selector{IDs: []ID{m.ID, m.ID}}, op, false)
	if dry.Count(Changed) != 1 || real.Count(Changed) != 1 || real.Count(AlreadyFinished) != 0 {
		t.Errorf("dry %v, real %v", dry.Counts(), real.Counts())
	}
}
