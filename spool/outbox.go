package spool

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"
)

// Event types the spool writes to its outbox: the contract's names.
// Package webhook has the same list; a test in package relay keeps them in
// step (the spool imports no other package of the project).
const (
	EvMessageAccepted    = "message.accepted"
	EvMessageHeld        = "message.held"
	EvMessageReleased    = "message.released"
	EvMessageFlushed     = "message.flushed"
	EvMessageDeferred    = "message.deferred"
	EvMessageDelivered   = "message.delivered"
	EvMessageFailed      = "message.failed"
	EvMessageDropped     = "message.dropped"
	EvCredentialAdded    = "credential.added"
	EvCredentialRotated  = "credential.rotated"
	EvCredentialDisabled = "credential.disabled"
	EvCredentialEnabled  = "credential.enabled"
	EvCredentialRemoved  = "credential.removed"
	EvPauseStarted       = "pause.started"
	EvPauseEnded         = "pause.ended"
	EvBatchPaused        = "batch.paused"
	EvBatchResumed       = "batch.resumed"
	EvBatchCancelled     = "batch.cancelled"
	EvWebhookTest        = "webhook.test"
)

// OutboxEvent is one event as the outbox keeps it.
type OutboxEvent struct {
	Seq  uint64 // outbox position: increasing, never reused within a file
	ID   string // "evt_" and 13 characters, unique even across a restored backup
	Type string
	Time time.Time
	Data json.RawMessage
	// Endpoint, when set, is the only webhook the event is for (a
	// webhook.test); "" is every subscribed webhook.
	Endpoint string
}

// storedEvent is an outbox record's JSON form.
type storedEvent struct {
	ID       string          `json:"id"`
	Type     string          `json:"type"`
	Time     int64           `json:"t"` // unix nanoseconds
	Data     json.RawMessage `json:"data"`
	Endpoint string          `json:"endpoint,omitempty"`
}

func decodeOutboxEvent(k, v []byte) (OutboxEvent, error) {
	var st storedEvent
	if err := json.Unmarshal(v, &st); err != nil {
		return OutboxEvent{}, fmt.Errorf("decode outbox event %d: %w", binary.BigEndian.Uint64(k), err)
	}
	return OutboxEvent{Seq: binary.BigEndian.Uint64(k), ID: st.ID, Type: st.Type, Time: time.Unix(0, st.Time),
		Data: st.Data, Endpoint: st.Endpoint}, nil
}

// keyLastEvent holds the number behind the newest event ID, issued as
// message IDs are (see nextID), so that a spool restored from a backup
// does not hand out an ID a receiver has already seen.
var keyLastEvent = []byte("lastevent")

// emit appends an event to the outbox in t's transaction: the change it
// reports and the event commit together or not at all.
func (t *txn) emit(typ string, at time.Time, data any, endpoint string) (OutboxEvent, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return OutboxEvent{}, fmt.Errorf("encode %s event: %w", typ, err)
	}
	n, err := t.nextNumber(keyLastEvent, at)
	if err != nil {
		return OutboxEvent{}, err
	}
	seq, err := t.outbox.NextSequence()
	if err != nil {
		return OutboxEvent{}, err
	}
	ev := OutboxEvent{Seq: seq, ID: "evt_" + ID(n).String(), Type: typ, Time: at, Data: raw, Endpoint: endpoint}
	v, err := json.Marshal(storedEvent{ID: ev.ID, Type: typ, Time: at.UnixNano(), Data: raw, Endpoint: endpoint})
	if err != nil {
		return OutboxEvent{}, err
	}
	t.emitted++
	return ev, t.outbox.Put(u64(seq), v)
}

// Events returns up to max events with Seq greater than after, oldest
// first.
func (s *Spool) Events(after uint64, max int) ([]OutboxEvent, error) {
	var out []OutboxEvent
	err := s.view(func(t *txn) error {
		c := t.outbox.Cursor()
		for k, v := c.Seek(u64(after + 1)); k != nil && len(out) < max; k, v = c.Next() {
			ev, err := decodeOutboxEvent(k, v)
			if err != nil {
				return err
			}
			out = append(out, ev)
		}
		return nil
	})
	return out, err
}

// LastEventSeq returns the Seq of the newest event ever written (0 for
// none), whether or not it has expired since.
func (s *Spool) LastEventSeq() (uint64, error) {
	var seq uint64
	err := s.view(func(t *txn) error {
		seq = t.outbox.Sequence()
		return nil
	})
	return seq, err
}

// EventsChanged returns a channel that is closed after the next commit
// that writes events. Take the next channel before reading the outbox:
// a commit before the take is in what the read sees, one after it closes
// the channel taken.
func (s *Spool) EventsChanged() <-chan struct{} {
	s.evMu.Lock()
	defer s.evMu.Unlock()
	if s.evCh == nil {
		s.evCh = make(chan struct{})
	}
	return s.evCh
}

// eventsWritten wakes whoever waits on EventsChanged.
func (s *Spool) eventsWritten() {
	s.evMu.Lock()
	defer s.evMu.Unlock()
	if s.evCh != nil {
		close(s.evCh)
		s.evCh = nil
	}
}

// KeepEvents is how many of the newest events expiry always keeps, for
// `relayctl events` to show, whether or not any webhook still wants them.
const KeepEvents = 10000

// ExpireEvents deletes, at most maxExpire per call, the events that every
// enabled webhook is done with or that were written before cutoff, always
// keeping the newest KeepEvents. It returns how many it deleted; callers
// repeat while it returns maxExpire. Events are deleted oldest first,
// stopping at the first one still wanted.
func (s *Spool) ExpireEvents(cutoff time.Time) (int, error) {
	n := 0
	err := s.update(func(t *txn) error {
		n = 0
		last := t.outbox.Sequence()
		if last <= KeepEvents {
			return nil
		}
		keepFrom, done := last-KeepEvents, t.doneWith(last)
		c := t.outbox.Cursor()
		for k, v := c.First(); k != nil && n < maxExpire; k, v = c.First() {
			seq := binary.BigEndian.Uint64(k)
			if seq > keepFrom || (seq > done && !eventBefore(v, cutoff)) {
				return nil
			}
			if err := c.Delete(); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// doneWith is the lowest cursor of the enabled webhooks: every one of
// them is done with the events up to it. With none, that is all events.
func (t *txn) doneWith(last uint64) uint64 {
	low := last
	t.hooks.ForEach(func(k, _ []byte) error {
		if w, err := t.webhook(string(k)); err == nil && !w.Disabled {
			low = min(low, w.Cursor)
		}
		return nil
	})
	return low
}

// eventBefore reports whether a stored event was written before cutoff;
// one that cannot be read counts as old, so that it does not stay for ever.
func eventBefore(v []byte, cutoff time.Time) bool {
	var st struct {
		Time int64 `json:"t"`
	}
	return json.Unmarshal(v, &st) != nil || time.Unix(0, st.Time).Before(cutoff)
}
