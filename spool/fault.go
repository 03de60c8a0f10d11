package spool

import (
	"errors"
	"fmt"
)

// ErrStorage marks a write that the file system refused: the disk is
// full, or the device failed. Nothing of the write was kept (bbolt rolled
// its transaction back), the spool stays consistent and usable, and the
// same write may succeed once the fault clears. The SMTP intake answers
// it with 451 4.3.0; the dispatcher tries its outcome again.
var ErrStorage = errors.New("spool storage failed")

// storageError wraps a failed commit so that callers can tell it from a
// refusal of the write itself (an invalid change, a missing message).
func storageError(err error) error {
	return fmt.Errorf("%w: %w", ErrStorage, err)
}

// commitFault, when set (by tests only), is called at the end of every
// group's transaction, before bbolt commits it; an error it returns fails
// the whole group the way a failed commit does. It lets tests inject
// write errors without a full disk.
type commitFault func() error

// injectedFault runs the test hook, if any.
func (s *Spool) injectedFault() error {
	if f := s.fault.Load(); f != nil {
		return (*f)()
	}
	return nil
}

// InjectCommitFault makes every commit fail, as a write error would, with
// the error fn returns, until it is called again with nil; fn returning
// nil lets a commit through. FOR TESTS ONLY: it lets the relay's tests see
// what a write error does (ErrStorage everywhere) without filling a disk.
func (s *Spool) InjectCommitFault(fn func() error) {
	if fn == nil {
		s.fault.Store(nil)
		return
	}
	f := commitFault(fn)
	s.fault.Store(&f)
}
