package pg

import (
	"testing"
	"time"

	"github.com/holdrelay/relay/internal/pgtest"
	"github.com/holdrelay/relay/spool/kv"
)

// poll calls cond until it is true, failing t after within.
func poll(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func byName(ns []kv.Node) map[string]kv.Node {
	m := map[string]kv.Node{}
	for _, n := range ns {
		m[n.Name] = n
	}
	return m
}

func TestTwoNodesSeeEachOther(t *testing.T) {
	url := pgtest.Database(t)
	a := open(t, url, "a", time.Second)
	b := open(t, url, "b", 2*time.Second)
	for _, d := range []*DB{a, b} {
		ns, err := d.Nodes()
		if err != nil {
			t.Fatal(err)
		}
		m := byName(ns)
		if len(ns) != 2 || !m["a"].Alive || !m["b"].Alive {
			t.Fatalf("%s sees %+v", d.opts.Node, ns)
		}
		if !m[d.opts.Node].Self || m[d.opts.Node].Boot != d.Self().Boot {
			t.Errorf("%s is not Self in its own list: %+v", d.opts.Node, ns)
		}
		if m["b"].Lease != 2*time.Second || m["a"].Version != "test" {
			t.Errorf("%s sees %+v", d.opts.Node, ns)
		}
	}
	// Heartbeats move LastSeen, by the database's clock.
	first := b.Self().LastSeen
	poll(t, 5*time.Second, "b's heartbeat", func() bool { return b.Self().LastSeen.After(first) })
}

func dead(t *testing.T, d *DB) map[string]kv.Node {
	t.Helper()
	ns, err := d.Dead()
	if err != nil {
		t.Fatal(err)
	}
	return byName(ns)
}

func TestSilentNodeIsDeadAfterItsLease(t *testing.T) {
	const lease = time.Second
	url := pgtest.Database(t)
	a := open(t, url, "a", lease)
	b := open(t, url, "b", lease)
	poll(t, 3*lease, "a to keep its own lease for a lease", a.cl.keptLease)
	if len(dead(t, a)) != 0 {
		t.Fatal("dead nodes while all beat")
	}

	b.cl.noBeats.Store(true)
	stopped := time.Now()
	poll(t, 3*lease, "b in a's Dead", func() bool { _, ok := dead(t, a)["b"]; return ok })
	// b's last heartbeat was at most lease/3 before it stopped.
	if took := time.Since(stopped); took < lease-lease/3 {
		t.Errorf("b was dead %v after its last heartbeat could have been", took)
	}
	if m := byName(must(a.Nodes())); m["b"].Alive || !m["a"].Alive {
		t.Errorf("nodes: %+v", m)
	}

	// A node that has not kept its own lease for a lease yet takes over
	// nobody: it might be just back from the same outage.
	c := open(t, url, "c", lease)
	if len(dead(t, c)) != 0 {
		t.Error("a fresh node lists dead nodes")
	}
	poll(t, 3*lease, "b in c's Dead", func() bool { _, ok := dead(t, c)["b"]; return ok })

	if err := a.Reaped(dead(t, a)["b"]); err != nil {
		t.Fatal(err)
	}
	if _, ok := dead(t, a)["b"]; ok {
		t.Error("b is still dead after Reaped")
	}
	if _, ok := dead(t, c)["b"]; ok {
		t.Error("b is still dead to c after Reaped")
	}

	// b's next boot under the same name is a node of its own.
	b.Close()
	b2 := open(t, url, "b", lease)
	if m := byName(must(a.Nodes())); !m["b"].Alive || m["b"].Boot != b2.Self().Boot {
		t.Errorf("b's new boot: %+v", m["b"])
	}
}

func TestHeartbeatGapRestartsKeptLease(t *testing.T) {
	const lease = time.Second
	a := open(t, pgtest.Database(t), "a", lease)
	poll(t, 3*lease, "a to keep its lease", a.cl.keptLease)
	a.cl.noBeats.Store(true)
	poll(t, 3*lease, "a to lose its lease", func() bool { return !a.cl.keptLease() })
	a.cl.noBeats.Store(false)
	resumed := time.Now()
	poll(t, 3*lease, "a to keep its lease again", a.cl.keptLease)
	if took := time.Since(resumed); took < lease {
		t.Errorf("kept a lease again %v after a gap", took)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// A node that stops talking to the database loses its name (and leads)
// on the server after a lease, whatever happened to its TCP connection.
func TestSilentSessionIsEndedByTheServer(t *testing.T) {
	const lease = time.Second
	a := open(t, pgtest.Database(t), "a", lease)
	next(t, a)
	pid := a.cl.pid.Load()
	a.cl.noBeats.Store(true)
	if n := next(t, a); n != (kv.Notice{}) {
		t.Fatalf("got %+v, want the empty notice of a reconnection", n)
	}
	if a.cl.pid.Load() == pid {
		t.Fatal("no new listener connection")
	}
}
