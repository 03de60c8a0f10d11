package spool

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// maxPromote bounds how many due messages one Claim marks queued, so that a
// release of many messages at once is spread over several transactions.
const maxPromote = 5000

// Claimed is a message the dispatcher has taken for a delivery attempt,
// with a copy of its body.
type Claimed struct {
	Message
	Body []byte
}

// Claim takes up to max messages whose release time has come, queued ones
// first, and marks them sending (one more attempt each). Due messages
// beyond max are marked queued, so that the states say what waits for a
// delivery slot.
func (s *Spool) Claim(now time.Time, max int) ([]Claimed, error) {
	var out []Claimed
	err := s.update(func(tx *bolt.Tx) error {
		out = out[:0]
		t := wrap(tx)
		for _, b := range []*bolt.Bucket{t.ready, t.due} {
			ids := dueIDs(b, now, max-len(out))
			for _, id := range ids {
				c, err := t.claim(id)
				if err != nil {
					return err
				}
				out = append(out, c)
			}
		}
		return t.promote(now)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// dueIDs returns up to n IDs from a time index whose time is not after now.
// The IDs are collected before the caller changes the index under the cursor.
func dueIDs(b *bolt.Bucket, now time.Time, n int) []ID {
	var ids []ID
	c := b.Cursor()
	for k, _ := c.First(); k != nil && len(ids) < n; k, _ = c.Next() {
		at, id := splitTimeKey(k)
		if at.After(now) {
			break
		}
		ids = append(ids, id)
	}
	return ids
}

func (t *txn) claim(id ID) (Claimed, error) {
	m, err := t.get(id)
	if err != nil {
		return Claimed{}, err
	}
	if err := t.transition(&m, func(m *Message) {
		m.State = Sending
		m.Attempts++
	}); err != nil {
		return Claimed{}, err
	}
	body := t.bodies.Get(id.key())
	if body == nil {
		return Claimed{}, fmt.Errorf("message %s has no body", id)
	}
	return Claimed{Message: m.clone(), Body: append([]byte(nil), body...)}, nil
}

func (t *txn) promote(now time.Time) error {
	for _, id := range dueIDs(t.due, now, maxPromote) {
		m, err := t.get(id)
		if err != nil {
			return err
		}
		if err := t.transition(&m, func(m *Message) { m.State = Queued }); err != nil {
			return err
		}
	}
	return nil
}

// Outcome is the result of a delivery attempt, as the dispatcher judged it.
type Outcome struct {
	// Rcpts holds the recipients with their new states and replies, in
	// the message's order. Only pending recipients may change.
	Rcpts []Recipient
	// State is Delivered, Failed or Deferred.
	State     State
	LastError string
	// Retry is the next attempt's time, for Deferred.
	Retry time.Time
	Now   time.Time
}

// Finish records the outcome of a claimed message's attempt. The message
// must be sending.
func (s *Spool) Finish(id ID, o Outcome) (Message, error) {
	switch o.State {
	case Delivered, Failed, Deferred:
	default:
		return Message{}, fmt.Errorf("finish %s: %s is not an outcome", id, o.State)
	}
	var out Message
	err := s.update(func(tx *bolt.Tx) error {
		t := wrap(tx)
		m, err := t.get(id)
		if err != nil {
			return err
		}
		if m.State != Sending {
			return fmt.Errorf("finish %s: message is %s, not sending", id, m.State)
		}
		if len(o.Rcpts) != len(m.Rcpts) {
			return fmt.Errorf("finish %s: %d recipient results for %d recipients", id, len(o.Rcpts), len(m.Rcpts))
		}
		err = t.transition(&m, func(m *Message) {
			copy(m.Rcpts, o.Rcpts)
			m.State = o.State
			m.LastError = o.LastError
			if o.State == Deferred {
				m.Release = o.Retry
			} else {
				m.Finished = o.Now
			}
		})
		out = m.clone()
		return err
	})
	return out, err
}

// requeueSending runs at Open: whatever was being sent when the previous
// process died is queued again. The upstream may have got it already;
// delivery is at least once.
func requeueSending(tx *bolt.Tx) error {
	t := wrap(tx)
	var ids []ID
	c := t.states.Cursor()
	prefix := []byte{byte(Sending)}
	for k, _ := c.Seek(prefix); k != nil && k[0] == byte(Sending); k, _ = c.Next() {
		ids = append(ids, idFromKey(k[1:]))
	}
	for _, id := range ids {
		m, err := t.get(id)
		if err != nil {
			return err
		}
		if err := t.transition(&m, func(m *Message) { m.State = Queued }); err != nil {
			return err
		}
	}
	return nil
}
