package bolt_test

import (
	"path/filepath"
	"testing"

	"github.com/holdrelay/relay/spool/bolt"
	"github.com/holdrelay/relay/spool/kv"
	"github.com/holdrelay/relay/spool/kv/kvtest"
)

func open(t testing.TB) kv.DB {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "spool.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestConformance(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kv.DB { return open(t) })
}

func FuzzModel(f *testing.F) {
	db := open(f)
	kvtest.Seeds(f)
	f.Fuzz(func(t *testing.T, prog []byte) { kvtest.Model(t, db, prog) })
}
