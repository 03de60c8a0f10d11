package spool

import (
	"encoding/binary"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// setVersion writes a format number into a closed spool file.
func setVersion(t *testing.T, path string, v uint64) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyVersion, u64(v)) }); err != nil {
		t.Fatal(err)
	}
}

func version(t *testing.T, s *Spool) uint64 {
	t.Helper()
	var v uint64
	if err := s.view(func(t *txn) error {
		v = binary.BigEndian.Uint64(t.meta.Get(keyVersion))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return v
}

// A format-1 file (before outbox runs and history in the record) is
// opened and raised to format 2; a file of a newer format is refused, so
// that an older relayd never misreads records it does not know.
func TestFormatVersion(t *testing.T) {
	s, path := openTest(t)
	if got := version(t, s); got != formatVersion {
		t.Fatalf("a new spool has format %d, want %d", got, formatVersion)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	setVersion(t, path, 1)
	s, err := Open(path)
	if err != nil {
		t.Fatalf("opening a format-1 spool: %v", err)
	}
	if got := version(t, s); got != formatVersion {
		t.Fatalf("a format-1 spool opened as format %d, want %d", got, formatVersion)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	setVersion(t, path, formatVersion+1)
	if s, err := Open(path); err == nil || !strings.Contains(err.Error(), "spool format 3") {
		if s != nil {
			s.Close()
		}
		t.Fatalf("opening a spool of a newer format: %v; want it refused", err)
	}
}
