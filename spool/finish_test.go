package spool

import (
	"testing"

	"github.com/holdrelay/relay/spool/kv"
)

func TestFinishRefusesAnotherAttemptsOutcome(t *testing.T) {
	s, _ := openTest(t)
	m := accept(t, s, 0)
	c, _ := s.Claim(t0, 1)
	if len(c) != 1 || c[0].Attempts != 1 {
		t.Fatalf("claimed %+v", c)
	}
	rc := []Recipient{{Addr: "rcpt@example.com", State: RcptDelivered}}
	if _, err := s.Finish(m.ID, Attempt{Rcpts: rc, State: Delivered, Now: t0, Attempt: 2}); err == nil {
		t.Fatal("an outcome for attempt 2 settled attempt 1")
	}
	if got, err := s.Finish(m.ID, Attempt{Rcpts: rc, State: Delivered, Now: t0, Attempt: 1}); err != nil || got.State != Delivered {
		t.Fatalf("the right attempt's outcome: %v %v", got.State, err)
	}
}

// FinishAndClaim records the outcome and claims the next due message in
// one transaction, telling the hook of it; it never claims the message it
// has just finished, even when the outcome makes it due at once.
func TestFinishAndClaimTakesTheNext(t *testing.T) {
	s, _ := openTest(t)
	a, b := accept(t, s, 0), accept(t, s, 0)
	if c, _ := s.Claim(t0, 1); len(c) != 1 || c[0].ID != a.ID {
		t.Fatalf("claimed %+v", c)
	}
	var hooked []ID
	hook := func(id ID) { hooked = append(hooked, id) }
	rc := []Recipient{{Addr: "rcpt@example.com", State: RcptPending}}
	m, next, err := s.FinishAndClaim(a.ID, Attempt{Rcpts: rc, State: Deferred, Retry: t0, Now: t0, Attempt: 1}, 5, hook)
	if err != nil || m.State != Deferred {
		t.Fatalf("finish: %v %v", m.State, err)
	}
	if len(next) != 1 || next[0].ID != b.ID || next[0].State != Sending || len(next[0].Body) == 0 {
		t.Fatalf("claimed next %+v, want %s alone (not the deferred %s)", next, b.ID, a.ID)
	}
	if len(hooked) != 1 || hooked[0] != b.ID {
		t.Errorf("hook told of %v", hooked)
	}
	if got, _ := s.Get(b.ID); got.State != Sending || got.Attempts != 1 {
		t.Errorf("next is %s, attempt %d", got.State, got.Attempts)
	}
}

// A next message that cannot be claimed (its body is gone) does not keep
// the outcome off the disk: it is recorded alone.
func TestFinishAndClaimRecordsTheOutcomeWhenTheClaimFails(t *testing.T) {
	s, _ := openTest(t)
	a, b := accept(t, s, 0), accept(t, s, 0)
	s.Claim(t0, 1)
	if err := s.db.Update(func(tx kv.Tx) error { return tx.Bucket(bucketBodies).Delete(b.ID.key()) }); err != nil {
		t.Fatal(err)
	}
	rc := []Recipient{{Addr: "rcpt@example.com", State: RcptDelivered}}
	m, next, err := s.FinishAndClaim(a.ID, Attempt{Rcpts: rc, State: Delivered, Now: t0, Attempt: 1}, 1, nil)
	if err != nil || m.State != Delivered || len(next) != 0 {
		t.Fatalf("finish: %v, next %d, %v", m.State, len(next), err)
	}
	if got, _ := s.Get(a.ID); got.State != Delivered {
		t.Errorf("outcome not recorded: %s", got.State)
	}
	if got, _ := s.Get(b.ID); got.State != Queued {
		t.Errorf("the unclaimable message is %s", got.State)
	}
	// Put the body back for the invariants' check at the end.
	if err := s.db.Update(func(tx kv.Tx) error { return tx.Bucket(bucketBodies).Put(b.ID.key(), []byte("x")) }); err != nil {
		t.Fatal(err)
	}
}
