package spool

import (
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Get returns a message's record.
func (s *Spool) Get(id ID) (Message, error) {
	var m Message
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		m, err = wrap(tx).get(id)
		return err
	})
	return m, err
}

// Body returns a copy of a pending message's body.
func (s *Spool) Body(id ID) ([]byte, error) {
	var body []byte
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketBodies).Get(id.key())
		if v == nil {
			return fmt.Errorf("body of %s: %w", id, ErrNotFound)
		}
		body = append([]byte(nil), v...)
		return nil
	})
	return body, err
}

// Counts returns the number of messages in each state. It reads counters,
// not records, so it costs the same on any spool.
func (s *Spool) Counts() (map[State]int, error) {
	counts := make(map[State]int, len(States))
	err := s.view(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		for _, st := range States {
			if v := meta.Get(countKey(st)); v != nil {
				counts[st] = int(binary.BigEndian.Uint64(v))
			}
		}
		return nil
	})
	return counts, err
}

// NextDue returns the earliest time at which a message becomes due: now or
// earlier if some are queued. ok is false when nothing is scheduled.
func (s *Spool) NextDue() (at time.Time, ok bool, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketReady, bucketDue} {
			if k, _ := tx.Bucket(name).Cursor().First(); k != nil {
				t, _ := splitTimeKey(k)
				if !ok || t.Before(at) {
					at, ok = t, true
				}
			}
		}
		return nil
	})
	return at, ok, err
}
