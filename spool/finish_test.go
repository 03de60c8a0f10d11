package spool

import "testing"

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
