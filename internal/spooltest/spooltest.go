// Package spooltest opens spools for the tests of the packages above the
// spool, on the storage driver RELAY_TEST_SPOOL names: unset or "bolt", a
// bbolt file in a temporary directory; "pg", a fresh PostgreSQL database
// from package pgtest. Those packages must not know which driver they
// talk to, so make test runs their tests once on each.
//
// A test binary that opens spools through it must call pgtest.Main from
// its TestMain. Package spool's own tests keep a copy of this (in
// spool/backend_test.go): they cannot import a package that imports spool.
package spooltest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/holdrelay/relay/internal/pgtest"
	"github.com/holdrelay/relay/spool"
	"github.com/holdrelay/relay/spool/pg"
)

// Backend is the driver the tests run on: "bolt" or "pg".
func Backend() string {
	switch v := os.Getenv("RELAY_TEST_SPOOL"); v {
	case "", "bolt":
		return "bolt"
	case "pg":
		return "pg"
	default:
		// A typo must not pass as a green run on the default driver.
		panic(fmt.Sprintf("RELAY_TEST_SPOOL=%q: want bolt or pg", v))
	}
}

// BoltOnly skips a test that is about the bbolt file itself (its copy,
// its lock, its pages, its disk) when the tests run on PostgreSQL.
func BoltOnly(t testing.TB) {
	t.Helper()
	if Backend() != "bolt" {
		t.Skip("about the bbolt file itself; RELAY_TEST_SPOOL=" + Backend())
	}
}

// Handle names a spool's storage, so that a test can open it again.
type Handle struct {
	// Path is the bbolt file (its directory exists on either driver).
	Path string
	// URL is the PostgreSQL database; "" on bbolt.
	URL string
}

// Open opens a fresh spool for t. The caller closes it.
func Open(t testing.TB) (*spool.Spool, Handle) {
	t.Helper()
	h := Handle{Path: filepath.Join(t.TempDir(), "spool.db")}
	if Backend() == "pg" {
		h.URL = pgtest.Database(t)
	}
	s, err := Reopen(t, h)
	if err != nil {
		t.Fatal(err)
	}
	return s, h
}

// Reopen opens h's storage again, as a restarted relayd would: the spool
// opened on it before must be closed.
func Reopen(t testing.TB, h Handle) (*spool.Spool, error) {
	t.Helper()
	if h.URL == "" {
		return spool.Open(h.Path)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := pg.Open(ctx, h.URL, pg.Options{Node: "t1", Lease: 5 * time.Second})
	if err != nil {
		return nil, err
	}
	s, err := spool.New(db)
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}
