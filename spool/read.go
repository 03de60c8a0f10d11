package spool

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"
)

// Get returns a message's record.
func (s *Spool) Get(id ID) (Message, error) {
	var m Message
	err := s.view(func(t *txn) error {
		var err error
		m, err = t.get(id)
		return err
	})
	return m, err
}

// Details is everything support sees about one message.
type Details struct {
	Message
	Headers []Header
	History []Event
}

// Details returns a message's record, main headers and history.
func (s *Spool) Details(id ID) (Details, error) {
	var d Details
	err := s.view(func(t *txn) error {
		m, err := t.get(id)
		if err != nil {
			return err
		}
		d.Message = m
		if v := t.headers.Get(id.key()); v != nil {
			if err := json.Unmarshal(v, &d.Headers); err != nil {
				return fmt.Errorf("decode headers of %s: %w", id, err)
			}
		}
		d.History, err = t.history(&m)
		return err
	})
	return d, err
}

// Body returns a copy of a pending message's body.
func (s *Spool) Body(id ID) ([]byte, error) {
	var body []byte
	err := s.view(func(t *txn) error {
		v := t.bodies.Get(id.key())
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
	err := s.view(func(t *txn) error {
		for _, st := range States {
			if v := t.meta.Get(countKey(st)); v != nil {
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
	err = s.view(func(t *txn) error {
		for _, b := range [][]byte{bucketReady, bucketDue} {
			if k, _ := t.tx.Bucket(b).Cursor().First(); k != nil {
				kt, _ := splitTimeKey(k)
				if !ok || kt.Before(at) {
					at, ok = kt, true
				}
			}
		}
		return nil
	})
	return at, ok, err
}

// maxListScan bounds the records one List call reads, so that a selector
// matching almost nothing on a huge spool answers in bounded time; the
// cursor it returns lets the caller go on.
const maxListScan = 200000

// List returns up to limit messages that sel matches, newest first,
// starting below the ID before (0: from the newest). next is the cursor
// for the following page, 0 when there is none.
func (s *Spool) List(sel Selector, before ID, limit int) (msgs []Message, next ID, err error) {
	err = s.view(func(t *txn) error {
		msgs, next = nil, 0
		b, prefix := t.msgs, []byte(nil)
		if g, p := t.groupPrefix(sel); g != nil {
			b, prefix = g, p
		}
		c := b.Cursor()
		seek := append(append([]byte(nil), prefix...), before.key()...)
		k, _ := c.Seek(seek)
		if before == 0 {
			k, _ = c.Seek(append(append([]byte(nil), prefix...), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff))
		}
		// Seek lands at or after the key; step back to the first below it.
		if k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
		for scanned := 0; k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Prev() {
			id := idFromKey(k[len(prefix):])
			if scanned++; scanned > maxListScan {
				next = id + 1
				return nil
			}
			m, err := t.get(id)
			if err != nil {
				return err
			}
			if !sel.Match(&m) {
				continue
			}
			if len(msgs) == limit {
				next = msgs[len(msgs)-1].ID
				return nil
			}
			msgs = append(msgs, m)
		}
		return nil
	})
	return msgs, next, err
}
