package spool

import (
	"io"
)

// Backup writes a consistent copy of the whole spool to w: a bbolt file
// that Open takes as it is, as of the moment Backup began. It reads in
// one read transaction, so accepting and delivering go on meanwhile
// (bbolt's writers do not wait for readers), with one exception: a commit
// that must map a larger file (past the first 1 GiB, then each further
// GiB) waits until every read transaction has ended, so a copy to a slow
// writer then stalls every write until it ends. The pages the copy still
// needs are kept until it ends, so the file may grow while a slow copy
// runs. began, if not nil, learns the copy's size before the first byte
// is written. Close waits for a Backup under way.
func (s *Spool) Backup(w io.Writer, began func(size int64)) (int64, error) {
	var n int64
	err := s.view(func(t *txn) error {
		if began != nil {
			began(t.tx.Size())
		}
		var err error
		n, err = t.tx.WriteTo(w)
		return err
	})
	return n, err
}
