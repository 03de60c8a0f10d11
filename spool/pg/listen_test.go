package pg

import (
	"context"
	"fmt"
	"testing"
	"time"

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
	for i := 1; i <= cap(a.Notices()); i++ {
		if n := next(t, a); n.Payload != fmt.Sprint(i) {
			t.Fatalf("notice %d: %+v", i, n)
		}
	}
	if n := next(t, a); n != (kv.Notice{}) {
		t.Fatalf("after the dropped notices: %+v, want the empty one", n)
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
