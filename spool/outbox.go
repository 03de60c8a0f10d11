package spool

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/holdrelay/relay/spool/kv"
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
	EvDKIMAdded          = "dkim.added"
	EvDKIMRemoved        = "dkim.removed"
	EvBrakeTripped       = "brake.tripped"
	EvBrakeReleased      = "brake.released"
	EvTokenAdded         = "token.added"
	EvTokenRemoved       = "token.removed"
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

	// msg, on a message event as stored, is its message: the stored data
	// holds only the change's fields, and Events adds the message's own
	// from its record (see messageData).
	msg ID
}

// An outbox record is, in the binary form of codec.go: the format byte,
// the ID, the type, the endpoint, the time, for a message event its
// message's ID, then the data's JSON to the end. Bulk actions write one
// per message: re-encoding JSON around JSON would double the cost.
const outboxMessageV1 = 2 // recordV1 with the message's ID

func encodeOutboxEvent(ev *OutboxEvent) []byte {
	b := make([]byte, 0, 64+len(ev.Type)+len(ev.Endpoint)+len(ev.Data))
	b = append(b, recordV1)
	if ev.msg != 0 {
		b[0] = outboxMessageV1
	}
	b = appendString(b, ev.ID)
	b = appendString(b, ev.Type)
	b = appendString(b, ev.Endpoint)
	b = appendTime(b, ev.Time)
	if ev.msg != 0 {
		b = binary.AppendUvarint(b, uint64(ev.msg))
	}
	return append(b, ev.Data...)
}

// decodeOutboxEvent decodes a record as stored: a message event's data
// lacks its message's fields (see txn.outboxEvent).
func decodeOutboxEvent(k, v []byte) (OutboxEvent, error) {
	seq := binary.BigEndian.Uint64(k)
	d := decoder{b: v}
	format := d.byte()
	if format != recordV1 && format != outboxMessageV1 && d.err == nil {
		d.err = errCorrupt
	}
	ev := OutboxEvent{Seq: seq, ID: d.string(), Type: d.string(), Endpoint: d.string(), Time: d.time()}
	if format == outboxMessageV1 {
		ev.msg = ID(d.uvarint())
	}
	if d.err == nil && !json.Valid(d.b) {
		d.err = errCorrupt
	}
	if d.err != nil {
		return OutboxEvent{}, fmt.Errorf("decode outbox event %d: %w", seq, d.err)
	}
	ev.Data = append(json.RawMessage(nil), d.b...)
	return ev, nil
}

// outboxEvent completes an event as stored for Events: a message event gets
// its message's own fields from the record, which outlives the event
// unless --retention is shorter than --webhook-max-age. Without it, the
// event still has message_id and its change's fields.
func (t *txn) outboxEvent(ev OutboxEvent) (OutboxEvent, error) {
	if ev.msg == 0 {
		return ev, nil
	}
	var d messageData
	if err := json.Unmarshal(ev.Data, &d); err != nil {
		return OutboxEvent{}, fmt.Errorf("decode outbox event %d: %w", ev.Seq, err)
	}
	if m, err := t.get(ev.msg); err == nil {
		d.setMessage(&m)
	}
	ev.Data, ev.msg = d.appendJSON(make([]byte, 0, 512)), 0
	return ev, nil
}

// keyLastEvent holds the number behind the newest event ID, issued as
// message IDs are (nextNumber), so that a spool restored from a
// backup does not hand out an ID a receiver has already seen.
var keyLastEvent = []byte("lastevent")

// emit appends an event to the outbox in t's transaction: the change it
// reports and the event commit together or not at all. data is JSON.
func (t *txn) emit(typ string, at time.Time, data []byte, endpoint string) (OutboxEvent, error) {
	return t.emitEvent(OutboxEvent{Type: typ, Time: at, Data: data, Endpoint: endpoint})
}

// emitEvent writes ev with its Seq and ID, after the open run of
// message events, if any.
func (t *txn) emitEvent(ev OutboxEvent) (OutboxEvent, error) {
	if err := t.closeRun(); err != nil {
		return OutboxEvent{}, err
	}
	return t.putEvent(ev)
}

// putEvent writes one event's record.
func (t *txn) putEvent(ev OutboxEvent) (OutboxEvent, error) {
	seq, err := t.outbox.NextSequence()
	if err != nil {
		return OutboxEvent{}, err
	}
	ev.Seq, ev.ID = seq, "evt_"+ID(t.nextEventNumber(ev.Time)).String()
	t.emitted++
	return ev, t.outbox.Put(u64(seq), encodeOutboxEvent(&ev))
}

