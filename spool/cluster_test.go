package spool

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/holdrelay/relay/internal/pgtest"
	"github.com/holdrelay/relay/spool/pg"
)

// openNode opens the shared spool at url as node name, with a short
// lease, and checks its invariants when the test ends.
func openNode(t *testing.T, url, name string, lease time.Duration) *Spool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := pg.Open(ctx, url, pg.Options{Node: name, Lease: lease})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(db)
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Check(); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("node %s: spool invariants: %v", name, err)
		}
		s.Close()
	})
	return s
}

func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func claimOn(t *testing.T, s *Spool, id ID) Claimed {
	t.Helper()
	cs, err := s.Claim(t0.Add(time.Hour), 1)
	if err != nil || len(cs) != 1 || cs[0].ID != id {
		t.Fatalf("claim: %v, %v; want %s", cs, err, id)
	}
	return cs[0]
}

// TestSharedDropCutsAnotherNodesAttempt: a drop on node a of a message
// node b is sending reaches b (Cuts), b's gate refuses the dot, b's
// outcome carries the drop out, and a reports dropped.
func TestSharedDropCutsAnotherNodesAttempt(t *testing.T) {
	url := pgtest.Database(t)
	a, b := openNode(t, url, "a", 5*time.Second), openNode(t, url, "b", 5*time.Second)
	m := accept(t, a, 0)
	c := claimOn(t, b, m.ID)

	type dropped struct {
		res Result
		err error
	}
	done := make(chan dropped, 1)
	go func() {
		res, err := a.DropWait(Selector{IDs: []ID{m.ID}}, op, false, func([]ID) error { return nil })
		done <- dropped{res, err}
	}()
	select {
	case ids := <-b.Cuts():
		if len(ids) != 1 || ids[0] != m.ID {
			t.Fatalf("b was told to cut %v, want [%s]", ids, m.ID)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("b was never told to cut its attempt")
	}
	if err := b.PassDot(m.ID, c.Attempts); !errors.Is(err, ErrCut) {
		t.Fatalf("b's gate after the drop: %v, want ErrCut", err)
	}
	if _, err := b.Finish(m.ID, Attempt{State: Deferred, Rcpts: c.Rcpts, Now: t0.Add(time.Hour), Retry: t0.Add(time.Hour),
		Attempt: c.Attempts, LastError: "cancelled"}); err != nil {
		t.Fatal(err)
	}
	d := <-done
	if d.err != nil || len(d.res.IDs[Changed]) != 1 {
		t.Fatalf("drop on a: %+v, %v; want the message dropped", d.res, d.err)
	}
	if got, _ := b.Get(m.ID); got.State != Dropped {
		t.Fatalf("b sees the message %s, want dropped", got.State)
	}
}

// TestSharedGateFirstMeansDelivered: once b's attempt passed its gate, a
// drop on a waits for the outcome and says it was delivered.
func TestSharedGateFirstMeansDelivered(t *testing.T) {
	url := pgtest.Database(t)
	a, b := openNode(t, url, "a", 5*time.Second), openNode(t, url, "b", 5*time.Second)
	m := accept(t, a, 0)
	c := claimOn(t, b, m.ID)
	if err := b.PassDot(m.ID, c.Attempts); err != nil {
		t.Fatalf("gate before any drop: %v", err)
	}
	done := make(chan Result, 1)
	go func() {
		res, _ := a.DropWait(Selector{IDs: []ID{m.ID}}, op, false, func([]ID) error { return nil })
		done <- res
	}()
	waitFor(t, "the drop's Intent", 10*time.Second, func() bool { got, _ := a.Get(m.ID); return got.Intent != nil })
	rcpts := append([]Recipient(nil), c.Rcpts...)
	for i := range rcpts {
		rcpts[i].State = RcptDelivered
	}
	if _, err := b.Finish(m.ID, Attempt{State: Delivered, Rcpts: rcpts, Now: t0.Add(time.Hour), Attempt: c.Attempts}); err != nil {
		t.Fatal(err)
	}
	if res := <-done; len(res.IDs[AlreadyDelivered]) != 1 {
		t.Fatalf("drop after the gate: %+v, want already delivered", res)
	}
}

// TestSharedTakeOverOfADeadNode: a node that stops (its heartbeats end)
// has its sending messages queued again as interrupted by another node
// once its lease runs out, with an audit entry; a drop then says
// maybe_delivered. The outcome the dead node might still send is refused.
func TestSharedTakeOverOfADeadNode(t *testing.T) {
	url := pgtest.Database(t)
	lease := time.Second
	a := openNode(t, url, "a", lease)
	b := openNode(t, url, "b", lease) // closed early: its cleanup finds it closed
	m := accept(t, a, 0)
	c := claimOn(t, b, m.ID)
	if nodes, err := a.Nodes(); err != nil || len(nodes) != 2 {
		t.Fatalf("nodes: %+v, %v; want a and b", nodes, err)
	}
	b.Close() // stops b's heartbeats, leaves its attempt sending

	waitFor(t, "a to take over b's attempt", 20*lease, func() bool {
		got, _ := a.Get(m.ID)
		return got.State == Queued && got.Interrupted
	})
	audit, err := a.Audit(0, 10)
	if err != nil || len(audit) == 0 || audit[0].Action != "takeover" || audit[0].Counts["interrupted"] != 1 {
		t.Fatalf("audit after the takeover: %+v, %v", audit, err)
	}
	res, err := a.Drop(Selector{IDs: []ID{m.ID}}, op, false)
	if err != nil || len(res.IDs[MaybeDelivered]) != 1 {
		t.Fatalf("drop of a taken-over message: %+v, %v; want maybe_delivered", res, err)
	}

	// b comes back under its name: its old attempt's outcome is refused.
	b = openNode(t, url, "b", lease)
	if _, err := b.Finish(m.ID, Attempt{State: Deferred, Rcpts: c.Rcpts, Now: t0, Retry: t0, Attempt: c.Attempts}); err == nil {
		t.Fatal("the outcome of a taken-over attempt was recorded")
	}
}

// TestSharedRestartQueuesItsOwnAttempts: a node restarting under its
// name queues its own old attempts at once, and leaves another live
// node's alone.
func TestSharedRestartQueuesItsOwnAttempts(t *testing.T) {
	url := pgtest.Database(t)
	a := openNode(t, url, "a", 5*time.Second)
	b1 := openNode(t, url, "b", 5*time.Second)
	mine, theirs := accept(t, a, 0), accept(t, a, time.Minute)
	claimOn(t, b1, mine.ID)
	if cs, err := a.Claim(t0.Add(time.Hour), 10); err != nil || len(cs) != 1 || cs[0].ID != theirs.ID {
		t.Fatalf("a's claim: %v, %v", cs, err)
	}
	b1.Close()
	b2 := openNode(t, url, "b", 5*time.Second)
	if got, _ := b2.Get(mine.ID); got.State != Queued || !got.Interrupted {
		t.Fatalf("b's own attempt after its restart: %s interrupted=%v, want queued and interrupted", got.State, got.Interrupted)
	}
	if got, _ := b2.Get(theirs.ID); got.State != Sending {
		t.Fatalf("a's attempt after b's restart: %s, want still sending", got.State)
	}
}

// TestSharedNoticesOfRecordsAndEvents: a credential changed on one node
// and events written there reach the other.
func TestSharedNoticesOfRecordsAndEvents(t *testing.T) {
	url := pgtest.Database(t)
	a, b := openNode(t, url, "a", 5*time.Second), openNode(t, url, "b", 5*time.Second)
	recv := func(what string) string {
		t.Helper()
		select {
		case kind := <-b.RecordsChanged():
			return kind
		case <-time.After(10 * time.Second):
			t.Fatalf("b never heard of %s", what)
			return ""
		}
	}
	// The listener's start is a rescan of everything: wait it out, so
	// that what follows can only come from a's changes.
	if kind := recv("its listener's start"); kind != "" {
		t.Fatalf("b's first records notice is %q, want the start's rescan", kind)
	}
	events := b.EventsChanged()
	if err := a.PutCredential("shop", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if kind := recv("a's credential"); kind != RecordsCredentials {
		t.Fatalf("b was told %q changed, want %q", kind, RecordsCredentials)
	}
	accept(t, a, time.Hour)
	select {
	case <-events:
	case <-time.After(10 * time.Second):
		t.Fatal("b never heard of a's events")
	}
}

// TestSharedTakenOverNodeIsTakenOverAgain: a node taken over while it was
// alive (its heartbeats late past its lease) goes on under the same boot;
// when it dies later, the attempts it made since are taken over too.
func TestSharedTakenOverNodeIsTakenOverAgain(t *testing.T) {
	url := pgtest.Database(t)
	lease := time.Second
	a := openNode(t, url, "a", lease)
	b := openNode(t, url, "b", lease) // closed early: its cleanup finds it closed
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)

	m1 := accept(t, a, 0)
	claimOn(t, b, m1.ID)
	// b looks dead for a moment (a stall longer than its lease): a takes
	// its attempt over.
	waitFor(t, "a to take over b's attempt", 30*lease, func() bool {
		conn.Exec(ctx, `UPDATE nodes SET heartbeat = now() - interval '1 hour' WHERE name = 'b'`)
		got, _ := a.Get(m1.ID)
		return got.State == Queued && got.Interrupted
	})
	// b was alive all along: it goes on, and claims again.
	waitFor(t, "b's heartbeats to clear its takeover", 30*lease, func() bool {
		var reaped string
		conn.QueryRow(ctx, `SELECT reaped FROM nodes WHERE name = 'b'`).Scan(&reaped)
		return reaped == ""
	})
	accept(t, a, 0)
	cs, err := b.Claim(t0.Add(time.Hour), 1)
	if err != nil || len(cs) != 1 {
		t.Fatalf("b's claim after the takeover: %v, %v", cs, err)
	}
	m2 := cs[0]
	b.Close() // now b really dies, its attempt on m2 left sending

	waitFor(t, "a to take over b's second attempt", 20*lease, func() bool {
		got, _ := a.Get(m2.ID)
		return got.State != Sending
	})
}

// TestSharedOrphanedAttemptIsQueuedAgain: an attempt the spool shows
// sending on this node but that the dispatcher does not run (a claim
// whose commit was reported failed although it happened) is queued again
// as interrupted after two scans; one that runs is left alone.
func TestSharedOrphanedAttemptIsQueuedAgain(t *testing.T) {
	scan := cutScan
	cutScan = 50 * time.Millisecond
	t.Cleanup(func() { cutScan = scan })
	url := pgtest.Database(t)
	a := openNode(t, url, "a", 5*time.Second)
	orphan, running := accept(t, a, 0), accept(t, a, time.Minute)
	a.Running(func(id ID) bool { return id == running.ID })
	if cs, err := a.Claim(t0.Add(time.Hour), 2); err != nil || len(cs) != 2 {
		t.Fatalf("claim: %v, %v", cs, err)
	}
	waitFor(t, "the orphan to be queued again", 10*time.Second, func() bool {
		m, _ := a.Get(orphan.ID)
		return m.State == Queued && m.Interrupted
	})
	if m, _ := a.Get(running.ID); m.State != Sending {
		t.Fatalf("the attempt that runs is %s, want still sending", m.State)
	}
}
