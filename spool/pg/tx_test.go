package pg

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/holdrelay/relay/internal/pgtest"
	"github.com/holdrelay/relay/spool/kv"
)

// proxied opens a DB whose connections go through a proxy.
func proxied(t *testing.T) (*DB, *proxy, string) {
	url := pgtest.Database(t)
	p, purl := newProxy(t, url)
	return open(t, purl, "t1", 5*time.Second), p, url
}

func mustUpdate(t testing.TB, d *DB, fn func(kv.Tx) error) {
	t.Helper()
	if err := d.Update(fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func makeBucket(t *testing.T, d *DB, name string) {
	t.Helper()
	mustUpdate(t, d, func(tx kv.Tx) error {
		_, err := tx.CreateBucketIfNotExists([]byte(name))
		return err
	})
}

func stored(t *testing.T, d *DB, bucket, key string) []byte {
	t.Helper()
	var v []byte
	err := d.View(func(tx kv.Tx) error {
		v = tx.Bucket([]byte(bucket)).Get([]byte(key))
		return nil
	})
	if err != nil {
		t.Fatalf("View: %v", err)
	}
	return v
}

// TestInDoubtCommitCommitted: the connection breaks after PostgreSQL
// committed but before the driver heard it: Update learns the outcome
// on another connection and returns nil.
func TestInDoubtCommitCommitted(t *testing.T) {
	d, p, _ := proxied(t)
	makeBucket(t, d, "b")
	err := d.Update(func(tx kv.Tx) error {
		p.breakAfter.Store(true)
		return tx.Bucket([]byte("b")).Put([]byte("k"), []byte("v"))
	})
	if err != nil {
		t.Fatalf("Update whose COMMIT's answer was lost = %v, want nil (it committed)", err)
	}
	if p.breakAfter.Load() {
		t.Fatal("the proxy did not break the connection")
	}
	if v := stored(t, d, "b", "k"); string(v) != "v" {
		t.Errorf("k = %q after the commit", v)
	}
}

// TestInDoubtCommitLost: the connection breaks before COMMIT reaches
// PostgreSQL: the transaction is aborted, Update fails with
// kv.ErrStorage.
func TestInDoubtCommitLost(t *testing.T) {
	d, p, _ := proxied(t)
	makeBucket(t, d, "b")
	err := d.Update(func(tx kv.Tx) error {
		p.breakBefore.Store(true)
		return tx.Bucket([]byte("b")).Put([]byte("k"), []byte("v"))
	})
	if !errors.Is(err, kv.ErrStorage) {
		t.Fatalf("Update whose COMMIT was lost = %v, want kv.ErrStorage", err)
	}
	if p.breakBefore.Load() {
		t.Fatal("the proxy did not break the connection")
	}
	if v := stored(t, d, "b", "k"); v != nil {
		t.Errorf("k = %q, want nothing", v)
	}
}

// TestDatabaseDown: with PostgreSQL unreachable, Update and View fail
// with kv.ErrStorage within seconds.
func TestDatabaseDown(t *testing.T) {
	d, p, _ := proxied(t)
	makeBucket(t, d, "b")
	p.close()
	start := time.Now()
	for range 3 {
		err := d.Update(func(tx kv.Tx) error { return tx.Bucket([]byte("b")).Put([]byte("k"), []byte("v")) })
		if !errors.Is(err, kv.ErrStorage) {
			t.Fatalf("Update with the database down = %v, want kv.ErrStorage", err)
		}
		if err := d.View(func(tx kv.Tx) error { return nil }); !errors.Is(err, kv.ErrStorage) {
			t.Fatalf("View with the database down = %v, want kv.ErrStorage", err)
		}
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("failing took %v", took)
	}
}

// TestPoisoned: a failed read makes the whole transaction fail with
// kv.ErrStorage, whatever fn returns.
func TestPoisoned(t *testing.T) {
	url := pgtest.Database(t)
	d := open(t, url, "t1", 5*time.Second)
	makeBucket(t, d, "b")
	makeBucket(t, d, "c")
	sql(t, url, "DROP TABLE kv_b")
	for _, fnErr := range []error{nil, errors.New("fn's own")} {
		err := d.Update(func(tx kv.Tx) error {
			if v := tx.Bucket([]byte("b")).Get([]byte("k")); v != nil {
				t.Errorf("failed Get = %q", v)
			}
			if err := tx.Bucket([]byte("c")).Put([]byte("k"), []byte("v")); !errors.Is(err, kv.ErrStorage) {
				t.Errorf("Put after a failure = %v, want kv.ErrStorage", err)
			}
			if k, _ := tx.Bucket([]byte("c")).Cursor().First(); k != nil {
				t.Errorf("cursor after a failure = %q", k)
			}
			return fnErr
		})
		if !errors.Is(err, kv.ErrStorage) {
			t.Errorf("Update after a failed read (fn returned %v) = %v, want kv.ErrStorage", fnErr, err)
		}
		err = d.View(func(tx kv.Tx) error {
			tx.Bucket([]byte("b")).Cursor().Seek([]byte("a"))
			return fnErr
		})
		if !errors.Is(err, kv.ErrStorage) {
			t.Errorf("View after a failed read (fn returned %v) = %v, want kv.ErrStorage", fnErr, err)
		}
	}
	if v := stored(t, d, "c", "k"); v != nil {
		t.Errorf("a poisoned Update stored %q", v)
	}
}

// TestRoundTrips: a write transaction of puts costs three round trips
// (begin with the lock, its xid, commit with the writes), one that writes
// nothing two, a prefetch one.
func TestRoundTrips(t *testing.T) {
	d, p, _ := proxied(t)
	makeBucket(t, d, "b")
	makeBucket(t, d, "meta")
	d.Preload([]byte("meta"))
	body := make([]byte, 10<<10)
	accept := func(i int) func(kv.Tx) error {
		return func(tx kv.Tx) error {
			b := tx.Bucket([]byte("b"))
			for j := range 20 {
				b.Put(fmt.Appendf(nil, "body%d-%d", i, j), body)
			}
			tx.Bucket([]byte("meta")).Put([]byte("n"), fmt.Append(nil, i))
			tx.(kv.Notifier).Notify("accept", "x")
			_, err := b.NextSequence()
			return err
		}
	}
	mustUpdate(t, d, accept(0)) // pgx prepares the statements once
	if n := p.busiest(func() { mustUpdate(t, d, accept(1)) }); n != 3 {
		t.Errorf("a write transaction took %d round trips, want 3", n)
	}
	gate := func(tx kv.Tx) error { tx.Bucket([]byte("meta")).Get([]byte("n")); return nil }
	if n := p.busiest(func() { mustUpdate(t, d, gate) }); n != 2 {
		t.Errorf("a write transaction that writes nothing took %d round trips, want 2", n)
	}
	keys := [][]byte{[]byte("body1-1"), []byte("body1-2"), []byte("absent")}
	read := func(tx kv.Tx) error {
		tx.(kv.Prefetcher).Prefetch([]byte("b"), keys)
		for _, k := range keys {
			tx.Bucket([]byte("b")).Get(k)
		}
		tx.Bucket([]byte("meta")).Get([]byte("n"))
		return nil
	}
	d.View(read)
	if n := p.busiest(func() { d.View(read) }); n != 3 {
		t.Errorf("a View with a prefetch took %d round trips, want 3", n)
	}
}

// TestNotify: notices reach LISTEN in the listener's format, once per
// distinct pair, and only when the transaction commits.
func TestNotify(t *testing.T) {
	url := pgtest.Database(t)
	d := open(t, url, "t1", 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(context.Background())
	if _, err := l.Exec(ctx, "LISTEN relay"); err != nil {
		t.Fatal(err)
	}
	note := func(fail bool, pairs ...string) {
		err := d.Update(func(tx kv.Tx) error {
			for i := 0; i < len(pairs); i += 2 {
				tx.(kv.Notifier).Notify(pairs[i], pairs[i+1])
			}
			if fail {
				return errors.New("abort")
			}
			return nil
		})
		if err != nil && !fail {
			t.Fatal(err)
		}
	}
	note(false, "a", "x", "a", "x", "b", "y\tz")
	note(true, "c", "lost")
	note(false, "end", "")
	var got []string
	for !strings.Contains(strings.Join(got, "|"), "end") {
		n, err := l.WaitForNotification(ctx)
		if err != nil {
			t.Fatalf("waiting for notices (got %q): %v", got, err)
		}
		got = append(got, strings.TrimPrefix(n.Payload, d.boot+"\t"))
	}
	if s := strings.Join(got, "|"); s != "a\tx|b\ty\tz|end\t" {
		t.Errorf("notices %q", s)
	}
}

// benchDB opens a DB for a benchmark, through the proxy if counted (to
// report round trips; the proxy adds its own latency to each).
func benchDB(b *testing.B, counted bool) (*DB, *proxy) {
	url := pgtest.Database(b)
	var p *proxy
	if counted {
		p, url = newProxy(b, url)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d, err := Open(ctx, url, Options{Node: "bench", Lease: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	if err := d.Update(func(tx kv.Tx) error {
		for _, n := range []string{"bodies", "msgs", "meta"} {
			if _, err := tx.CreateBucketIfNotExists([]byte(n)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	d.Preload([]byte("meta"))
	return d, p
}

func roundTrips(b *testing.B, p *proxy, run func()) {
	var before int64
	if p != nil {
		before = p.syncs.Load()
	}
	b.ResetTimer()
	run()
	b.StopTimer()
	if p != nil {
		b.ReportMetric(float64(p.syncs.Load()-before)/float64(b.N), "roundtrips/op")
	}
}

// BenchmarkUpdate is a group commit's transaction: 20 bodies of 10 KiB,
// 10 small records, the commit.
func BenchmarkUpdate(b *testing.B) {
	for _, counted := range []bool{false, true} {
		b.Run(map[bool]string{false: "direct", true: "counted"}[counted], func(b *testing.B) {
			d, p := benchDB(b, counted)
			body := make([]byte, 10<<10)
			var n int
			roundTrips(b, p, func() {
				for range b.N {
					err := d.Update(func(tx kv.Tx) error {
						bodies, msgs := tx.Bucket([]byte("bodies")), tx.Bucket([]byte("msgs"))
						for range 20 {
							n++
							bodies.Put(binary.BigEndian.AppendUint64(nil, uint64(n)), body)
						}
						for i := range 10 {
							msgs.Put(binary.BigEndian.AppendUint64(nil, uint64(n-i)), []byte("a small record of the message"))
						}
						_, err := msgs.NextSequence()
						return err
					})
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkViewGet reads one key.
func BenchmarkViewGet(b *testing.B) {
	for _, counted := range []bool{false, true} {
		b.Run(map[bool]string{false: "direct", true: "counted"}[counted], func(b *testing.B) {
			d, p := benchDB(b, counted)
			mustUpdate(b, d, func(tx kv.Tx) error {
				return tx.Bucket([]byte("msgs")).Put([]byte("k"), []byte("v"))
			})
			roundTrips(b, p, func() {
				for range b.N {
					err := d.View(func(tx kv.Tx) error {
						if tx.Bucket([]byte("msgs")).Get([]byte("k")) == nil {
							return errors.New("k not found")
						}
						return nil
					})
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// TestStaleConnection: after the server closed the pool's connections (a
// restart), the next transaction begins on a new one rather than fail.
func TestStaleConnection(t *testing.T) {
	url := pgtest.Database(t)
	d := open(t, url, "t1", 5*time.Second)
	makeBucket(t, d, "b")
	dbname := query1[string](t, d, "SELECT current_database()")
	ctx := context.Background()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	// The pool pings a connection idle for a second before handing it
	// out: the next Update must follow the end at once to meet it stale.
	for {
		var left int
		err := c.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = $1 AND pid <> pg_backend_pid()`, dbname).Scan(&left)
		if err != nil {
			t.Fatal(err)
		}
		if left == 0 {
			break
		}
	}
	mustUpdate(t, d, func(tx kv.Tx) error { return tx.Bucket([]byte("b")).Put([]byte("k"), []byte("v")) })
}