// emitJSON is emit for data that json.Marshal encodes: the
// administrative events, which are few.
func (t *txn) emitJSON(typ string, at time.Time, data any, endpoint string) (OutboxEvent, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return OutboxEvent{}, fmt.Errorf("encode %s event: %w", typ, err)
	}
	return t.emit(typ, at, raw, endpoint)
}

// nextEventNumber is nextNumber for event IDs, kept in the transaction
// and written once by flush: a bulk action emits thousands.
func (t *txn) nextEventNumber(now time.Time) uint64 {
	if !t.evLoaded {
		if v := t.meta.Get(keyLastEvent); v != nil {
			t.evNum = binary.BigEndian.Uint64(v)
		}
		t.evLoaded = true
	}
	t.evNum = nextNumber(t.evNum, now)
	return t.evNum
}

// Events returns up to max events with Seq greater than after, oldest
// first.
func (s *Spool) Events(after uint64, max int) ([]OutboxEvent, error) {
	var out []OutboxEvent
	if after == math.MaxUint64 {
		return nil, nil // no event after it; after+1 would wrap to the first
	}
	err := s.view(func(t *txn) error {
		c := t.outbox.Cursor()
		for k, v := seekEvent(c, after+1); k != nil && len(out) < max; k, v = c.Next() {
			r, err := decodeOutboxRecord(k, v, true)
			if err != nil {
				return err
			}
			if r.fields == nil {
				ev, err := t.outboxEvent(r.first)
				if err != nil {
					return err
				}
				out = append(out, ev)
				continue
			}
			i := 0
			if after >= r.first.Seq {
				i = int(after + 1 - r.first.Seq)
			}
			for ; i < r.count && len(out) < max; i++ {
				ev, err := t.outboxEvent(r.event(i))
				if err != nil {
					return err
				}
				out = append(out, ev)
			}
		}
		return nil
	})
	return out, err
}

// seekEvent positions c at the record that holds the event seq, or the
// first after it: a run's record is under its first event's Seq.
func seekEvent(c kv.Cursor, seq uint64) (k, v []byte) {
	k, v = c.Seek(u64(seq))
	if k != nil && binary.BigEndian.Uint64(k) == seq {
		return k, v
	}
	pk, pv := c.Prev()
	if k == nil {
		pk, pv = c.Last()
	}
	if pk != nil {
		if r, err := decodeOutboxRecord(pk, pv, false); err == nil && r.last() >= seq {
			return pk, pv
		}
	}
	return c.Seek(u64(seq))
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
// repeat until it returns 0, each call a transaction of its own, so that
// other writes go between. Events are deleted oldest first, stopping at
// the first one still wanted.
func (s *Spool) ExpireEvents(cutoff time.Time) (int, error) {
	n := 0
	err := s.update(func(t *txn) error {
		n = 0
		last := t.outbox.Sequence()
		if last <= KeepEvents {
			return nil
		}
		keepFrom, done := last-KeepEvents, t.doneWith(last)
		// The keys are collected first and then deleted: First after
		// each Delete walked again over every leaf the transaction had
		// emptied, a third of a second for 10,000 events.
		var gone [][]byte
		c := t.outbox.Cursor()
		for k, v := c.First(); k != nil && n < maxExpire; k, v = c.Next() {
			r, err := decodeOutboxRecord(k, v, false)
			seq := binary.BigEndian.Uint64(k)
			if err == nil {
				seq = r.last() // a run goes when its last event may
			}
			if seq > keepFrom || (seq > done && err == nil && !r.first.Time.Before(cutoff)) {
				break
			}
			gone = append(gone, k)
			n += max(r.count, 1)
		}
		for _, k := range gone {
			if err := t.del(t.outbox, k); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}

// doneWith is the lowest cursor of the enabled webhooks: every one of
// them is done with the events up to it. With none, that is all events.
// An unreadable webhook's cursor is unknown: it counts as done with none,
// so that its events stay until the cutoff, for when it is repaired.
func (t *txn) doneWith(last uint64) uint64 {
	low := last
	t.hooks.ForEach(func(k, _ []byte) error {
		w, err := t.webhook(string(k))
		switch {
		case err != nil:
			low = 0
		case !w.Disabled:
			low = min(low, w.Cursor)
		}
		return nil
	})
	return low
}
