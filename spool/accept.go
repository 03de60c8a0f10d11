package spool

import (
	"encoding/binary"
	"errors"
	"time"
)

// Incoming is what the SMTP intake knows about a message it is accepting.
type Incoming struct {
	Credential string
	From       string
	To         []string
	Subject    string
	MessageID  string
	Received   time.Time
	// Release is the earliest time delivery may start: Received plus the
	// hold window. At or before Received, the message is queued at once.
	Release time.Time
	// Headers are the main headers, kept for support after the body goes.
	Headers []Header
	// Batch, Categories, UniqueArgs and SendAt are kept as the message's
	// metadata; the intake has already folded SendAt into Release.
	Batch      string
	Categories []string
	UniqueArgs map[string]string
	SendAt     time.Time
	// Actor is the intake, for the message's history: "smtp" when empty.
	Actor string
	// Brake, when set, is the trip the intake's detector decided on this
	// message: it brakes the credential in the transaction that accepts
	// it (see Brake). Count, Threshold, Window, Trigger and the sample
	// are the detector's; the spool fills in the rest.
	Brake *Brake
}

// Accepted is what AcceptAll did.
type Accepted struct {
	Messages []Message
	// Tripped is the brake that this accept put on, if any (a trip
	// asked for on a credential braked already does nothing).
	Tripped *Brake
	// InFlight are the credential's messages that a trip found being
	// sent: the caller must abort their transfers before the dot.
	InFlight []ID
}

// Accept stores a new message durably and returns its record. When it
// returns without error, the message and its body are fsynced: the SMTP
// intake may answer 250.
func (s *Spool) Accept(in Incoming, body []byte) (Message, error) {
	acc, err := s.AcceptAll([]Incoming{in}, [][]byte{body})
	if err != nil {
		return Message{}, err
	}
	return acc.Messages[0], nil
}

// AcceptAll stores several new messages in one transaction: all of them
// or, on error, none (the HTTP API's request is all or nothing). ins[i]'s
// body is bodies[i]. A message whose Incoming carries a Brake trips it
// in the same transaction (see Accepted).
func (s *Spool) AcceptAll(ins []Incoming, bodies [][]byte) (Accepted, error) {
	if len(ins) != len(bodies) || len(ins) == 0 {
		return Accepted{}, errors.New("accept: no messages, or not one body per message")
	}
	ms := make([]Message, len(ins))
	size := 0
	for i, in := range ins {
		if len(in.To) == 0 {
			return Accepted{}, errors.New("accept: no recipients")
		}
		ms[i] = newMessage(in, bodies[i])
		size += len(bodies[i])
	}
	var acc Accepted
	err := s.updateSized(func(t *txn) error {
		// A commit group may run this again: start from scratch.
		acc = Accepted{Messages: ms}
		for i := range ms {
			if b := ins[i].Brake; b != nil {
				if ok, err := t.trip(&ms[i], *b, &acc.InFlight); err != nil {
					return err
				} else if ok {
					acc.Tripped = t.brakeOf(ms[i].Credential)
				}
			}
			if err := t.accept(&ms[i], ins[i].Actor, ins[i].Headers, bodies[i]); err != nil {
				return err
			}
		}
		return nil
	}, size)
	if err != nil {
		return Accepted{}, err
	}
	for i := range ms {
		ms[i] = ms[i].clone()
	}
	return acc, nil
}

func newMessage(in Incoming, body []byte) Message {
	m := Message{
		Credential: in.Credential,
		From:       in.From,
		Rcpts:      make([]Recipient, len(in.To)),
		Size:       int64(len(body)),
		Subject:    in.Subject,
		MessageID:  in.MessageID,
		Received:   in.Received,
		Release:    in.Release,
		State:      Waiting,
		Batch:      in.Batch,
		Categories: in.Categories,
		UniqueArgs: in.UniqueArgs,
		SendAt:     in.SendAt,
	}
	for i, a := range in.To {
		m.Rcpts[i] = Recipient{Addr: a}
	}
	if !m.Release.After(m.Received) {
		m.Release = m.Received
		m.State = Queued
	}
	return m
}

// accept inserts one new message. A commit group may run its
// transaction again (see update), so m's ID and state are set here from
// scratch every time.
func (t *txn) accept(m *Message, actor string, headers []Header, body []byte) error {
	if actor == "" {
		actor = "smtp"
	}
	m.State = Waiting
	if !m.Release.After(m.Received) {
		m.State = Queued
	}
	m.HeldBy, m.Reason, m.Finished, m.history = "", "", time.Time{}, nil
	id, err := t.nextID(m.Received)
	if err != nil {
		return err
	}
	m.ID = id
	ev := Event{Time: m.Received, State: m.State, Actor: actor}
	if err := t.registerBatch(m.Batch, m.Received); err != nil {
		return err
	}
	// A cancelled batch's message is dropped below: holding it first
	// would report a hold that never was.
	b, cancelled := t.cancelled(m)
	if !cancelled {
		t.holdOnArrival(m, &ev)
	}
	if err := t.insert(m, body, headers, ev); err != nil {
		return err
	}
	if cancelled {
		// Accepted (the client did nothing wrong) and dropped at once,
		// as SendGrid does with a cancelled batch's later sends.
		drop := Event{Time: m.Received, Actor: b.Actor, Reason: "batch " + b.ID + " cancelled"}
		return t.transition(m, drop, func(m *Message) {
			m.State, m.HeldBy, m.Reason, m.Finished = Dropped, "", drop.Reason, drop.Time
		})
	}
	return nil
}

// holdOnArrival holds a new message that a freeze, a brake or a pause
// covers.
// Checked in the same transaction as a pause is written, so no message
// slips past a pause being set.
func (t *txn) holdOnArrival(m *Message, ev *Event) {
	if reason, ok := t.frozenReason(m.Credential); ok {
		m.State, m.HeldBy, m.Reason = Held, HeldByFreeze, reason
		ev.State, ev.Reason, ev.cause = Held, reason, causeFreeze
	} else if b := t.brakeOf(m.Credential); b != nil {
		m.State, m.HeldBy, m.Reason = Held, HeldByBrake, b.reason()
		ev.State, ev.Reason, ev.cause = Held, m.Reason, causeBrake
	} else if p := t.pausedFor(m); p != nil {
		m.State, m.HeldBy, m.Reason = Held, HeldByPause, p.describe()
		ev.State, ev.Reason, ev.cause = Held, m.Reason, p.cause()
	}
}

// registerBatch records a batch the first time a message names it.
func (t *txn) registerBatch(id string, now time.Time) error {
	if id == "" || t.batches.Get([]byte(id)) != nil {
		return nil
	}
	return t.putBatch(&Batch{ID: id, Created: now})
}

// nextID issues a new ID; see the package doc.
func (t *txn) nextID(now time.Time) (ID, error) {
	var last uint64
	if v := t.meta.Get(keyLastID); v != nil {
		last = binary.BigEndian.Uint64(v)
	}
	id := nextNumber(last, now)
	return ID(id), t.meta.Put(keyLastID, u64(id))
}

// nextNumber is max(last+1, now-milliseconds<<16): increasing within a
// file, and not reused by a file restored from an old backup.
func nextNumber(last uint64, now time.Time) uint64 {
	return max(last+1, uint64(now.UnixMilli())<<16)
}
