package spool

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"
)

func acceptBatch(t testing.TB, s *Spool, batch string, cats []string, release time.Time) Message {
	t.Helper()
	m, err := s.Accept(Incoming{
		Credential: "app", From: "app@example.com", To: []string{"rcpt@example.com"},
		Received: t0, Release: release, SendAt: release,
		Batch: batch, Categories: cats, UniqueArgs: map[string]string{"user": "42"},
	}, []byte("Subject: hi\r\n\r\nbody\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestBatchMetadataIsKeptAndSelectable(t *testing.T) {
	s, _ := openTest(t)
	at := t0.Add(48 * time.Hour)
	a := acceptBatch(t, s, "b1", []string{"welcome", "onboarding"}, at)
	acceptBatch(t, s, "b2", []string{"welcome"}, at)
	accept(t, s, time.Minute)

	got, err := s.Get(a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Batch != "b1" || !reflect.DeepEqual(got.Categories, []string{"welcome", "onboarding"}) ||
		got.UniqueArgs["user"] != "42" || !got.SendAt.Equal(at) || got.State != Waiting {
		t.Fatalf("record lost its scheduling metadata: %+v", got)
	}
	for _, tc := range []struct {
		sel  Selector
		want int
	}{
		{Selector{Batch: "b1"}, 1},
		{Selector{Batch: "b2"}, 1},
		{Selector{Batch: "nope"}, 0},
		{Selector{Category: "welcome"}, 2},
		{Selector{Category: "onboarding"}, 1},
		{Selector{Category: "welcome", Batch: "b2"}, 1},
	} {
		msgs, _, err := s.List(tc.sel, 0, 100)
		if err != nil || len(msgs) != tc.want {
			t.Errorf("List(%+v) = %d messages, %v; want %d", tc.sel, len(msgs), err, tc.want)
		}
		res, err := s.Hold(tc.sel, op, true)
		if err != nil || res.Count(Changed) != tc.want {
			t.Errorf("dry Hold(%+v) = %v, %v; want %d changed", tc.sel, res.Counts(), err, tc.want)
		}
	}
	bs, err := s.Batches(false)
	if err != nil || len(bs) != 2 || bs[0].ID != "b1" || bs[1].ID != "b2" {
		t.Fatalf("batches registered on arrival: %+v %v", bs, err)
	}
	if _, err := s.CreateBatch("b1", t0, nil); !errors.Is(err, ErrBatchExists) {
		t.Fatalf("creating an existing batch: %v", err)
	}
}

func TestOldRecordsWithoutSchedulingDecode(t *testing.T) {
	m := Message{ID: 7, From: "a@example.com", Rcpts: []Recipient{{Addr: "b@example.com"}}, State: Queued}
	v, err := encodeMessage(&m)
	if err != nil {
		t.Fatal(err)
	}
	back, err := decodeMessage(v)
	if err != nil || back.Batch != "" || back.Categories != nil || back.UniqueArgs != nil {
		t.Fatalf("record without the tail: %+v %v", back, err)
	}
	m.Batch, m.Categories, m.UniqueArgs, m.SendAt = "b", []string{"x"}, map[string]string{"k": "v"}, t0
	v, _ = encodeMessage(&m)
	if back, err = decodeMessage(v); err != nil || !reflect.DeepEqual(back, m) {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	for i := len(v) - 1; i > len(v)-10; i-- {
		if _, err := decodeMessage(v[:i]); err == nil {
			t.Fatalf("truncated record (%d of %d bytes) decoded", i, len(v))
		}
	}
}

func TestPausedBatchHoldsNowAndLater(t *testing.T) {
	s, _ := openTest(t)
	a := acceptBatch(t, s, "b1", nil, t0)
	other := acceptBatch(t, s, "b2", nil, t0)
	ev := Event{Time: t0, Actor: "test", Reason: "wrong template"}
	if _, err := s.SetBatchStatus("b1", BatchPaused, ev); err != nil {
		t.Fatal(err)
	}
	if n, err := s.HoldBatch("b1", nil); err != nil || n != 1 {
		t.Fatalf("HoldBatch = %d, %v", n, err)
	}
	late := acceptBatch(t, s, "b1", nil, t0)
	if m, _ := s.Get(late.ID); m.State != Held || m.HeldBy != HeldByPause {
		t.Fatalf("late arrival of a paused batch: %s by %q", m.State, m.HeldBy)
	}
	claimed, err := s.Claim(t0.Add(time.Minute), 10)
	if err != nil || len(claimed) != 1 || claimed[0].ID != other.ID {
		t.Fatalf("claim under a batch pause took %d messages (%v)", len(claimed), err)
	}
	// A flush cannot override the pause: it says so.
	if res, _ := s.Flush(Selector{Batch: "b1"}, op, false); res.Count(Paused) != 2 {
		t.Fatalf("flush of a paused batch: %v", res.Counts())
	}
	if _, err := s.SetBatchStatus("b1", BatchActive, ev); err != nil {
		t.Fatal(err)
	}
	if n, err := s.ReleaseBatch("b1", Event{Time: t0.Add(time.Minute), Actor: "test"}); err != nil || n != 2 {
		t.Fatalf("ReleaseBatch = %d, %v", n, err)
	}
	claimed, _ = s.Claim(t0.Add(time.Minute), 10)
	if len(claimed) != 2 || (claimed[0].ID != a.ID && claimed[1].ID != a.ID) {
		t.Fatalf("after resume, claimed %d", len(claimed))
	}
}

func TestCancelledBatchDropsNowAndLater(t *testing.T) {
	s, _ := openTest(t)
	acceptBatch(t, s, "b1", nil, t0.Add(time.Hour))
	sending := acceptBatch(t, s, "b1", nil, t0)
	if c, _ := s.Claim(t0, 10); len(c) != 1 {
		t.Fatal("the due message was not claimed")
	}
	ev := Event{Time: t0, Actor: "test"}
	if _, err := s.SetBatchStatus("b1", BatchCancelled, ev); err != nil {
		t.Fatal(err)
	}
	res, err := s.DropWait(Selector{Batch: "b1", All: true}, ev, false, func(ids []ID) error {
		// The attempt is aborted before the dot: deferred, then settled dropped.
		_, err := s.Finish(sending.ID, Attempt{Rcpts: []Recipient{{Addr: "rcpt@example.com"}},
			State: Deferred, Retry: t0.Add(time.Hour), Now: t0})
		return err
	})
	if err != nil || res.Count(Changed) != 2 {
		t.Fatalf("cancel dropped %v, %v", res.Counts(), err)
	}
	late := acceptBatch(t, s, "b1", nil, t0)
	if m, _ := s.Get(late.ID); m.State != Dropped || m.Reason != "batch b1 cancelled" {
		t.Fatalf("late arrival of a cancelled batch: %s %q", m.State, m.Reason)
	}
	wantCounts(t, s, map[State]int{Dropped: 3})
}

// The case: 10,000 scheduled messages of one batch, paused then
// resumed, end up back on their schedule and none is lost on the way.
func TestTenThousandScheduledMessagesPausedAndResumed(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 fsync'd accepts")
	}
	s, _ := openTest(t)
	const n, workers = 10000, 50
	at := t0.Add(2 * time.Hour)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n / workers {
				if _, err := s.Accept(Incoming{From: "a@example.com", To: []string{fmt.Sprintf("r%d@example.com", w)},
					Received: t0, Release: at, SendAt: at, Batch: "big"}, []byte("\r\nx\r\n")); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	ev := Event{Time: t0.Add(time.Minute), Actor: "test"}
	s.SetBatchStatus("big", BatchPaused, ev)
	if held, err := s.HoldBatch("big", nil); err != nil || held != n {
		t.Fatalf("held %d of %d: %v", held, n, err)
	}
	if c, _ := s.Claim(at.Add(time.Hour), 100); len(c) != 0 {
		t.Fatalf("%d claimed while paused", len(c))
	}
	s.SetBatchStatus("big", BatchActive, ev)
	if released, err := s.ReleaseBatch("big", ev); err != nil || released != n {
		t.Fatalf("released %d of %d: %v", released, n, err)
	}
	wantCounts(t, s, map[State]int{Waiting: n})
	if due, ok, _ := s.NextDue(); !ok || !due.Equal(at) {
		t.Fatalf("after resume the batch is due at %v, want its send time %v", due, at)
	}
}

// An operator's hold made during a pause, then released (or flushed),
// leaves the message with the pause, not queued where no claim may take
// it; resuming the pause then lets it go.
func TestReleaseDuringAPauseLeavesTheMessageWithThePause(t *testing.T) {
	s, _ := openTest(t)
	m := acceptBatch(t, s, "b1", nil, t0)
	ev := Event{Time: t0, Actor: "test"}
	s.SetBatchStatus("b1", BatchPaused, ev)
	s.HoldBatch("b1", nil)
	if res, _ := s.Hold(Selector{Batch: "b1"}, op, false); res.Count(Changed) != 1 {
		t.Fatalf("hold: %v", res.Counts())
	}
	for _, do := range []func(Selector, Event, bool) (Result, error){s.Release, s.Flush} {
		if res, err := do(Selector{Batch: "b1"}, op, false); err != nil || res.Count(Paused) != 1 {
			t.Fatalf("release/flush under the batch pause: %v %v", res.Counts(), err)
		}
		if got, _ := s.Get(m.ID); got.State != Held || got.HeldBy != HeldByPause || got.Reason != "paused: batch b1" {
			t.Fatalf("after release: %s by %q (%q)", got.State, got.HeldBy, got.Reason)
		}
		s.Hold(Selector{Batch: "b1"}, op, false)
	}
	s.Release(Selector{Batch: "b1"}, op, false)
	s.SetBatchStatus("b1", BatchActive, ev)
	if n, _ := s.ReleaseBatch("b1", ev); n != 1 {
		t.Fatalf("resume released %d", n)
	}
}

// A message held by two pauses names the one still holding it after the
// other is lifted.
func TestResumeNamesThePauseStillHolding(t *testing.T) {
	s, _ := openTest(t)
	m := acceptBatch(t, s, "b1", nil, t0)
	if _, err := s.Pause(Pause{Credential: "app", Actor: "test", Since: t0}); err != nil {
		t.Fatal(err)
	}
	s.SetBatchStatus("b1", BatchPaused, Event{Time: t0, Actor: "test"})
	if n, _ := s.Resume("app", t0, "test", ""); n != 0 {
		t.Fatalf("resume of the credential released %d held by the batch", n)
	}
	if got, _ := s.Get(m.ID); got.State != Held || got.Reason != "paused: batch b1" {
		t.Fatalf("after the credential's resume: %s %q", got.State, got.Reason)
	}
}

func TestExpireForgetsEmptyActiveBatches(t *testing.T) {
	s, _ := openTest(t)
	m := acceptBatch(t, s, "old", nil, t0)
	s.CreateBatch("empty", t0, nil)
	s.SetBatchStatus("paused", BatchPaused, Event{Time: t0, Actor: "test"})
	s.Drop(Selector{IDs: []ID{m.ID}}, op, false)
	if _, err := s.Expire(t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	bs, _ := s.Batches(false)
	if len(bs) != 1 || bs[0].ID != "paused" {
		t.Fatalf("after expiry: %+v, want only the paused batch", bs)
	}
}
