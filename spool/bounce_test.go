package spool

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestDSNFieldsRoundTrip: the DSN links survive the codec, alone or
// after the other sections; a record from before them decodes with none.
func TestDSNFieldsRoundTrip(t *testing.T) {
	base := Message{ID: 5, From: "a@b", Rcpts: []Recipient{{Addr: "c@d"}}, Received: t0, Release: t0, State: Failed}
	old, _ := encodeMessage(&base)
	for _, m := range []Message{
		func() Message { m := base; m.DSN = 77; return m }(),
		func() Message { m := base; m.BounceOf = 4; return m }(),
		func() Message {
			m := base
			m.DSN, m.Batch, m.Categories, m.Upstream = 1<<60, "b1", []string{"x"}, "smtp://up:25"
			return m
		}(),
	} {
		b, err := encodeMessage(&m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeMessage(b)
		if err != nil || !reflect.DeepEqual(got, m) {
			t.Errorf("round trip: %v\n got %+v\nwant %+v", err, got, m)
		}
		if _, err := decodeMessage(b[:len(b)-1]); err == nil {
			t.Error("a record cut inside its bounce section decoded")
		}
	}
	if got, err := decodeMessage(old); err != nil || got.DSN != 0 || got.BounceOf != 0 {
		t.Errorf("record without the section: %+v, %v", got, err)
	}
}

// TestFinishAcceptsTheBounceWithTheFailure: the DSN is in the spool,
// queued at once, the moment the failure is; an operator's drop during
// the attempt, or a deferral, sends none.
func TestFinishAcceptsTheBounceWithTheFailure(t *testing.T) {
	s, err := openPath(t, filepath.Join(t.TempDir(), "spool.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	bounce := func() *Bounce {
		return &Bounce{Incoming: Incoming{Credential: "app", To: []string{"app@example.com"}, Subject: "Undelivered"},
			Body: []byte("From: MAILER-DAEMON@example.com\r\n\r\nreport\r\n")}
	}
	claim := func(intent *Intent) Claimed {
		t.Helper()
		in := Incoming{Credential: "app", From: "app@example.com", To: []string{"ghost@example.net"}, Received: t0, Release: t0}
		if _, err := s.Accept(in, []byte("Subject: x\r\n\r\nbody\r\n")); err != nil {
			t.Fatal(err)
		}
		cs, err := s.Claim(t0, 1)
		if err != nil || len(cs) != 1 {
			t.Fatalf("claim: %v, %d", err, len(cs))
		}
		if intent != nil {
			err := s.update(func(tx *txn) error {
				m, err := tx.get(cs[0].ID)
				if err != nil {
					return err
				}
				m.Intent = intent
				return tx.put(&m)
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		return cs[0]
	}
	failed := func(c Claimed, st State) Attempt {
		return Attempt{Rcpts: []Recipient{{Addr: "ghost@example.net", State: RcptFailed, Reply: "550 no"}},
			State: st, LastError: "550 no", Now: t0.Add(time.Minute), Retry: t0.Add(time.Hour), Attempt: c.Attempts, Bounce: bounce()}
	}

	c := claim(nil)
	m, err := s.Finish(c.ID, failed(c, Failed))
	if err != nil || m.State != Failed || m.DSN == 0 {
		t.Fatalf("finish: %v, %+v", err, m)
	}
	d, err := s.Get(m.DSN)
	if err != nil || d.State != Queued || d.BounceOf != c.ID || d.From != "" || !d.Release.Equal(t0.Add(time.Minute)) {
		t.Errorf("DSN: %v, %+v", err, d)
	}

	c = claim(&Intent{Drop: true, Actor: "uid:0"})
	if m, err := s.Finish(c.ID, failed(c, Failed)); err != nil || m.State != Dropped || m.DSN != 0 {
		t.Errorf("dropped during the attempt: %v, %+v", err, m)
	}
	c = claim(nil)
	a := failed(c, Deferred)
	a.Rcpts[0].State = RcptPending
	if m, err := s.Finish(c.ID, a); err != nil || m.State != Deferred || m.DSN != 0 {
		t.Errorf("deferred: %v, %+v", err, m)
	}
	if err := s.Check(); err != nil {
		t.Error(err)
	}
}

// TestDKIMKeys: a key is stored with its audit entry and event; a taken
// domain and selector is ErrExists; removal writes its own.
func TestDKIMKeys(t *testing.T) {
	s, err := openPath(t, filepath.Join(t.TempDir(), "spool.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	k := DKIMKey{Domain: "example.com", Selector: "s1", Algorithm: "ed25519", PrivateKey: []byte{1, 2}, Created: t0}
	rec := &AuditEntry{Time: t0, Actor: "uid:0", Action: "dkim add"}
	if err := s.AddDKIMKey(k, rec); err != nil || rec.Seq == 0 {
		t.Fatalf("add: %v, seq %d", err, rec.Seq)
	}
	if err := s.AddDKIMKey(k, &AuditEntry{Time: t0, Actor: "uid:0", Action: "dkim add"}); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate: %v", err)
	}
	k2 := k
	k2.Selector = "s2"
	if err := s.AddDKIMKey(k2, nil); err != nil {
		t.Fatal(err)
	}
	keys, err := s.DKIMKeys()
	if err != nil || len(keys) != 2 || !reflect.DeepEqual(keys[0], k) {
		t.Errorf("keys: %v, %+v", err, keys)
	}
	if err := s.RemoveDKIMKey("example.com", "s1", &AuditEntry{Time: t0, Actor: "uid:0", Action: "dkim rm"}); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveDKIMKey("example.com", "s1", nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("second removal: %v", err)
	}
	evs, _ := s.Events(0, 10)
	var types []string
	for _, ev := range evs {
		types = append(types, ev.Type)
	}
	if strings.Join(types, ",") != "dkim.added,dkim.added,dkim.removed" {
		t.Errorf("events %v", types)
	}
	audit, _ := s.Audit(0, 10)
	if len(audit) != 2 {
		t.Errorf("audit entries: %+v", audit)
	}
}
