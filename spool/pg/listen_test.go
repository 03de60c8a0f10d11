package pg

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/holdrelay/relay/internal/pgtest"
	"github.com/holdrelay/relay/spool/kv"
)

func next(t *testing.T, d *DB) kv.Notice {
	t.Helper()
	select {
	case n := <-d.Notices():
		return n
	case <-time.After(10 * time.Second):
		t.Fatal("no notice within 10 s")
		return kv.Notice{}
	}
}

// notify sends what another node's Tx.Notify sends.
func notify(t *testing.T, url, boot, channel, payload string) {
	t.Helper()
	sql(t, url, "SELECT pg_notify('relay', $1)", boot+"\t"+channel+"\t"+payload)
}

func TestNoticesFromOtherBootsOnly(t *testing.T) {
	url := pgtest.Database(t)
	a := open(t, url, "a", time.Second)
	if n := next(t, a); n != (kv.Notice{}) {
		t.Fatalf("first notice %+v, want the empty one of Open", n)
	}
	notify(t, url, a.Self().Boot, "cuts", "own")
	notify(t, url, "otherboot", "cuts", "x\ty")
	if n := next(t, a); n != (kv.Notice{Channel: "cuts", Payload: "x\ty"}) {
		t.Fatalf("got %+v", n)
	}
	notify(t, url, "otherboot", "records", "")
	if n := next(t, a); n != (kv.Notice{Channel: "records"}) {
		t.Fatalf("got %+v", n)
	}
}

func TestFullNoticesAreReplacedByARescan(t *testing.T) {
	url := pgtest.Database(t)
	a := open(t, url, "a", time.Second)
	next(t, a)
	const sent = 300
	sql(t, url, "SELECT pg_notify('relay', 'otherboot'||chr(9)||'c'||chr(9)||i) FROM generate_series(1, $1) i", sent)
	poll(t, 10*time.Second, "Notices to fill", func() bool { return len(a.Notices()) == cap(a.Notices()) })
	// Read until a rescan, then until a later notice (notices keep their
	// order) says the listener has seen all of the flood.
	var stream []kv.Notice
	for len(stream) == 0 || stream[len(stream)-1].Channel != "" {
		stream = append(stream, next(t, a))
	}
	notify(t, url, "otherboot", "c", "end")
	for stream[len(stream)-1].Payload != "end" {
		stream = append(stream, next(t, a))
	}
	// Every dropped notice has a rescan after every notice before it.
	got, lastEmpty, prev := map[int]int{}, 0, 0
	for i, n := range stream[:len(stream)-1] {
		if n.Channel == "" {
			lastEmpty = i
			continue
		}
		var p int
		fmt.Sscan(n.Payload, &p)
		if p <= prev {
			t.Fatalf("notice %d after %d", p, prev)
		}
		got[p], prev = i, p
	}
	dropped := 0
	for p := sent; p >= 1; p-- {
		if _, ok := got[p]; ok {
			continue
		}
		dropped++
		for q := p - 1; q >= 1; q-- {
			if i, ok := got[q]; ok && i > lastEmpty {
				t.Fatalf("notice %d was dropped, and %d (before it) came after the last rescan", p, q)
			}
		}
	}
	if dropped == 0 {
		t.Fatal("nothing dropped: the test did not fill Notices")
	}
}

func TestListenerReconnects(t *testing.T) {
	url := pgtest.Database(t)
	a := open(t, url, "a", time.Second)
	next(t, a)
	old := a.cl.pid.Load()
	sql(t, url, "SELECT pg_terminate_backend($1)", int(old))
	if n := next(t, a); n != (kv.Notice{}) {
		t.Fatalf("after the reconnection: %+v, want the empty one", n)
	}
	if a.cl.pid.Load() == old {
		t.Fatal("an empty notice, but no new connection")
	}
	notify(t, url, "otherboot", "c", "after")
	if n := next(t, a); n.Payload != "after" {
		t.Fatalf("got %+v", n)
	}
	// The new connection holds the name again.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if d, err := Open(ctx, url, Options{Node: "a"}); err == nil {
		d.Close()
		t.Fatal("a second node a opened after a's reconnection")
	}
	// And it beats again.
	seen := a.Self().LastSeen
	poll(t, 5*time.Second, "a heartbeat after the reconnection", func() bool { return a.Self().LastSeen.After(seen) })
}

func TestSteadyNoticesDoNotStopHeartbeats(t *testing.T) {
	const lease = time.Second
	url := pgtest.Database(t)
	a := open(t, url, "a", lease)
	next(t, a)
	pid, seen := a.cl.pid.Load(), a.Self().LastSeen
	ctx := context.Background()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	for end := time.Now().Add(2 * lease); time.Now().Before(end); {
		if _, err := c.Exec(ctx, "SELECT pg_notify('relay', 'otherboot'||chr(9)||'c'||chr(9)||'p')"); err != nil {
			t.Fatal(err)
		}
		if n := next(t, a); n.Channel == "" {
			t.Fatal("an empty notice: the listener reconnected")
		}
	}
	if a.cl.pid.Load() != pid {
		t.Error("the listener reconnected")
	}
	if !a.Self().LastSeen.After(seen.Add(lease)) {
		t.Errorf("heartbeats under a stream of notices: last seen %v, first %v", a.Self().LastSeen, seen)
	}
}
