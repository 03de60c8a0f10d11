package spool

import (
	"encoding/binary"
	"testing"
	"time"
)

// emitN writes n events at the given time, as that many changes would.
func emitN(t *testing.T, s *Spool, n int, at time.Time) {
	t.Helper()
	err := s.update(func(t *txn) error {
		for range n {
			if _, err := t.emitJSON(EvWebhookTest, at, adminData{Actor: "test"}, ""); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func expireAll(t *testing.T, s *Spool, cutoff time.Time) int {
	t.Helper()
	total := 0
	for {
		n, err := s.ExpireEvents(cutoff)
		if err != nil {
			t.Fatal(err)
		}
		total += n
		if n < maxExpire {
			return total
		}
	}
}

func outboxRange(t *testing.T, s *Spool) (first uint64, n int) {
	t.Helper()
	s.view(func(t *txn) error {
		n = keyCount(t.outbox)
		if k, _ := t.outbox.Cursor().First(); k != nil {
			first = binary.BigEndian.Uint64(k)
		}
		return nil
	})
	return first, n
}

func TestEventsExpireOnceEveryEnabledWebhookHasThem(t *testing.T) {
	s, _ := openTest(t)
	addHook(t, s, "crm") // cursor 0
	addHook(t, s, "gone")
	if err := s.DisableWebhook("gone", "410"); err != nil {
		t.Fatal(err)
	}
	emitN(t, s, KeepEvents+2000, t0)
	old := t0.Add(-time.Hour) // nothing is that old
	if n := expireAll(t, s, old); n != 0 {
		t.Fatalf("expired %d events crm has not had", n)
	}
	if err := s.AckWebhook("crm", 500); err != nil {
		t.Fatal(err)
	}
	if n := expireAll(t, s, old); n != 500 {
		t.Fatalf("expired %d, want the 500 crm has had (the disabled webhook holds nothing back)", n)
	}
	if err := s.AckWebhook("crm", KeepEvents+2000); err != nil {
		t.Fatal(err)
	}
	if n := expireAll(t, s, old); n != 1500 {
		t.Fatalf("expired %d, want 1500: the newest %d stay", n, KeepEvents)
	}
	if first, n := outboxRange(t, s); first != 2001 || n != KeepEvents {
		t.Fatalf("outbox from %d holds %d, want from 2001, %d", first, n, KeepEvents)
	}
	mustCheck(t, s)
}

func TestEventsExpireWhenTooOldWhateverTheCursors(t *testing.T) {
	s, _ := openTest(t)
	addHook(t, s, "crm") // never acknowledges anything
	emitN(t, s, 3*maxExpire, t0)
	emitN(t, s, 100, t0.Add(time.Hour))
	// Bounded growth: without expiry, the outbox would hold all 30,100.
	if n := expireAll(t, s, t0.Add(time.Minute)); n != 3*maxExpire+100-KeepEvents {
		t.Fatalf("expired %d", n)
	}
	if _, n := outboxRange(t, s); n != KeepEvents {
		t.Fatalf("outbox holds %d, want %d", n, KeepEvents)
	}
	// The events crm has not had are gone, and it reads on from the rest.
	evs, err := s.Events(0, 1)
	if err != nil || len(evs) != 1 || evs[0].Seq != 3*maxExpire+100-KeepEvents+1 {
		t.Fatalf("first event left: %+v %v", evs, err)
	}
	mustCheck(t, s)
}
