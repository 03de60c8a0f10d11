package spool

import (
	"strings"
	"testing"
	"time"
)

// A bulk action's events are one record, read as one event per message:
// every page boundary of Events, even inside the run, gives the same
// events as reading them all at once.
func TestBulkEventsReadOneByOne(t *testing.T) {
	s, _ := openTest(t)
	var msgs []Message
	for range 7 {
		msgs = append(msgs, acceptFull(t, s, time.Minute, ""))
	}
	mark := lastSeq(t, s)
	ev := Event{Time: t0.Add(time.Second), Actor: "uid:0", Reason: "why"}
	if res, err := s.Hold(Selector{Credential: "app"}, ev, false); err != nil || res.Count(Changed) != 7 {
		t.Fatalf("hold: %v %v", res.Counts(), err)
	}
	if got := lastSeq(t, s); got != mark+7 {
		t.Fatalf("sequence %d after a hold of 7, want %d", got, mark+7)
	}
	all, err := s.Events(mark, 100)
	if err != nil || len(all) != 7 {
		t.Fatalf("events: %d %v", len(all), err)
	}
	got := eventsAfter(t, s, mark)
	for i, e := range all {
		if e.Seq != mark+uint64(i)+1 || e.Type != EvMessageHeld || !strings.HasPrefix(e.ID, "evt_") ||
			(i > 0 && e.ID <= all[i-1].ID) {
			t.Errorf("event %d: seq %d, %s, id %s", i, e.Seq, e.Type, e.ID)
		}
		wantMessageData(t, got[i], msgs[i])
		wantActor(t, got[i], "uid:0", "operator")
		if got[i].Data["note"] != "why" || !got[i].Time.Equal(ev.Time) {
			t.Errorf("event %d: %v at %v", i, got[i].Data, got[i].Time)
		}
	}
	for after := mark; after <= mark+7; after++ {
		for _, max := range []int{1, 3, 100} {
			page, err := s.Events(after, max)
			if err != nil {
				t.Fatal(err)
			}
			want := all[after-mark:][:min(max, int(mark+7-after))]
			if len(page) != len(want) {
				t.Fatalf("after %d max %d: %d events, want %d", after, max, len(page), len(want))
			}
			for i := range page {
				if page[i].Seq != want[i].Seq || page[i].ID != want[i].ID || string(page[i].Data) != string(want[i].Data) {
					t.Errorf("after %d max %d: event %d is %d %s, want %d %s", after, max, i, page[i].Seq, page[i].ID, want[i].Seq, want[i].ID)
				}
			}
		}
	}
	// A change of one message afterwards still gets its own record, and
	// the event IDs keep increasing.
	mustAct(t, s.Release, msgs[3].ID, ev)
	next, err := s.Events(mark+7, 10)
	if err != nil || len(next) != 1 || next[0].Seq != mark+8 || next[0].ID <= all[6].ID {
		t.Fatalf("after the run: %v %v", next, err)
	}
	mustCheck(t, s)
}

// A drop's events split where their fields differ (maybe_delivered):
// each message still gets its own event, in order.
func TestBulkEventsSplitWhereTheyDiffer(t *testing.T) {
	s, path := openTest(t)
	a, b := acceptFull(t, s, 0, ""), acceptFull(t, s, 0, "")
	claimOne(t, s, t0)
	s = reopen(t, s, path) // the claimed one (a) was cut short
	c := acceptFull(t, s, time.Minute, "")
	mark := lastSeq(t, s)
	if _, err := s.Drop(Selector{Credential: "app"}, op, false); err != nil {
		t.Fatal(err)
	}
	evs := eventsAfter(t, s, mark)
	if len(evs) != 3 {
		t.Fatalf("%d events", len(evs))
	}
	for i, m := range []Message{a, b, c} {
		wantMessageData(t, evs[i], m)
		if _, maybe := evs[i].Data["maybe_delivered"]; maybe != (i == 0) {
			t.Errorf("event of %s: %v", m.ID, evs[i].Data)
		}
	}
	mustCheck(t, s)
}

// Expiry takes a run whole once its last event may go, and counts its
// events; Events after it starts at the next record.
func TestBulkEventsExpireAsOneRecord(t *testing.T) {
	s, _ := openTest(t)
	n := KeepEvents + 2000
	err := s.update(func(t *txn) error {
		for i := range n {
			m := Message{ID: ID(i + 1), Credential: "app", From: "a@example.com", Rcpts: []Recipient{{Addr: "b@example.net"}},
				Received: t0, Release: t0.Add(time.Hour), State: Waiting}
			if err := t.insert(&m, []byte("x"), nil, Event{Time: t0, State: Waiting, Actor: "smtp"}); err != nil {
				return err
			}
		}
		return t.meta.Put(keyLastID, u64(uint64(n)))
	})
	if err != nil {
		t.Fatal(err)
	}
	if first, records := outboxRange(t, s); first != 1 || records != 1 {
		t.Fatalf("accepts in one transaction: %d records from %d, want one run", records, first)
	}
	if _, err := s.Hold(Selector{Credential: "app"}, op, false); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, s)
	if got := expireAll(t, s, t0.Add(time.Hour)); got != n {
		t.Fatalf("expired %d events, want the accepted run's %d", got, n)
	}
	evs, err := s.Events(0, 2)
	if err != nil || len(evs) != 2 || evs[0].Seq != uint64(n)+1 || evs[0].Type != EvMessageHeld {
		t.Fatalf("after expiry: %v %v", evs, err)
	}
	mustCheck(t, s)
}

// A bulk action writes its history events into the records: the history
// still has every event, in order, among those of the events bucket.
func TestHistoryInRecordKeepsItsOrder(t *testing.T) {
	s, path := openTest(t)
	m := acceptFull(t, s, 0, "")
	mustAct(t, s.Hold, m.ID, Event{Time: t0.Add(time.Second), Actor: "uid:0", Reason: "look"})
	mustAct(t, s.Release, m.ID, Event{Time: t0.Add(2 * time.Second), Actor: "uid:1"})
	claimOne(t, s, t0.Add(3*time.Second))
	finishAs(t, s, m, Deferred, t0.Add(4*time.Second), "451 later")
	s = reopen(t, s, path)
	if _, err := s.Drop(Selector{Credential: "app"}, Event{Time: t0.Add(5 * time.Second), Actor: "uid:2", Reason: "spam"}, false); err != nil {
		t.Fatal(err)
	}
	d, err := s.Details(m.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range d.History {
		got = append(got, e.State.String()+" "+e.Actor+" "+e.Reason)
	}
	want := []string{"queued smtp ", "held uid:0 look", "queued uid:1 ", "sending dispatcher ", "deferred dispatcher 451 4.7.1 try later", "dropped uid:2 spam"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("history\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var bucket int
	s.view(func(t *txn) error {
		c := t.events.Cursor()
		for k, _ := c.Seek(m.ID.key()); k != nil && idFromKey(k[:8]) == m.ID; k, _ = c.Next() {
			bucket++
		}
		return nil
	})
	if bucket != 3 {
		t.Errorf("%d events in the events bucket, want the accept's and the dispatcher's 3", bucket)
	}
	if !d.History[5].Time.Equal(t0.Add(5 * time.Second)) {
		t.Errorf("drop at %v", d.History[5].Time)
	}
	mustCheck(t, s)
}
