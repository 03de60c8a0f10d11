package spool

import (
	"errors"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/holdrelay/relay/spool/kv"
)

// reopen closes s as kill -9 would leave it (nothing more is written
// after the last commit) and opens the file again.
func reopen(t *testing.T, s *Spool, path string) *Spool {
	t.Helper()
	s.Close()
	s, err := openPath(t, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	mustCheck(t, s)
	return s
}

func lastEvent(t *testing.T, s *Spool, id ID) Event {
	t.Helper()
	d, err := s.Details(id)
	if err != nil || len(d.History) == 0 {
		t.Fatalf("details of %s: %v", id, err)
	}
	return d.History[len(d.History)-1]
}

func auditLog(t *testing.T, s *Spool) []AuditEntry {
	t.Helper()
	entries, err := s.Audit(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

func TestInFlightDropAndHoldNameTheOperator(t *testing.T) {
	for _, tc := range []struct {
		name   string
		action func(*Spool, Selector, Event, bool) (Result, error)
		want   State
	}{
		{"drop", (*Spool).Drop, Dropped},
		{"hold", (*Spool).Hold, Held},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := openTest(t)
			m := accept(t, s, 0)
			s.Claim(t0, 1)
			if res, _ := tc.action(s, Selector{IDs: []ID{m.ID}}, op, false); res.Count(InFlight) != 1 {
				t.Fatalf("%s in flight: %v", tc.name, res.Counts())
			}
			rc := []Recipient{{Addr: "rcpt@example.com"}}
			got, err := s.Finish(m.ID, Attempt{Rcpts: rc, State: Deferred, LastError: "cancelled", Retry: t0, Now: t0.Add(time.Second)})
			if err != nil || got.State != tc.want {
				t.Fatalf("finish: %s %v", got.State, err)
			}
			if ev := lastEvent(t, s, m.ID); ev.Actor != op.Actor || ev.Reason != op.Reason || ev.State != tc.want {
				t.Errorf("history ends %+v, want the operator's %s", ev, tc.name)
			}
		})
	}
}

// The audit entry of a drop is written with the drop: after kill -9 in
// the middle of the wait on deliveries in flight, both are on disk.
func TestAuditEntryIsWrittenWithTheChange(t *testing.T) {
	s, path := openTest(t)
	waiting := accept(t, s, time.Hour)
	sending := accept(t, s, 0)
	s.Claim(t0, 1)
	rec := &AuditEntry{Time: op.Time, Actor: op.Actor, Action: "drop (incomplete)", Selector: "all"}
	ev := op
	ev.Audit = rec
	res, err := s.Drop(Selector{All: true}, ev, false) // the abort would start here; the process dies
	if err != nil || res.Count(Changed) != 1 || res.Count(InFlight) != 1 {
		t.Fatalf("drop: %v %v", res.Counts(), err)
	}
	if rec.Seq == 0 {
		t.Fatal("the audit entry has no sequence number: not written")
	}
	s = reopen(t, s, path)
	log := auditLog(t, s)
	if len(log) != 1 || log[0].Seq != rec.Seq || log[0].Counts["changed"] != 1 || log[0].Counts["in_flight"] != 1 {
		t.Fatalf("audit after the crash: %+v", log)
	}
	for id, want := range map[ID]State{waiting.ID: Dropped, sending.ID: Unsure} {
		if m, _ := s.Get(id); m.State != want {
			t.Errorf("%s: %s, want %s", id, m.State, want)
		}
	}
}

// A change whose commit fails leaves neither the change nor its entry.
func TestFailedChangeLeavesNoAuditEntry(t *testing.T) {
	s, _ := openTest(t)
	m := accept(t, s, time.Hour)
	rec := &AuditEntry{Time: op.Time, Actor: op.Actor, Action: "hold"}
	ev := op
	ev.Audit = rec
	s.InjectCommitFault(func() error { return syscall.EIO })
	_, err := s.Hold(Selector{IDs: []ID{m.ID}}, ev, false)
	s.InjectCommitFault(nil)
	if !errors.Is(err, ErrStorage) || rec.Seq != 0 {
		t.Fatalf("hold under a failing disk: %v, seq %d", err, rec.Seq)
	}
	if got, _ := s.Get(m.ID); got.State != Waiting || len(auditLog(t, s)) != 0 {
		t.Fatalf("after the failed hold: %s, audit %+v", got.State, auditLog(t, s))
	}
	if _, err := s.Hold(Selector{IDs: []ID{m.ID}}, ev, false); err != nil || rec.Seq == 0 {
		t.Fatalf("hold: %v, seq %d", err, rec.Seq)
	}
	// The caller rewrites the entry once it knows how the change ended.
	rec.Action = "hold (done)"
	if err := s.PutAudit(rec); err != nil {
		t.Fatal(err)
	}
	if log := auditLog(t, s); len(log) != 1 || log[0].Action != "hold (done)" || log[0].Counts["changed"] != 1 {
		t.Errorf("audit: %+v", log)
	}
}

func TestEveryAuditedChangeWritesItsEntry(t *testing.T) {
	s, _ := openTest(t)
	acceptAs(t, s, "shop", "s@x", "r@y", time.Hour)
	entry := func(action string) (Event, *AuditEntry) {
		ev := op
		ev.Audit = &AuditEntry{Time: op.Time, Actor: op.Actor, Action: action}
		return ev, ev.Audit
	}
	var recs []*AuditEntry
	do := func(action string, change func(ev Event) error) {
		ev, rec := entry(action)
		if err := change(ev); err != nil {
			t.Fatalf("%s: %v", action, err)
		}
		recs = append(recs, rec)
	}
	do("pause", func(ev Event) error {
		_, err := s.PauseRecorded(Pause{Credential: "shop", Actor: ev.Actor, Since: ev.Time}, ev.Audit)
		return err
	})
	do("resume", func(ev Event) error { _, err := s.ResumeRecorded("shop", ev); return err })
	do("freeze", func(ev Event) error { return s.Freeze("shop", ev) })
	do("unfreeze", func(ev Event) error { return s.Unfreeze("shop", ev) })
	do("batch create", func(ev Event) error { _, err := s.CreateBatch("b1", t0, ev.Audit); return err })
	do("batch pause", func(ev Event) error { _, err := s.SetBatchStatus("b1", BatchPaused, ev); return err })
	do("credential add", func(ev Event) error {
		defer s.AuditCredential("shop", EvCredentialAdded, ev.Audit)()
		return s.PutCredential("shop", []byte("rec"))
	})
	do("credential rm", func(ev Event) error {
		defer s.AuditCredential("shop", EvCredentialRemoved, ev.Audit)()
		return s.DeleteCredential("shop")
	})
	log := auditLog(t, s)
	if len(log) != len(recs) {
		t.Fatalf("%d entries for %d changes: %+v", len(log), len(recs), log)
	}
	for i, rec := range recs {
		e := log[len(log)-1-i]
		if rec.Seq != e.Seq || rec.Action != e.Action {
			t.Errorf("change %q: entry %+v", rec.Action, e)
		}
	}
	if log[len(log)-1].Counts["changed"] != 1 || log[len(log)-2].Counts["changed"] != 1 {
		t.Errorf("pause and resume count what they held and released: %+v", log[len(log)-2:])
	}
	// A staged entry no write took is dropped, not left for the next one.
	s.AuditCredential("other", "", &AuditEntry{Action: "credential set"})()
	s.PutCredential("other", []byte("rec"))
	if n := len(auditLog(t, s)); n != len(recs) {
		t.Errorf("an unstaged entry was written: %d entries", n)
	}
}

func TestReleaseFrozenLeavesTheOperatorsHolds(t *testing.T) {
	s, _ := openTest(t)
	mine := acceptAs(t, s, "shop", "s@x", "r@y", time.Hour)
	if res, _ := s.Hold(Selector{IDs: []ID{mine.ID}}, op, false); res.Count(Changed) != 1 {
		t.Fatal("hold before the freeze")
	}
	waiting := acceptAs(t, s, "shop", "s@x", "r@y", time.Hour)
	s.Freeze("shop", op)
	res, err := s.HoldFrozenWait("shop", op, func([]ID) error { return nil })
	if err != nil || res.Count(Changed) != 1 || res.Count(Unchanged) != 1 {
		t.Fatalf("freeze hold: %v %v", res.Counts(), err)
	}
	later := acceptAs(t, s, "shop", "s@x", "r@y", 0)
	if res, _ := s.ReleaseFrozen("shop", op); res.Count(Disabled) != 3 {
		t.Errorf("release while frozen: %v", res.Counts())
	}
	s.Unfreeze("shop", op)
	res, err = s.ReleaseFrozen("shop", op)
	if err != nil || !slices.Equal(res.IDs[Changed], []ID{waiting.ID, later.ID}) || res.Count(Unchanged) != 1 {
		t.Fatalf("release of what the freeze held: %v %v", res.Counts(), err)
	}
	if m, _ := s.Get(mine.ID); m.State != Held || m.HeldBy != HeldByOperator {
		t.Errorf("the operator's hold: %s by %q", m.State, m.HeldBy)
	}
}

// A pause or batch record the spool cannot read stops mail, as a freeze
// record it cannot read already did.
func TestUnreadableRecordsFailClosed(t *testing.T) {
	s, path := openTest(t)
	paused := acceptAs(t, s, "shop", "s@x", "r@y", 0)
	batched := acceptBatch(t, s, "b1", nil, t0)
	free := acceptAs(t, s, "bill", "b@x", "r@y", 0)
	s.Close()
	db, err := openRaw(t, path)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx kv.Tx) error {
		tx.Bucket(bucketPauses).Put([]byte("shop"), []byte("{not json"))
		return tx.Bucket(bucketBatches).Put([]byte("b1"), []byte{0xff})
	})
	db.Close()
	s, err = openPath(t, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })

	got, _ := s.Claim(t0.Add(time.Minute), 10)
	if len(got) != 1 || got[0].ID != free.ID {
		t.Fatalf("claimed %d messages: unreadable records let mail through", len(got))
	}
	bad, err := s.Unreadable()
	if err != nil || !slices.Equal(bad, []string{"pause shop", "batch b1"}) {
		t.Errorf("Unreadable: %q %v", bad, err)
	}
	if ps, _ := s.Pauses(); len(ps) != 1 || !ps[0].Unreadable || ps[0].Credential != "shop" {
		t.Errorf("pauses: %+v", ps)
	}
	if m := acceptAs(t, s, "shop", "s@x", "r@y", 0); m.State != Held || m.HeldBy != HeldByPause {
		t.Errorf("arrival under an unreadable pause: %s", m.State)
	}
	// Resuming, and setting the batch's status, write good records.
	if _, err := s.Resume("shop", t0, "uid:0", "fixed"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetBatchStatus("b1", BatchActive, op); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Claim(t0.Add(time.Minute), 10)
	ids := []ID{}
	for _, c := range got {
		ids = append(ids, c.ID)
	}
	if !slices.Contains(ids, paused.ID) || !slices.Contains(ids, batched.ID) {
		t.Errorf("after the repair, claimed %v", ids)
	}
	if bad, _ := s.Unreadable(); len(bad) != 0 {
		t.Errorf("still unreadable: %q", bad)
	}
	mustCheck(t, s)
}

func TestUnreadableFreezeHoldsAndIsNamed(t *testing.T) {
	s, _ := openTest(t)
	if err := s.SpoilRecord("freeze", "shop"); err != nil {
		t.Fatal(err)
	}
	m := acceptAs(t, s, "shop", "s@x", "r@y", 0)
	if m.State != Held || m.HeldBy != HeldByFreeze {
		t.Errorf("arrival under an unreadable freeze: %s by %q", m.State, m.HeldBy)
	}
	if bad, _ := s.Unreadable(); !slices.Equal(bad, []string{"freeze shop"}) {
		t.Errorf("Unreadable: %q", bad)
	}
	s.Unfreeze("shop", op)
	if bad, _ := s.Unreadable(); len(bad) != 0 {
		t.Errorf("after unfreeze: %q", bad)
	}
}
