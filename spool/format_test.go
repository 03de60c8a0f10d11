package spool

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/holdrelay/relay/spool/kv"
)

// setVersion writes a format number into a closed spool file.
func setVersion(t *testing.T, path string, v uint64) {
	t.Helper()
	db, err := openRaw(t, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx kv.Tx) error { return tx.Bucket(bucketMeta).Put(keyVersion, u64(v)) }); err != nil {
		t.Fatal(err)
	}
}

func version(t *testing.T, s *Spool) uint64 {
	t.Helper()
	var v uint64
	if err := s.view(func(t *txn) error {
		v = binary.BigEndian.Uint64(t.meta.Get(keyVersion))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return v
}

// A file of an older format (1: before outbox runs and history in the
// record; 2: before every event and the headers were in the record) is
// opened and raised to the current format; a file of a newer one is
// refused, so that an older relayd never misreads records it does not
// know.
func TestFormatVersion(t *testing.T) {
	s, path := openTest(t)
	if got := version(t, s); got != formatVersion {
		t.Fatalf("a new spool has format %d, want %d", got, formatVersion)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for v := uint64(1); v < formatVersion; v++ {
		setVersion(t, path, v)
		s, err := openPath(t, path)
		if err != nil {
			t.Fatalf("opening a format-%d spool: %v", v, err)
		}
		if got := version(t, s); got != formatVersion {
			t.Fatalf("a format-%d spool opened as format %d, want %d", v, got, formatVersion)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	setVersion(t, path, formatVersion+1)
	want := fmt.Sprintf("spool format %d", formatVersion+1)
	if s, err := openPath(t, path); err == nil || !strings.Contains(err.Error(), want) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("opening a spool of a newer format: %v; want it refused", err)
	}
}

// asFormat2 rewrites a closed spool file as format 2 wrote it: each
// message's main headers in the headers bucket, as JSON, and the first
// keep events of its history in the events bucket, the rest (a bulk
// action's, in format 2) left in the record, all numbered from the
// events bucket's sequence.
func asFormat2(t *testing.T, path string, keep int) {
	t.Helper()
	db, err := openRaw(t, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx kv.Tx) error {
		t := wrap(tx)
		if err := t.events.SetSequence(t.lastSeq()); err != nil {
			return err
		}
		if err := t.meta.Delete(keyLastSeq); err != nil {
			return err
		}
		if err := t.meta.Put(keyVersion, u64(2)); err != nil {
			return err
		}
		return t.msgs.ForEach(func(k, v []byte) error {
			m, err := decodeMessage(v)
			if err != nil {
				return err
			}
			return moveToBuckets(t, &m, keep)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func moveToBuckets(t *txn, m *Message, keep int) error {
	if v := t.bodies.Get(headersKey(m.ID)); v != nil {
		hs, err := decodeHeaders(v)
		if err != nil {
			return err
		}
		v, _ := json.Marshal(hs)
		if err := t.headers.Put(m.ID.key(), v); err != nil {
			return err
		}
		if err := t.bodies.Delete(headersKey(m.ID)); err != nil {
			return err
		}
	}
	evs, err := inlineEvents(m)
	if err != nil {
		return err
	}
	m.history = nil
	for i, e := range evs {
		if i >= keep {
			m.history = slices.Concat(m.history, encodeEvent(e))
			continue
		}
		v, _ := json.Marshal(e.ev)
		if err := t.events.Put(eventKey(m.ID, e.seq), v); err != nil {
			return err
		}
	}
	v, err := encodeMessage(m)
	if err != nil {
		return err
	}
	return t.msgs.Put(m.ID.key(), v)
}

func encodeEvent(e seqEvent) []byte {
	b := binary.AppendUvarint(nil, e.seq)
	b = append(appendTime(b, e.ev.Time), byte(e.ev.State))
	return appendString(appendString(appendString(b, e.ev.Actor), e.ev.Reason), e.ev.Upstream)
}

// A message of a format-2 file keeps its headers and its history, old
// events first, as it goes on changing; its expiry deletes what it has
// in the events and headers buckets.
func TestFormat2HistoryAndHeaders(t *testing.T) {
	s, path := openTest(t)
	hdrs := []Header{{Name: "From", Value: "app@example.com"}, {Name: "Subject", Value: "Your order"}}
	m, err := s.Accept(Incoming{Credential: "app", From: "app@example.com", To: []string{"ana@example.org"},
		Received: t0, Release: t0.Add(time.Hour), Headers: hdrs}, []byte("Subject: Your order\r\n\r\nbody\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	mustAct(t, s.Hold, m.ID, Event{Time: t0.Add(time.Second), Actor: "uid:0", Reason: "look"})
	mustAct(t, s.Flush, m.ID, Event{Time: t0.Add(2 * time.Second), Actor: "uid:1"})
	s.Close()
	asFormat2(t, path, 2)
	s = reopen(t, s, path)
	if got := version(t, s); got != formatVersion {
		t.Fatalf("format %d after open, want %d", got, formatVersion)
	}
	claimOne(t, s, t0.Add(3*time.Second))
	finishAs(t, s, m, Delivered, t0.Add(4*time.Second), "250 ok")
	d, err := s.Details(m.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range d.History {
		got = append(got, e.State.String()+" "+e.Actor+" "+e.Reason)
	}
	want := []string{"waiting smtp ", "held uid:0 look", "queued uid:1 ", "sending dispatcher ", "delivered dispatcher 451 4.7.1 try later"}
	if !slices.Equal(got, want) {
		t.Errorf("history\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !slices.Equal(d.Headers, hdrs) {
		t.Errorf("headers %v, want %v from the headers bucket", d.Headers, hdrs)
	}
	mustCheck(t, s)
	if n, err := s.Expire(t0.Add(time.Hour)); n != 1 || err != nil {
		t.Fatalf("expire: %d, %v", n, err)
	}
	s.view(func(t2 *txn) error {
		if k, _ := t2.events.Cursor().First(); k != nil {
			t.Errorf("event %x left after its message expired", k)
		}
		if k, _ := t2.headers.Cursor().First(); k != nil {
			t.Errorf("headers %x left after their message expired", k)
		}
		return nil
	})
}

// An accept writes its history event into the record and its main
// headers into the bodies bucket, and the events and headers buckets stay
// empty; the headers outlive the body.
func TestAcceptWritesOnlyTheRecord(t *testing.T) {
	s, _ := openTest(t)
	hdrs := []Header{{Name: "Subject", Value: "hi"}, {Name: "To", Value: "ana@example.org"}}
	m, err := s.Accept(Incoming{Credential: "app", From: "app@example.com", To: []string{"ana@example.org"},
		Received: t0, Release: t0, Headers: hdrs}, []byte("body\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.Details(m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Headers, hdrs) || len(d.History) != 1 || d.History[0].State != Queued {
		t.Errorf("details: headers %v, history %+v", d.Headers, d.History)
	}
	claimOne(t, s, t0)
	finishAs(t, s, m, Delivered, t0, "250 ok")
	if d, err := s.Details(m.ID); err != nil || !slices.Equal(d.Headers, hdrs) {
		t.Errorf("details once delivered: headers %v, %v", d.Headers, err)
	}
	if _, err := s.Body(m.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("body once delivered: %v", err)
	}
	if n, err := s.Expire(t0.Add(time.Second)); n != 1 || err != nil {
		t.Fatalf("expire: %d, %v", n, err)
	}
	s.view(func(t2 *txn) error {
		if k, _ := t2.bodies.Cursor().First(); k != nil {
			t.Errorf("%x left in the bodies bucket after the message expired", k)
		}
		return nil
	})
	s.view(func(t2 *txn) error {
		if keyCount(t2.events) != 0 || keyCount(t2.headers) != 0 {
			t.Errorf("the accept wrote %d events and %d headers outside the record", keyCount(t2.events), keyCount(t2.headers))
		}
		return nil
	})
}
