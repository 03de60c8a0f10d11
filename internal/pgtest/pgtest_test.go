package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

// Two databases of one server are separate: a table made in one is not
// in the other, and each takes writes.
func TestDatabase(t *testing.T) {
	ctx := context.Background()
	var conns []*pgx.Conn
	for range 2 {
		c, err := pgx.Connect(ctx, Database(t))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		conns = append(conns, c)
	}
	if _, err := conns[0].Exec(ctx, "CREATE TABLE t (v int); INSERT INTO t VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	var v int
	if err := conns[0].QueryRow(ctx, "SELECT v FROM t").Scan(&v); err != nil || v != 42 {
		t.Fatalf("read back %d, %v; want 42", v, err)
	}
	var n int
	if err := conns[1].QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 't'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("the second database has %d tables named t (%v); want 0", n, err)
	}
	var sc string
	if err := conns[1].QueryRow(ctx, "SHOW synchronous_commit").Scan(&sc); err != nil || sc != "on" {
		t.Fatalf("synchronous_commit = %q (%v); want on", sc, err)
	}
}

// A server of a test's own stops and starts again on its data: what was
// committed before Halt is there after Restart, and nothing answers in
// between.
func TestOwnHaltRestart(t *testing.T) {
	ctx := context.Background()
	s := Own(t)
	url := s.Database(t)
	if err := exec1(url, "CREATE TABLE t (v int); INSERT INTO t VALUES (7)"); err != nil {
		t.Fatal(err)
	}
	if err := s.Halt(); err != nil {
		t.Fatal(err)
	}
	if err := exec1(url, "SELECT 1"); err == nil {
		t.Fatal("a halted server answered")
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var v int
	if err := c.QueryRow(ctx, "SELECT v FROM t").Scan(&v); err != nil || v != 7 {
		t.Fatalf("after restart read %d, %v; want 7", v, err)
	}
}
