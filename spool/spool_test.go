package spool

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holdrelay/relay/spool/kv"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// openTest opens a spool in a temp dir and checks its invariants when the
// test ends, as bbolt's own tests check the file's consistency.
func openTest(t *testing.T) (*Spool, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "spool.db")
	s, err := openPath(t, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Check(); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("spool invariants: %v", err)
		}
		s.Close()
	})
	return s, path
}

func accept(t *testing.T, s *Spool, hold time.Duration, to ...string) Message {
	t.Helper()
	if len(to) == 0 {
		to = []string{"rcpt@example.com"}
	}
	m, err := s.Accept(Incoming{
		Credential: "app", From: "app@example.com", To: to, Subject: "hi",
		Received: t0, Release: t0.Add(hold),
	}, []byte("Subject: hi\r\n\r\nbody\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mustCheck(t *testing.T, s *Spool) {
	t.Helper()
	if err := s.Check(); err != nil {
		t.Fatalf("spool invariants: %v", err)
	}
}

func wantCounts(t *testing.T, s *Spool, want map[State]int) {
	t.Helper()
	got, err := s.Counts()
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range States {
		if got[st] != want[st] {
			t.Errorf("count %s = %d, want %d (all: %v)", st, got[st], want[st], got)
		}
	}
}

func TestIDText(t *testing.T) {
	ids := []ID{0, 1, 31, 32, 1 << 40, 1<<63 + 12345, ^ID(0)}
	var texts []string
	for _, id := range ids {
		s := id.String()
		if len(s) != 13 {
			t.Fatalf("%d: %q is not 13 characters", id, s)
		}
		back, err := ParseID(strings.ToUpper(s))
		if err != nil || back != id {
			t.Fatalf("ParseID(%q) = %d, %v; want %d", s, back, err, id)
		}
		texts = append(texts, s)
	}
	if !sort.StringsAreSorted(texts) {
		t.Errorf("texts do not sort like their IDs: %v", texts)
	}
	for _, bad := range []string{"", "short", "0123456789abu", "g000000000000", "0123456789ab!"} {
		if _, err := ParseID(bad); err == nil {
			t.Errorf("ParseID(%q) succeeded", bad)
		}
	}
}

func TestAcceptWaitsThenClaim(t *testing.T) {
	s, _ := openTest(t)
	m := accept(t, s, 30*time.Second)
	if m.State != Waiting || !m.Release.Equal(t0.Add(30*time.Second)) {
		t.Fatalf("accepted as %s releasing %v", m.State, m.Release)
	}
	wantCounts(t, s, map[State]int{Waiting: 1})
	if at, ok, _ := s.NextDue(); !ok || !at.Equal(m.Release) {
		t.Fatalf("NextDue = %v %v, want %v", at, ok, m.Release)
	}

	got, err := s.Claim(t0.Add(29*time.Second), 10)
	if err != nil || len(got) != 0 {
		t.Fatalf("claim before release: %d messages, %v", len(got), err)
	}
	got, err = s.Claim(t0.Add(30*time.Second), 10)
	if err != nil || len(got) != 1 {
		t.Fatalf("claim at release: %d messages, %v", len(got), err)
	}
	c := got[0]
	if c.ID != m.ID || c.State != Sending || c.Attempts != 1 || string(c.Body) != "Subject: hi\r\n\r\nbody\r\n" {
		t.Fatalf("claimed %+v", c)
	}
	wantCounts(t, s, map[State]int{Sending: 1})
	mustCheck(t, s)
}

func TestZeroHoldIsQueued(t *testing.T) {
	s, _ := openTest(t)
	m := accept(t, s, 0)
	if m.State != Queued {
		t.Fatalf("state %s, want queued", m.State)
	}
	got, _ := s.Claim(t0, 1)
	if len(got) != 1 {
		t.Fatalf("claimed %d, want 1", len(got))
	}
}

func TestClaimBoundPromotesTheRest(t *testing.T) {
	s, _ := openTest(t)
	var ids []ID
	for i := 0; i < 5; i++ {
		ids = append(ids, accept(t, s, time.Second).ID)
	}
	got, err := s.Claim(t0.Add(time.Minute), 2)
	if err != nil || len(got) != 2 {
		t.Fatalf("claimed %d, %v", len(got), err)
	}
	if got[0].ID != ids[0] || got[1].ID != ids[1] {
		t.Errorf("claimed out of release order: %s %s", got[0].ID, got[1].ID)
	}
	wantCounts(t, s, map[State]int{Sending: 2, Queued: 3})
	mustCheck(t, s)
	got, _ = s.Claim(t0.Add(time.Minute), 10)
	if len(got) != 3 || got[0].ID != ids[2] {
		t.Fatalf("second claim: %d messages", len(got))
	}
	wantCounts(t, s, map[State]int{Sending: 5})
}

func TestFinishOutcomes(t *testing.T) {
	s, _ := openTest(t)
	for _, tc := range []struct {
		state State
		want  map[State]int
	}{
		{Delivered, map[State]int{Delivered: 1}},
		{Failed, map[State]int{Failed: 1}},
		{Deferred, map[State]int{Deferred: 1}},
	} {
		t.Run(tc.state.String(), func(t *testing.T) {
			s, _ := openTest(t)
			m := accept(t, s, 0, "a@x", "b@x")
			if _, err := s.Claim(t0, 1); err != nil {
				t.Fatal(err)
			}
			rc := []Recipient{{Addr: "a@x", State: RcptDelivered, Reply: "250 ok"}, {Addr: "b@x", Reply: "451 later"}}
			retry := t0.Add(5 * time.Minute)
			done, err := s.Finish(m.ID, Attempt{Rcpts: rc, State: tc.state, LastError: "451 later", Retry: retry, Now: t0.Add(time.Second)})
			if err != nil {
				t.Fatal(err)
			}
			wantCounts(t, s, tc.want)
			mustCheck(t, s)
			_, bodyErr := s.Body(m.ID)
			if tc.state.Finished() != errors.Is(bodyErr, ErrNotFound) {
				t.Errorf("after %s, body error = %v", tc.state, bodyErr)
			}
			if tc.state == Deferred {
				if !done.Release.Equal(retry) || len(done.Pending()) != 1 || done.Pending()[0] != "b@x" {
					t.Errorf("deferred record: release %v pending %v", done.Release, done.Pending())
				}
				if got, _ := s.Claim(retry.Add(-time.Second), 5); len(got) != 0 {
					t.Errorf("claimed a deferred message before its retry time")
				}
				if got, _ := s.Claim(retry, 5); len(got) != 1 || got[0].Attempts != 2 {
					t.Errorf("retry claim: %+v", got)
				}
			}
		})
	}
	_ = s
}

func TestFinishNeedsSending(t *testing.T) {
	s, _ := openTest(t)
	m := accept(t, s, time.Hour)
	_, err := s.Finish(m.ID, Attempt{Rcpts: m.Rcpts, State: Delivered, Now: t0})
	if err == nil || !strings.Contains(err.Error(), "not sending") {
		t.Fatalf("Finish of a waiting message: %v", err)
	}
	if _, err := s.Finish(ID(12345), Attempt{State: Delivered}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Finish of an unknown ID: %v", err)
	}
	wantCounts(t, s, map[State]int{Waiting: 1})
}

func TestReopenRequeuesSendingAndKeepsIDsIncreasing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	s, err := openPath(t, path)
	if err != nil {
		t.Fatal(err)
	}
	m1 := accept(t, s, 0)
	accept(t, s, time.Hour)
	if got, _ := s.Claim(t0, 1); len(got) != 1 {
		t.Fatal("nothing claimed")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = openPath(t, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustCheck(t, s)
	wantCounts(t, s, map[State]int{Queued: 1, Waiting: 1})
	got, _ := s.Get(m1.ID)
	if got.State != Queued || got.Attempts != 1 {
		t.Errorf("after reopen: %s with %d attempts", got.State, got.Attempts)
	}
	m3 := accept(t, s, 0)
	if m3.ID <= m1.ID+1 {
		t.Errorf("new ID %d not above earlier IDs %d", m3.ID, m1.ID)
	}
}

func TestSecondOpenIsRefused(t *testing.T) {
	boltOnly(t)
	_, path := openTest(t)
	_, err := openPath(t, path)
	if err == nil || !strings.Contains(err.Error(), "locked by another process") {
		t.Fatalf("second Open: %v", err)
	}
}

func TestConcurrentAcceptsShareCommits(t *testing.T) {
	s, _ := openTest(t)
	const n = 200
	var wg sync.WaitGroup
	ids := make(chan ID, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			m, err := s.Accept(Incoming{From: "a@x", To: []string{fmt.Sprintf("r%d@x", i)}, Received: t0, Release: t0.Add(time.Minute)}, []byte("x"))
			if err != nil {
				t.Error(err)
				return
			}
			ids <- m.ID
		}(i)
	}
	wg.Wait()
	close(ids)
	seen := map[ID]bool{}
	for id := range ids {
		if seen[id] {
			t.Fatalf("ID %s issued twice", id)
		}
		seen[id] = true
	}
	if len(seen) != n {
		t.Fatalf("%d IDs for %d accepts", len(seen), n)
	}
	wantCounts(t, s, map[State]int{Waiting: n})
}

func TestFailedWriteDoesNotSinkItsGroup(t *testing.T) {
	s, _ := openTest(t)
	// A first write holds the commit loop so that the next two queue up and
	// are committed as one group.
	gate := make(chan struct{})
	started := make(chan struct{})
	first := make(chan error, 1)
	var once sync.Once
	go func() {
		first <- s.update(func(t *txn) error {
			once.Do(func() { close(started) })
			<-gate
			return nil
		})
	}()
	<-started
	boom := errors.New("boom")
	bad := make(chan error, 1)
	good := make(chan error, 1)
	var m Message
	go func() { bad <- s.update(func(t *txn) error { return boom }) }()
	go func() {
		var err error
		m, err = s.Accept(Incoming{From: "a@x", To: []string{"b@x"}, Received: t0, Release: t0}, []byte("x"))
		good <- err
	}()
	for len(s.writes) < 2 {
		time.Sleep(time.Millisecond)
	}
	close(gate)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-bad; !errors.Is(err, boom) {
		t.Fatalf("failing write got %v", err)
	}
	if err := <-good; err != nil {
		t.Fatalf("good write in the same group got %v", err)
	}
	if _, err := s.Get(m.ID); err != nil {
		t.Fatalf("the good write was lost: %v", err)
	}
}

func TestClosedSpoolRefuses(t *testing.T) {
	s, _ := openTest(t)
	s.Close()
	if _, err := s.Accept(Incoming{To: []string{"a@x"}, Received: t0}, []byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
	if _, err := s.Counts(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Counts after Close: %v", err)
	}
}

func TestExpireRemovesOldFinishedRecords(t *testing.T) {
	s, _ := openTest(t)
	old := accept(t, s, 0)
	s.Claim(t0, 1)
	s.Finish(old.ID, Attempt{Rcpts: []Recipient{{Addr: "rcpt@example.com", State: RcptDelivered}}, State: Delivered, Now: t0})
	recent := accept(t, s, 0)
	s.Claim(t0, 1)
	s.Finish(recent.ID, Attempt{Rcpts: []Recipient{{Addr: "rcpt@example.com", State: RcptFailed}}, State: Failed, Now: t0.Add(time.Hour)})

	n, err := s.Expire(t0.Add(time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("Expire = %d, %v; want 1", n, err)
	}
	if _, err := s.Get(old.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("expired record still there: %v", err)
	}
	if _, err := s.Get(recent.ID); err != nil {
		t.Errorf("recent record gone: %v", err)
	}
	wantCounts(t, s, map[State]int{Failed: 1})
}

func TestCredentialRecords(t *testing.T) {
	s, _ := openTest(t)
	if err := s.PutCredential("app", []byte(`{"v":1}`)); err != nil {
		t.Fatal(err)
	}
	s.PutCredential("other", []byte(`{"v":2}`))
	s.DeleteCredential("other")
	got, err := s.LoadCredentials()
	if err != nil || len(got) != 1 || string(got["app"]) != `{"v":1}` {
		t.Fatalf("LoadCredentials = %q, %v", got, err)
	}
}

func TestCheckFindsBrokenIndexes(t *testing.T) {
	s, _ := openTest(t)
	m := accept(t, s, time.Hour)
	s.db.Update(func(tx kv.Tx) error {
		return tx.Bucket(bucketDue).Delete(timeKey(m.Release, m.ID))
	})
	err := s.Check()
	if err == nil || !strings.Contains(err.Error(), "due has 0 entries") {
		t.Fatalf("Check on a broken due index: %v", err)
	}
	// Repair so the cleanup check passes.
	s.db.Update(func(tx kv.Tx) error {
		return tx.Bucket(bucketDue).Put(timeKey(m.Release, m.ID), nil)
	})
}

func FuzzParseID(f *testing.F) {
	f.Add("038gpndgj8000")
	f.Add("ZZZZZZZZZZZZZ")
	f.Add("oOiIlL0123456")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s)
		if err != nil {
			return
		}
		back, err := ParseID(id.String())
		if err != nil || back != id {
			t.Fatalf("%q parsed to %d, whose text %q does not parse back (%v)", s, id, id.String(), err)
		}
	})
}

// keyCount is how many keys b holds.
func keyCount(b kv.Bucket) int {
	n := 0
	b.ForEach(func(k, v []byte) error { n++; return nil })
	return n
}
