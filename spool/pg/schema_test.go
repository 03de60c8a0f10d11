package pg

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/holdrelay/relay/internal/pgtest"
)

func TestMigrationFilesAreNumbered(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].name != "0001_init.sql" {
		t.Fatalf("migrations: %+v", ms)
	}
}

// migrateWith runs the migrations ms on url's database as node "m".
func migrateWith(t *testing.T, d *DB, ms []migration) error {
	t.Helper()
	ctx := context.Background()
	c, err := d.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	return d.migrateLocked(ctx, c.Conn(), ms)
}

func TestUpgradeAppliesEachMissingFileOnce(t *testing.T) {
	d := open(t, pgtest.Database(t), "a", time.Second)
	ms, _ := migrations()
	v2 := append(ms[:len(ms):len(ms)], migration{version: len(ms) + 1, name: "next.sql",
		sql: "CREATE TABLE extra (x int); INSERT INTO extra VALUES (1);"})
	if err := migrateWith(t, d, v2); err != nil {
		t.Fatal(err)
	}
	if err := migrateWith(t, d, v2); err != nil {
		t.Fatal(err)
	}
	if n := query1[int](t, d, "SELECT count(*) FROM extra"); n != 1 {
		t.Errorf("the upgrade ran %d times", n)
	}
	if v := query1[int](t, d, "SELECT version FROM schema_version"); v != len(v2) {
		t.Errorf("version %d after the upgrade, want %d", v, len(v2))
	}

	// A failing file leaves the schema as it was before it.
	v3 := append(v2, migration{version: len(v2) + 1, name: "bad.sql",
		sql: "CREATE TABLE half (x int); SELECT 1/0;"})
	if err := migrateWith(t, d, v3); err == nil || !strings.Contains(err.Error(), "bad.sql") {
		t.Fatalf("a failing migration: %v", err)
	}
	if v := query1[int](t, d, "SELECT version FROM schema_version"); v != len(v2) {
		t.Errorf("version %d after a failed upgrade, want %d", v, len(v2))
	}
	if n := query1[int](t, d, "SELECT count(*) FROM pg_tables WHERE tablename = 'half'"); n != 0 {
		t.Error("a failed migration left a table behind")
	}
}

func TestConcurrentStartersShareOneSchema(t *testing.T) {
	url := pgtest.Database(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			d, err := Open(ctx, url, Options{Node: string(rune('a' + i)), Lease: time.Second})
			if err == nil {
				d.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("starter %d: %v", i, err)
		}
	}
	ctx := context.Background()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var rows, nodes int
	if err := c.QueryRow(ctx, "SELECT (SELECT count(*) FROM schema_version), (SELECT count(*) FROM nodes)").Scan(&rows, &nodes); err != nil {
		t.Fatal(err)
	}
	if rows != 1 || nodes != 4 {
		t.Errorf("%d schema_version rows, %d nodes", rows, nodes)
	}
}
