package spool

import "time"

// maxExpire bounds one Expire transaction.
const maxExpire = 10000

// Expire deletes the records of messages that finished before cutoff, at
// most maxExpire per call, and returns how many it deleted. Callers repeat
// while it returns maxExpire.
func (s *Spool) Expire(cutoff time.Time) (int, error) {
	n := 0
	err := s.update(func(t *txn) error {
		n = 0
		for _, id := range dueIDs(t.done, cutoff.Add(-1), maxExpire) {
			m, err := t.get(id)
			if err != nil {
				return err
			}
			if err := t.remove(&m); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}
