package spool

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"
)

// gotEvent is an outbox event with its data decoded as a receiver would.
type gotEvent struct {
	Type string
	Time time.Time
	Data map[string]any
}

func eventsAfter(t *testing.T, s *Spool, after uint64) []gotEvent {
	t.Helper()
	evs, err := s.Events(after, 1000)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]gotEvent, len(evs))
	for i, e := range evs {
		out[i] = gotEvent{Type: e.Type, Time: e.Time}
		if err := json.Unmarshal(e.Data, &out[i].Data); err != nil {
			t.Fatalf("event %d (%s) data %s: %v", e.Seq, e.Type, e.Data, err)
		}
	}
	return out
}

func lastSeq(t *testing.T, s *Spool) uint64 {
	t.Helper()
	n, err := s.LastEventSeq()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// acceptFull accepts a message with every field a message event reports.
func acceptFull(t *testing.T, s *Spool, hold time.Duration, batch string) Message {
	t.Helper()
	m, err := s.Accept(Incoming{
		Credential: "app", From: "app@example.com", To: []string{"ana@example.org", "bo@example.net"},
		Subject: "Your order", MessageID: "<42@app.example.com>", Received: t0, Release: t0.Add(hold),
		Batch: batch, Categories: []string{"orders"}, UniqueArgs: map[string]string{"order_id": "1042"},
	}, []byte("Subject: Your order\r\n\r\nbody\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// wantMessageData checks the fields every message event carries.
func wantMessageData(t *testing.T, e gotEvent, m Message) {
	t.Helper()
	want := map[string]any{
		"message_id": m.ID.String(), "credential": "app", "from": "app@example.com",
		"recipients": []any{"ana@example.org", "bo@example.net"}, "subject": "Your order",
		"message_id_header": "<42@app.example.com>", "batch_id": m.Batch,
		"categories": []any{"orders"}, "unique_args": map[string]any{"order_id": "1042"},
	}
	for k, v := range want {
		if !reflect.DeepEqual(e.Data[k], v) {
			t.Errorf("%s: data.%s = %#v, want %#v", e.Type, k, e.Data[k], v)
		}
	}
}

func finishAs(t *testing.T, s *Spool, m Message, st State, at time.Time, replies ...string) {
	t.Helper()
	a := Attempt{State: st, Now: at, Retry: at.Add(5 * time.Minute), LastError: "451 4.7.1 try later"}
	for i, r := range m.Rcpts {
		r.Reply = replies[i%len(replies)]
		switch {
		case st == Delivered || (st == Failed && i == 0):
			r.State = RcptDelivered
		case st == Failed:
			r.State, a.LastError = RcptFailed, r.Reply
		}
		a.Rcpts = append(a.Rcpts, r)
	}
	if _, err := s.Finish(m.ID, a); err != nil {
		t.Fatal(err)
	}
}

func claimOne(t *testing.T, s *Spool, at time.Time) Message {
	t.Helper()
	c, err := s.Claim(at, 1)
	if err != nil || len(c) != 1 {
		t.Fatalf("claim: %d %v", len(c), err)
	}
	return c[0].Message
}

// opEvent is what an operator's change says in message events.
func wantActor(t *testing.T, e gotEvent, actor, reason string) {
	t.Helper()
	if e.Data["actor"] != actor || e.Data["reason"] != reason {
		t.Errorf("%s: actor %v reason %v, want %q %q", e.Type, e.Data["actor"], e.Data["reason"], actor, reason)
	}
}

func credAudit(action, cred string) *AuditEntry {
	return &AuditEntry{Time: t0, Actor: "uid:0", Action: action, Selector: "credential=" + cred, Reason: "incident"}
}

// putCredential writes a credential record as auth does, with rec and
// the event staged.
func putCredential(t *testing.T, s *Spool, name, event string, rec *AuditEntry) {
	t.Helper()
	defer s.AuditCredential(name, event, rec)()
	if err := s.PutCredential(name, []byte("rec")); err != nil {
		t.Fatal(err)
	}
}

// TestEachChangeWritesItsEvent runs every change the contract names an
// event for and checks the events it wrote, in order, with their data.
func TestEachChangeWritesItsEvent(t *testing.T) {
	at := t0.Add(time.Second)
	type run struct {
		s    *Spool
		path string
		m    Message // the message the change is about, if any
	}
	cases := []struct {
		name  string
		setup func(t *testing.T, r *run) // before the mark: its events are not checked
		act   func(t *testing.T, r *run)
		want  []string
		check func(t *testing.T, r *run, evs []gotEvent)
	}{{
		name: "accept",
		act:  func(t *testing.T, r *run) { r.m = acceptFull(t, r.s, time.Minute, "") },
		want: []string{EvMessageAccepted},
		check: func(t *testing.T, r *run, evs []gotEvent) {
			wantMessageData(t, evs[0], r.m)
			if !evs[0].Time.Equal(t0) {
				t.Errorf("accepted at %v, want the receipt time %v", evs[0].Time, t0)
			}
		},
	}, {
		name:  "accept held by a pause",
		setup: func(t *testing.T, r *run) { mustPause(t, r.s, Pause{Credential: "app", Actor: "uid:0", Since: t0}) },
		act:   func(t *testing.T, r *run) { r.m = acceptFull(t, r.s, time.Minute, "") },
		want:  []string{EvMessageAccepted, EvMessageHeld},
		check: func(t *testing.T, r *run, evs []gotEvent) {
			wantMessageData(t, evs[1], r.m)
			wantActor(t, evs[1], "relay", "pause")
		},
	}, {
		name: "accept dropped by a cancelled batch",
		setup: func(t *testing.T, r *run) {
			if _, err := r.s.SetBatchStatus("b1", BatchCancelled, Event{Time: t0, Actor: "uid:0"}); err != nil {
				t.Fatal(err)
			}
		},
		act:  func(t *testing.T, r *run) { r.m = acceptFull(t, r.s, time.Minute, "b1") },
		want: []string{EvMessageAccepted, EvMessageDropped},
		check: func(t *testing.T, r *run, evs []gotEvent) {
			wantMessageData(t, evs[0], r.m)
			wantMessageData(t, evs[1], r.m)
			wantActor(t, evs[1], "uid:0", "batch b1 cancelled")
		},
	}, {
		name:  "hold",
		setup: func(t *testing.T, r *run) { r.m = acceptFull(t, r.s, time.Minute, "") },
		act: func(t *testing.T, r *run) {
			mustAct(t, r.s.Hold, r.m.ID, Event{Time: at, Actor: "uid:0", Reason: "why"})
		},
		want: []string{EvMessageHeld},
		check: func(t *testing.T, r *run, evs []gotEvent) {
			wantMessageData(t, evs[0], r.m)
			wantActor(t, evs[0], "uid:0", "operator")
			if evs[0].Data["note"] != "why" {
				t.Errorf("hold's note %v, want the operator's words", evs[0].Data["note"])
			}
		},
	}, {
		name: "release",
		setup: func(t *testing.T, r *run) {
			r.m = acceptFull(t, r.s, time.Minute, "")
			mustAct(t, r.s.Hold, r.m.ID, op)
		},
		act:   func(t *testing.T, r *run) { mustAct(t, r.s.Release, r.m.ID, Event{Time: at, Actor: "uid:5"}) },
		want:  []string{EvMessageReleased},
		check: func(t *testing.T, r *run, evs []gotEvent) { wantActor(t, evs[0], "uid:5", "operator") },
	}, {
		name:  "flush",
		setup: func(t *testing.T, r *run) { r.m = acceptFull(t, r.s, time.Hour, "") },
		act:   func(t *testing.T, r *run) { mustAct(t, r.s.Flush, r.m.ID, Event{Time: at, Actor: "uid:5"}) },
		want:  []string{EvMessageFlushed},
		check: func(t *testing.T, r *run, evs []gotEvent) {
			wantMessageData(t, evs[0], r.m)
			wantActor(t, evs[0], "uid:5", "operator")
		},
	}, {
		name:  "drop",
		setup: func(t *testing.T, r *run) { r.m = acceptFull(t, r.s, time.Minute, "") },
		act:   func(t *testing.T, r *run) { mustAct(t, r.s.Drop, r.m.ID, op) },
		want:  []string{EvMessageDropped},
		check: func(t *testing.T, r *run, evs []gotEvent) {
			wantMessageData(t, evs[0], r.m)
			wantActor(t, evs[0], "uid:0", "runaway script")
			if _, ok := evs[0].Data["maybe_delivered"]; ok {
				t.Error("a plain drop says maybe_delivered")
			}
		},
	}, {
		name: "drop in flight",
		setup: func(t *testing.T, r *run) {
			r.m = acceptFull(t, r.s, 0, "")
			claimOne(t, r.s, t0)
		},
		act: func(t *testing.T, r *run) {
			mustAct(t, r.s.Drop, r.m.ID, op)
			finishAs(t, r.s, r.m, Deferred, at, "421 cut short")
		},
		want:  []string{EvMessageDropped},
		check: func(t *testing.T, r *run, evs []gotEvent) { wantActor(t, evs[0], "uid:0", "runaway script") },
	}, {
		name: "deferred",
		setup: func(t *testing.T, r *run) {
			r.m = acceptFull(t, r.s, 0, "")
		},
		act: func(t *testing.T, r *run) {
			claimOne(t, r.s, t0)
			finishAs(t, r.s, r.m, Deferred, at, "451 4.7.1 try later")
		},
		want: []string{EvMessageDeferred},
		check: func(t *testing.T, r *run, evs []gotEvent) {
			wantMessageData(t, evs[0], r.m)
			d := evs[0].Data
			if d["attempt"] != 1.0 || d["response"] != "451 4.7.1 try later" || d["next_attempt"] != at.Add(5*time.Minute).Format(time.RFC3339) {
				t.Errorf("deferred data %v", d)
			}
		},
	}, {
		name:  "delivered",
		setup: func(t *testing.T, r *run) { r.m = acceptFull(t, r.s, 0, "") },
		act: func(t *testing.T, r *run) {
			claimOne(t, r.s, t0)
			finishAs(t, r.s, r.m, Delivered, at, "250 2.0.0 Ok: queued as X")
		},
		want: []string{EvMessageDelivered},
		check: func(t *testing.T, r *run, evs []gotEvent) {
			wantMessageData(t, evs[0], r.m)
			if evs[0].Data["response"] != "250 2.0.0 Ok: queued as X" {
				t.Errorf("delivered data %v", evs[0].Data)
			}
		},
	}, {
		name:  "failed",
		setup: func(t *testing.T, r *run) { r.m = acceptFull(t, r.s, 0, "") },
		act: func(t *testing.T, r *run) {
			claimOne(t, r.s, t0)
			finishAs(t, r.s, r.m, Failed, at, "250 ok", "550 5.1.1 no such user")
		},
		want: []string{EvMessageFailed},
		check: func(t *testing.T, r *run, evs []gotEvent) {
			wantMessageData(t, evs[0], r.m)
			want := []any{
				map[string]any{"recipient": "ana@example.org", "response": "250 ok"},
				map[string]any{"recipient": "bo@example.net", "response": "550 5.1.1 no such user"}}
			if d := evs[0].Data; d["response"] != "550 5.1.1 no such user" || !reflect.DeepEqual(d["recipient_responses"], want) {
				t.Errorf("failed data %v", d)
			}
		},
	}, {
		name: "drop after a crash cut an attempt short",
		setup: func(t *testing.T, r *run) {
			r.m = acceptFull(t, r.s, 0, "")
			claimOne(t, r.s, t0)
			r.s = reopen(t, r.s, r.path)
		},
		act:  func(t *testing.T, r *run) { mustAct(t, r.s.Drop, r.m.ID, op) },
		want: []string{EvMessageDropped},
		check: func(t *testing.T, r *run, evs []gotEvent) {
			wantActor(t, evs[0], "uid:0", "runaway script")
			if evs[0].Data["maybe_delivered"] != true {
				t.Errorf("maybe_delivered drop data %v", evs[0].Data)
			}
		},
	}, {
		name:  "pause and resume",
		setup: func(t *testing.T, r *run) { r.m = acceptFull(t, r.s, time.Minute, "") },
		act: func(t *testing.T, r *run) {
			mustPause(t, r.s, Pause{Credential: "app", Actor: "uid:0", Reason: "incident", Since: at, Until: at.Add(time.Hour)})
			if _, err := r.s.Resume("app", at, "system", "pause expired"); err != nil {
				t.Fatal(err)
			}
		},
		want: []string{EvPauseStarted, EvMessageHeld, EvPauseEnded, EvMessageReleased},
		check: func(t *testing.T, r *run, evs []gotEvent) {
			if d := evs[0].Data; d["credential"] != "app" || d["actor"] != "uid:0" || d["reason"] != "incident" ||
				d["until"] != at.Add(time.Hour).Format(time.RFC3339) {
				t.Errorf("pause.started data %v", d)
			}
			wantActor(t, evs[1], "uid:0", "pause")
			if d := evs[2].Data; d["credential"] != "app" || d["actor"] != "relay" {
				t.Errorf("pause.ended data %v", d)
			}
			wantActor(t, evs[3], "relay", "pause")
		},
	}, {
		name:  "global pause",
		act:   func(t *testing.T, r *run) { mustPause(t, r.s, Pause{Actor: "uid:0", Since: at}) },
		want:  []string{EvPauseStarted},
		check: func(t *testing.T, r *run, evs []gotEvent) { wantAdmin(t, evs[0], map[string]any{"global": true}) },
	}, {
		name: "credential changes",
		act: func(t *testing.T, r *run) {
			for _, c := range []struct{ action, ev string }{{"credential add", EvCredentialAdded},
				{"password-rotate", EvCredentialRotated}, {"credential disable (incomplete)", EvCredentialDisabled},
				{"credential enable (incomplete)", EvCredentialEnabled}, {"credential set", ""},
				{"credential rm (incomplete)", EvCredentialRemoved}} {
				unstage := r.s.AuditCredential("shop", c.ev, credAudit(c.action, "shop"))
				err := r.s.PutCredential("shop", []byte(c.action))
				unstage()
				if err != nil {
					t.Fatal(err)
				}
			}
		},
		want: []string{EvCredentialAdded, EvCredentialRotated, EvCredentialDisabled, EvCredentialEnabled, EvCredentialRemoved},
		check: func(t *testing.T, r *run, evs []gotEvent) {
			for _, e := range evs {
				wantAdmin(t, e, map[string]any{"credential": "shop", "actor": "uid:0", "reason": "incident"})
			}
		},
	}, {
		name: "credential disable holds its mail, enable releases it",
		setup: func(t *testing.T, r *run) {
			r.m = acceptFull(t, r.s, time.Minute, "")
		},
		act: func(t *testing.T, r *run) {
			// In admin/server's order: auth's record, then the freeze, to
			// disable; the thaw, then auth's record, to enable.
			ev := Event{Time: at, Actor: "uid:0", Reason: "leaked", Audit: credAudit("credential disable (incomplete)", "app")}
			putCredential(t, r.s, "app", EvCredentialDisabled, ev.Audit)
			if err := r.s.Freeze("app", ev); err != nil {
				t.Fatal(err)
			}
			if _, err := r.s.HoldFrozenWait("app", ev, func([]ID) error { return nil }); err != nil {
				t.Fatal(err)
			}
			ev = Event{Time: at, Actor: "uid:0", Audit: credAudit("credential enable (incomplete)", "app")}
			if err := r.s.Unfreeze("app", ev); err != nil {
				t.Fatal(err)
			}
			putCredential(t, r.s, "app", EvCredentialEnabled, ev.Audit)
			if _, err := r.s.ReleaseFrozen("app", ev); err != nil {
				t.Fatal(err)
			}
		},
		want: []string{EvCredentialDisabled, EvMessageHeld, EvCredentialEnabled, EvMessageReleased},
		check: func(t *testing.T, r *run, evs []gotEvent) {
			wantActor(t, evs[1], "uid:0", "freeze")
			wantActor(t, evs[3], "uid:0", "freeze")
		},
	}, {
		name:  "batch pause, resume and cancel",
		setup: func(t *testing.T, r *run) { r.m = acceptFull(t, r.s, time.Minute, "b1") },
		act: func(t *testing.T, r *run) {
			ev := Event{Time: at, Actor: "uid:0", Reason: "oops"}
			for _, st := range []BatchStatus{BatchPaused, BatchPaused, BatchActive, BatchCancelled} {
				if _, err := r.s.SetBatchStatus("b1", st, ev); err != nil {
					t.Fatal(err)
				}
				var err error
				switch st {
				case BatchPaused:
					_, err = r.s.HoldBatch("b1", nil)
				case BatchActive:
					_, err = r.s.ReleaseBatch("b1", ev)
				case BatchCancelled:
					_, err = r.s.Drop(Selector{Batch: "b1", All: true}, ev, false)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
		},
		want: []string{EvBatchPaused, EvMessageHeld, EvBatchResumed, EvMessageReleased, EvBatchCancelled, EvMessageDropped},
		check: func(t *testing.T, r *run, evs []gotEvent) {
			for _, i := range []int{0, 2, 4} {
				wantAdmin(t, evs[i], map[string]any{"batch_id": "b1", "actor": "uid:0", "reason": "oops"})
			}
			wantActor(t, evs[1], "uid:0", "batch")
			wantActor(t, evs[3], "uid:0", "batch")
			wantMessageData(t, evs[5], r.m)
		},
	}, {
		name: "the dispatcher's own steps",
		setup: func(t *testing.T, r *run) {
			acceptFull(t, r.s, time.Minute, "")
			acceptFull(t, r.s, time.Minute, "")
		},
		act: func(t *testing.T, r *run) {
			// One claimed (waiting -> sending), one promoted (waiting -> queued).
			if c, err := r.s.Claim(t0.Add(time.Hour), 1); err != nil || len(c) != 1 {
				t.Fatalf("claim: %d %v", len(c), err)
			}
		},
		want: nil,
	}, {
		name:  "webhook test",
		setup: func(t *testing.T, r *run) { addHook(t, r.s, "crm") },
		act: func(t *testing.T, r *run) {
			if _, err := r.s.TestWebhook("crm", &AuditEntry{Time: at, Actor: "uid:0", Action: "webhook test"}); err != nil {
				t.Fatal(err)
			}
		},
		want: []string{EvWebhookTest},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, path := openTest(t)
			r := &run{s: s, path: path}
			if c.setup != nil {
				c.setup(t, r)
			}
			mark := lastSeq(t, r.s)
			c.act(t, r)
			evs := eventsAfter(t, r.s, mark)
			var types []string
			for _, e := range evs {
				types = append(types, e.Type)
			}
			if !slices.Equal(types, c.want) {
				t.Fatalf("events %v, want %v", types, c.want)
			}
			if c.check != nil {
				c.check(t, r, evs)
			}
			mustCheck(t, r.s)
		})
	}
}

func wantAdmin(t *testing.T, e gotEvent, want map[string]any) {
	t.Helper()
	for k, v := range want {
		if !reflect.DeepEqual(e.Data[k], v) {
			t.Errorf("%s: data.%s = %#v, want %#v", e.Type, k, e.Data[k], v)
		}
	}
}

func mustPause(t *testing.T, s *Spool, p Pause) {
	t.Helper()
	if _, err := s.Pause(p); err != nil {
		t.Fatal(err)
	}
}

func mustAct(t *testing.T, action func(Selector, Event, bool) (Result, error), id ID, ev Event) {
	t.Helper()
	res, err := action(Selector{IDs: []ID{id}}, ev, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Count(Changed)+res.Count(InFlight)+res.Count(MaybeDelivered) != 1 {
		t.Fatalf("changed nothing: %v", res.Counts())
	}
}

// TestNoEventWithoutItsChange: a write that fails writes no event either.
func TestNoEventWithoutItsChange(t *testing.T) {
	s, _ := openTest(t)
	mark := lastSeq(t, s)
	if _, err := s.Resume("app", t0, "uid:0", ""); err == nil {
		t.Fatal("resumed a pause that does not exist")
	}
	if _, err := s.TestWebhook("nope", nil); err == nil {
		t.Fatal("tested a webhook that does not exist")
	}
	if evs := eventsAfter(t, s, mark); len(evs) != 0 || lastSeq(t, s) != mark {
		t.Fatalf("failed changes wrote %v", evs)
	}
}

// An event read after its message's record expired still says which
// message and what happened, with the shape every message event has.
func TestMessageEventOutlivesItsRecord(t *testing.T) {
	s, _ := openTest(t)
	m := acceptFull(t, s, time.Minute, "")
	mustAct(t, s.Drop, m.ID, op)
	if n, err := s.Expire(op.Time.Add(time.Second)); err != nil || n != 1 {
		t.Fatalf("expire: %d %v", n, err)
	}
	evs := eventsAfter(t, s, 0)
	if len(evs) != 2 || evs[1].Type != EvMessageDropped {
		t.Fatalf("events %v", evs)
	}
	d := evs[1].Data
	if d["message_id"] != m.ID.String() || d["reason"] != "runaway script" || d["actor"] != "uid:0" ||
		!reflect.DeepEqual(d["recipients"], []any{}) || !reflect.DeepEqual(d["unique_args"], map[string]any{}) {
		t.Errorf("data without the record: %v", d)
	}
}
