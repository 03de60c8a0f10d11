package spool

import (
	"errors"
	"io"
)

// ErrUnsupported is returned for what the spool's storage cannot do.
var ErrUnsupported = errors.New("not supported by this spool's storage")

// Backup writes a consistent copy of the whole spool to w, when its
// storage can (a bbolt file: a copy that Open takes as it is; see
// bolt.DB.Backup). A spool kept in PostgreSQL is backed up with
// PostgreSQL's own tools. began, if not nil, learns the copy's size
// before the first byte is written. Close waits for a Backup under way.
func (s *Spool) Backup(w io.Writer, began func(size int64)) (int64, error) {
	b, ok := s.db.(interface {
		Backup(w io.Writer, began func(int64)) (int64, error)
	})
	if !ok {
		return 0, ErrUnsupported
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, ErrClosed
	}
	return b.Backup(w, began)
}

// TrimMemory lets go of storage pages this process keeps mapped, when its
// storage maps any (bbolt on Linux; see bolt.DB.TrimMemory).
func (s *Spool) TrimMemory() error {
	t, ok := s.db.(interface{ TrimMemory() error })
	if !ok {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return t.TrimMemory()
}
