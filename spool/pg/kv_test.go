package pg_test

import (
	"context"
	"testing"
	"time"

	"github.com/holdrelay/relay/internal/pgtest"
	"github.com/holdrelay/relay/spool/kv"
	"github.com/holdrelay/relay/spool/kv/kvtest"
	"github.com/holdrelay/relay/spool/pg"
)

func open(t testing.TB, preload bool) kv.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d, err := pg.Open(ctx, pgtest.Database(t), pg.Options{Node: "t1", Lease: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if preload {
		d.Preload(kvtest.Buckets...)
	}
	return d
}

func TestConformance(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kv.DB { return open(t, false) })
}

// TestConformancePreloaded runs the suite with every bucket read whole
// at the start of each transaction.
func TestConformancePreloaded(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kv.DB { return open(t, true) })
}

func FuzzModel(f *testing.F) {
	db := open(f, false)
	kvtest.Seeds(f)
	f.Fuzz(func(t *testing.T, prog []byte) { kvtest.Model(t, db, prog) })
}
