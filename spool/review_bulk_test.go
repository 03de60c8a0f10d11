package spool

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// holdRun accepts n messages and holds them in one action: one run.
func holdRun(t *testing.T, s *Spool, n int) uint64 {
	t.Helper()
	for range n {
		acceptFull(t, s, time.Minute, "")
	}
	mark := lastSeq(t, s)
	if res, err := s.Hold(Selector{Credential: "app"}, Event{Time: t0.Add(time.Second), Actor: "uid:0"}, false); err != nil || res.Count(Changed) != n {
		t.Fatalf("hold: %v %v", res.Counts(), err)
	}
	return mark
}

// Events after the largest Seq there can be is nothing, not a panic on
// a run's negative index (after+1 wraps to 0).
func TestEventsAfterLastPossibleSeq(t *testing.T) {
	s, _ := openTest(t)
	holdRun(t, s, 3)
	evs, err := s.Events(math.MaxUint64, 10)
	if err != nil || len(evs) != 0 {
		t.Fatalf("Events(MaxUint64) = %d events, %v; want none", len(evs), err)
	}
}

// A corrupt run is one finding of Check, not a cascade over every
// record after it.
func TestCheckCorruptRunIsOneFinding(t *testing.T) {
	s, _ := openTest(t)
	mark := holdRun(t, s, 3)
	m := acceptFull(t, s, 0, "")
	mustAct(t, s.Hold, m.ID, Event{Time: t0.Add(2 * time.Second), Actor: "uid:0"})
	var good []byte
	put := func(v []byte) {
		if err := s.update(func(t *txn) error { return t.outbox.Put(u64(mark+1), v) }); err != nil {
			t.Fatal(err)
		}
	}
	s.view(func(t *txn) error { good = bytes.Clone(t.outbox.Get(u64(mark + 1))); return nil })
	if len(good) == 0 || good[0] != outboxRunV1 {
		t.Fatalf("no run at %d", mark+1)
	}
	put(good[:4])
	err := s.Check()
	defer put(good)
	if err == nil {
		t.Fatal("Check passed a corrupt run")
	}
	if strings.Contains(err.Error(), "inside the run before it") {
		t.Errorf("Check blames the records after a corrupt run:\n%v", err)
	}
}

// The cursors kept by txn (lookup, del) see every Put and Delete made
// on their bucket before, through the bucket or through them.
func TestTxnCursorsSeeWrites(t *testing.T) {
	s, _ := openTest(t)
	r := rand.New(rand.NewPCG(1, 2))
	want := map[uint64]bool{}
	err := s.update(func(t *txn) error {
		for i := range 20000 {
			k := r.Uint64N(3000) + 1
			switch r.IntN(4) {
			case 0:
				if err := t.bodies.Put(u64(k), []byte{byte(i)}); err != nil {
					return err
				}
				want[k] = true
			case 1:
				if err := t.bodies.Delete(u64(k)); err != nil {
					return err
				}
				delete(want, k)
			case 2:
				if err := t.del(t.bodies, u64(k)); err != nil {
					return err
				}
				delete(want, k)
			}
			k = r.Uint64N(3000) + 1
			if got := t.lookup(t.bodies, u64(k)) != nil; got != want[k] {
				t.lookup(t.bodies, u64(k))
				return fmt.Errorf("step %d: key %d present %v, want %v", i, k, got, want[k])
			}
		}
		return errRolledBack // the keys are no messages': leave nothing
	})
	if err != errRolledBack {
		t.Fatal(err)
	}
}

var errRolledBack = fmt.Errorf("rolled back")
