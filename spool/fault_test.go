package spool

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/holdrelay/relay/internal/diskfull"
)

// TestFailedCommitFailsEveryWriterOfTheGroup injects a write error at
// commit time: every write that shared the transaction must hear of it
// (none may be told "done" for data that is not on disk), nothing of the
// group may remain, and the next commit must work.
func TestFailedCommitFailsEveryWriterOfTheGroup(t *testing.T) {
	s, path := openTest(t)
	before := accept(t, s, time.Minute)

	const writers = 20
	reached, release := make(chan struct{}), make(chan struct{})
	var calls int // commits tried; written by the commit loop only
	fault := commitFault(func() error {
		calls++
		if calls == 1 {
			close(reached)
			<-release // hold the loop while the writers queue up
		}
		return fmt.Errorf("write spool.db: %w", syscall.EIO)
	})
	s.fault.Store(&fault)

	incoming := func(i int) Incoming {
		return Incoming{Credential: "app", From: "a@example.com", To: []string{fmt.Sprintf("r%d@example.com", i)},
			Received: t0, Release: t0.Add(time.Minute)}
	}
	errs := make(chan error, writers+1)
	var wg sync.WaitGroup
	start := func(i int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Accept(incoming(i), []byte("Subject: x\r\n\r\nbody\r\n"))
			errs <- err
		}()
	}
	start(0)
	<-reached
	for i := 1; i <= writers; i++ {
		start(i)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(s.writes) < writers && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	queued := len(s.writes)
	close(release)
	wg.Wait()
	close(errs)
	if queued < writers {
		t.Fatalf("only %d of %d writes queued", queued, writers)
	}
	for err := range errs {
		if !errors.Is(err, ErrStorage) || !errors.Is(err, syscall.EIO) {
			t.Errorf("write in a failed commit returned %v, want ErrStorage wrapping EIO", err)
		}
	}
	if calls != 2 {
		t.Errorf("%d commits tried, want 2: the first write alone, then the %d queued ones as one group", calls, writers)
	}
	if _, err := s.Claim(t0.Add(time.Hour), 10); !errors.Is(err, ErrStorage) {
		t.Errorf("Claim during the fault: %v, want ErrStorage", err)
	}
	wantCounts(t, s, map[State]int{Waiting: 1})
	mustCheck(t, s)

	s.fault.Store(nil)
	after := accept(t, s, time.Minute)
	if after.ID <= before.ID {
		t.Errorf("ID after the fault %s not above %s", after.ID, before.ID)
	}
	wantCounts(t, s, map[State]int{Waiting: 2})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := openPath(t, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	mustCheck(t, s2)
	wantCounts(t, s2, map[State]int{Waiting: 2})
}

// TestDiskFull runs the spool on a small real file system, fills it, and
// checks that writes fail with ErrStorage (ENOSPC inside), that reads and
// the invariants hold while full, and that everything works again, across
// a reopen, once space is freed.
func TestDiskFull(t *testing.T) {
	for _, kind := range diskfull.Kinds {
		t.Run(string(kind), func(t *testing.T) { testDiskFull(t, kind) })
	}
}

func testDiskFull(t *testing.T, kind diskfull.Kind) {
	boltOnly(t) // PostgreSQL's disk is not the one mounted here
	dir := diskfull.Mount(t, kind, 8<<20)
	path := filepath.Join(dir, "spool.db")
	s, err := openPath(t, path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	body := func(i int) []byte { return bytes.Repeat([]byte(fmt.Sprintf("message %d\r\n", i)), 20000) } // ~250 KiB
	in := func(i int) Incoming {
		return Incoming{Credential: "app", From: "a@example.com", To: []string{"r@example.com"}, Received: t0, Release: t0}
	}
	kept := map[ID][]byte{}
	for i := range 3 {
		m, err := s.Accept(in(i), body(i))
		if err != nil {
			t.Fatal(err)
		}
		kept[m.ID] = body(i)
	}
	claimed, err := s.Claim(t0, 1)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v, %v", claimed, err)
	}

	free := diskfull.Fill(t, dir)
	defer free()
	// The file may still have free pages inside; big messages must grow it.
	var full error
	for i := 3; i < 50 && full == nil; i++ {
		m, err := s.Accept(in(i), body(i))
		if err != nil {
			full = err
			break
		}
		kept[m.ID] = body(i)
	}
	if !errors.Is(full, ErrStorage) || !errors.Is(full, syscall.ENOSPC) {
		t.Fatalf("Accept on a full disk: %v, want ErrStorage wrapping ENOSPC", full)
	}
	// Concurrent writers on the full disk: each one hears of the failure.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if m, err := s.Accept(in(100+i), body(100+i)); err == nil {
				t.Errorf("Accept %s succeeded on a full disk", m.ID)
			} else if !errors.Is(err, ErrStorage) {
				t.Errorf("Accept on a full disk: %v, want ErrStorage", err)
			}
		}()
	}
	wg.Wait()
	mustCheck(t, s)
	for id, want := range kept {
		if got, err := s.Body(id); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("body of %s while full: %d bytes, %v", id, len(got), err)
		}
	}

	free()
	syscall.Sync()
	m, err := s.Accept(in(200), body(200))
	if err != nil {
		t.Fatalf("Accept after space came back: %v", err)
	}
	kept[m.ID] = body(200)
	if _, err := s.Finish(claimed[0].ID, Attempt{Rcpts: []Recipient{{Addr: "r@example.com", State: RcptDelivered}},
		State: Delivered, Now: t0}); err != nil {
		t.Fatalf("Finish after space came back: %v", err)
	}
	delete(kept, claimed[0].ID)
	mustCheck(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = openPath(t, path); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, s)
	for id, want := range kept {
		if got, err := s.Body(id); err != nil || !bytes.Equal(got, want) {
			t.Errorf("body of %s after reopen: %d bytes, %v", id, len(got), err)
		}
	}
	n, _ := s.Counts()
	if n[Queued] != len(kept) || n[Delivered] != 1 {
		t.Errorf("counts after reopen %v, want %d queued and 1 delivered", n, len(kept))
	}
}
