package spool

import "time"

// maxExpire bounds one Expire transaction.
const maxExpire = 10000

// Expire deletes the records of messages that finished before cutoff, at
// most maxExpire per call, and returns how many it deleted. Callers repeat
// until it returns 0.
func (s *Spool) Expire(cutoff time.Time) (int, error) {
	n := 0
	err := s.update(func(t *txn) error {
		n = 0
		ids := dueIDs(t.done, cutoff.Add(-1), maxExpire)
		t.prefetch(ids, false)
		for _, id := range ids {
			m, err := t.get(id)
			if err != nil {
				return err
			}
			if err := t.remove(&m); err != nil {
				return err
			}
			n++
		}
		return t.expireBatches(cutoff)
	})
	return n, err
}

// expireBatches deletes the records of active batches created before
// cutoff that no message names any more: one batch ID per send would
// otherwise pile up for ever. A paused or cancelled batch is kept, since
// its status still applies to messages yet to arrive.
func (t *txn) expireBatches(cutoff time.Time) error {
	var gone [][]byte
	err := t.batches.ForEach(func(k, v []byte) error {
		if len(gone) == maxExpire {
			return nil
		}
		b := t.batch(string(k))
		if b != nil && b.Status == BatchActive && b.Created.Before(cutoff) && t.batchSize(b.ID) == 0 {
			gone = append(gone, append([]byte(nil), k...))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range gone {
		if err := t.batches.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
