package relay

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdrelay/relay/internal/smtptest"
	"github.com/holdrelay/relay/spool"
)

var operator = spool.Event{Actor: "uid:0", Reason: "test"}

// dropWait drops as the admin API does: abort what is in flight, then
// report the truth.
func (h *harness) dropWait(sel spool.Selector) spool.Result {
	h.t.Helper()
	ev := operator
	ev.Time = h.clock.Now()
	res, err := h.spool.DropWait(sel, ev, false, func(ids []spool.ID) error {
		return h.disp.Abort(context.Background(), ids)
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return res
}

func (h *harness) submit(subject string) spool.ID {
	h.t.Helper()
	reply, err := send(h.t, h.login(), "app@example.com", []string{"user@example.net"}, message(subject))
	if err != nil {
		h.t.Fatal(err)
	}
	return queuedID(h.t, reply)
}

func TestDropAbortsATransferStalledBeforeData(t *testing.T) {
	up := &smtptest.Server{}
	gate := up.StallDATA()
	h := newHarness(t, harnessConfig{upstream: up, intake: IntakeConfig{Hold: time.Nanosecond}})
	id := h.submit("stalled")
	h.clock.Advance(time.Second)
	<-gate.Reached()
	h.waitState(id, spool.Sending)

	res := h.dropWait(spool.Selector{IDs: []spool.ID{id}})
	if res.Count(spool.Changed) != 1 {
		t.Fatalf("drop during the stall: %v", res.Counts())
	}
	gate.Release()
	up.WaitIdle(t)
	if n := len(up.Messages()); n != 0 {
		t.Fatalf("the upstream received %d messages after the drop", n)
	}
	if m, _ := h.spool.Get(id); m.State != spool.Dropped {
		t.Errorf("state %s, want dropped", m.State)
	}
}

func TestDropAfterTheDotReportsDelivered(t *testing.T) {
	up := &smtptest.Server{}
	gate := up.StallEndOfData()
	h := newHarness(t, harnessConfig{upstream: up, intake: IntakeConfig{Hold: time.Nanosecond}})
	id := h.submit("past the dot")
	h.clock.Advance(time.Second)
	<-gate.Reached() // the upstream has the whole message and sits on its reply
	done := make(chan spool.Result)
	go func() { done <- h.dropWait(spool.Selector{IDs: []spool.ID{id}}) }()
	select {
	case res := <-done:
		t.Fatalf("drop answered before the upstream did: %v", res.Counts())
	case <-time.After(50 * time.Millisecond):
	}
	gate.Release()
	res := <-done
	if res.Count(spool.AlreadyDelivered) != 1 || res.Count(spool.Changed) != 0 {
		t.Fatalf("drop of a message the upstream took: %v", res.Counts())
	}
	if n := len(up.Messages()); n != 1 {
		t.Fatalf("upstream has %d messages", n)
	}
}

// TestDropRacesRelease holds guarantee 3 where it is hardest: messages
// reach their release time at the same instant as a drop, round after
// round. Never may a message reported dropped reach the upstream.
func TestDropRacesRelease(t *testing.T) {
	up := &smtptest.Server{OnData: func(smtptest.Message) error {
		time.Sleep(time.Duration(time.Now().UnixNano()%3) * time.Millisecond)
		return nil
	}}
	h := newHarness(t, harnessConfig{upstream: up, intake: IntakeConfig{Hold: time.Second}, disp: DispatcherConfig{Concurrency: 4}})
	c := h.login()
	var dropped, delivered int
	for round := 0; round < 25; round++ {
		subjects := map[spool.ID]string{}
		for i := 0; i < 8; i++ {
			subj := fmt.Sprintf("race-%d-%d", round, i)
			reply, err := send(t, c, "app@example.com", []string{"user@example.net"}, message(subj))
			if err != nil {
				t.Fatal(err)
			}
			subjects[queuedID(t, reply)] = subj
		}
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.clock.Advance(time.Second)
		}()
		if round%2 == 0 {
			time.Sleep(time.Duration(round%5) * time.Millisecond)
		}
		res := h.dropWait(spool.Selector{All: true, States: []spool.State{spool.Waiting, spool.Queued, spool.Sending, spool.Deferred}})
		wg.Wait()
		h.settle()
		up.WaitIdle(t)
		got := map[string]bool{}
		for _, m := range up.Messages() {
			got[subjectOf(m.Data)] = true
		}
		for _, id := range res.IDs[spool.Changed] {
			if got[subjects[id]] {
				t.Fatalf("round %d: %s reported dropped, but the upstream received it", round, id)
			}
		}
		for _, id := range res.IDs[spool.AlreadyDelivered] {
			if !got[subjects[id]] {
				t.Fatalf("round %d: %s reported delivered, but the upstream never got it", round, id)
			}
		}
		if n := res.Count(spool.InFlight); n != 0 {
			t.Fatalf("round %d: %d messages left undecided", round, n)
		}
		dropped += res.Count(spool.Changed)
		delivered += res.Count(spool.AlreadyDelivered)
	}
	t.Logf("%d dropped, %d delivered before the drop answered", dropped, delivered)
	if dropped == 0 {
		t.Error("no round dropped anything: the race was never run")
	}
}

func subjectOf(data []byte) string {
	for _, line := range strings.Split(string(data), "\r\n") {
		if s, ok := strings.CutPrefix(line, "Subject: "); ok {
			return s
		}
	}
	return ""
}

func TestFlushIsPromptWhileTheDispatcherSleeps(t *testing.T) {
	h := newHarness(t, harnessConfig{intake: IntakeConfig{Hold: time.Hour}})
	id := h.submit("flush me")
	h.settle() // asleep until the release an hour from now
	ev := operator
	ev.Time = h.clock.Now()
	res, err := h.spool.Flush(spool.Selector{IDs: []spool.ID{id}}, ev, false)
	if err != nil || res.Count(spool.Changed) != 1 {
		t.Fatalf("flush: %v %v", res.Counts(), err)
	}
	h.disp.Notify(ev.Time)
	h.upstream.Wait(t, 1) // without moving the clock
	h.waitState(id, spool.Delivered)
}

func TestPauseForEndsOnItsOwn(t *testing.T) {
	h := newHarness(t, harnessConfig{intake: IntakeConfig{Hold: time.Nanosecond}})
	n, err := h.spool.Pause(spool.Pause{Credential: "app", Actor: "uid:0", Since: t0, Until: t0.Add(10 * time.Minute)})
	if err != nil || n != 0 {
		t.Fatalf("pause: %d %v", n, err)
	}
	h.disp.Notify(t0)
	id := h.submit("paused")
	h.clock.Advance(time.Minute)
	h.settle()
	if m, _ := h.spool.Get(id); m.State != spool.Held || m.HeldBy != spool.HeldByPause {
		t.Fatalf("message under a pause is %s (%s)", m.State, m.HeldBy)
	}
	h.clock.Advance(10 * time.Minute)
	h.waitState(id, spool.Delivered)
	if ps, _ := h.spool.Pauses(); len(ps) != 0 {
		t.Errorf("expired pause still recorded: %+v", ps)
	}
	// The expiry is a change like any resume: audited.
	if a, _ := h.spool.Audit(0, 1); len(a) != 1 || a[0].Action != "resume" || a[0].Actor != "system" ||
		a[0].Selector != "credential=app" || a[0].Counts["changed"] != 1 {
		t.Errorf("audit after the expiry: %+v", a)
	}
}

func TestDeliveriesAreBounded(t *testing.T) {
	var running, peak atomic.Int32
	release := make(chan struct{})
	up := &smtptest.Server{OnData: func(smtptest.Message) error {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		running.Add(-1)
		return nil
	}}
	h := newHarness(t, harnessConfig{upstream: up, intake: IntakeConfig{Hold: time.Nanosecond}, disp: DispatcherConfig{Concurrency: 2}})
	for i := 0; i < 5; i++ {
		h.submit(fmt.Sprint("bounded ", i))
	}
	h.clock.Advance(time.Second)
	for running.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	h.settle()
	if n, _ := h.spool.Counts(); n[spool.Sending] != 2 || n[spool.Queued] != 3 {
		t.Errorf("with 2 slots: %v", n)
	}
	close(release)
	up.Wait(t, 5)
	if p := peak.Load(); p != 2 {
		t.Errorf("peak concurrent deliveries %d, want 2", p)
	}
}
