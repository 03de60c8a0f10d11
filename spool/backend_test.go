package spool

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/holdrelay/relay/internal/pgtest"
	"github.com/holdrelay/relay/spool/bolt"
	"github.com/holdrelay/relay/spool/kv"
	"github.com/holdrelay/relay/spool/pg"
)

// The spool's tests are the conformance suite of its storage drivers:
// make test runs them once on bbolt and once with RELAY_TEST_SPOOL=pg on
// PostgreSQL. Tests name a spool's storage by the bbolt path they would
// use (openTest returns it, reopens pass it back); on PostgreSQL, that
// path stands for the database first opened under it. This is a copy of
// internal/spooltest, which package spool cannot import.

func TestMain(m *testing.M) { pgtest.Main(m) }

func onPG() bool {
	switch v := os.Getenv("RELAY_TEST_SPOOL"); v {
	case "", "bolt":
		return false
	case "pg":
		return true
	default:
		// A typo must not pass as a green run on the default driver.
		panic(fmt.Sprintf("RELAY_TEST_SPOOL=%q: want bolt or pg", v))
	}
}

// boltOnly skips a test that is about the bbolt file itself (its format
// on disk, its lock, its pages, its commits, its disk) on PostgreSQL.
func boltOnly(t testing.TB) {
	t.Helper()
	if onPG() {
		t.Skip("about the bbolt file itself; RELAY_TEST_SPOOL=pg")
	}
}

// pgURLs maps the paths tests pass around to their databases.
var pgURLs sync.Map

// openPath opens the spool kept under path. On bbolt it is Open itself.
func openPath(t testing.TB, path string) (*Spool, error) {
	t.Helper()
	if !onPG() {
		return Open(path)
	}
	db, err := openRaw(t, path)
	if err != nil {
		return nil, err
	}
	s, err := New(db)
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// openRaw opens the storage under path without a spool on it, for tests
// that poke records the spool would not write. The spool must be closed.
func openRaw(t testing.TB, path string) (kv.DB, error) {
	t.Helper()
	if !onPG() {
		return bolt.Open(path)
	}
	url, ok := pgURLs.Load(path)
	if !ok {
		url, _ = pgURLs.LoadOrStore(path, pgtest.Database(t))
		t.Cleanup(func() { pgURLs.Delete(path) })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := pg.Open(ctx, url.(string), pg.Options{Node: "t1", Lease: 5 * time.Second})
	if err != nil {
		return nil, err // not db: a nil *pg.DB in a kv.DB is not nil
	}
	return db, nil
}
