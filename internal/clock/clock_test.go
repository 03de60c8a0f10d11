package clock

import (
	"testing"
	"time"
)

func TestFakeTimers(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := NewFake(t0)
	late := f.TimerAt(t0.Add(time.Minute))
	early := f.TimerAt(t0.Add(time.Second))
	stopped := f.TimerAt(t0.Add(time.Second))
	if !stopped.Stop() || f.Timers() != 2 {
		t.Fatalf("Stop or Timers wrong: %d timers", f.Timers())
	}
	f.Advance(time.Second)
	select {
	case got := <-early.C():
		if !got.Equal(t0.Add(time.Second)) {
			t.Errorf("fired with %v", got)
		}
	default:
		t.Fatal("due timer did not fire")
	}
	select {
	case <-late.C():
		t.Fatal("timer fired early")
	default:
	}
	past := f.TimerAt(t0)
	select {
	case <-past.C():
	default:
		t.Fatal("timer for a past time did not fire at once")
	}
	f.Set(t0) // never backwards
	if !f.Now().Equal(t0.Add(time.Second)) {
		t.Errorf("clock went backwards to %v", f.Now())
	}
}
