package spool

import (
	"errors"
	"fmt"
	"slices"
)

// ErrEmptySelector is returned for a bulk action with nothing selected:
// "everything" must be asked for with All.
var ErrEmptySelector = errors.New("empty selector: name messages, or select all explicitly")

// applyChunk bounds one bulk transaction, so that changing a million
// messages never holds one huge transaction in memory.
const applyChunk = 20000

// Result tells what a bulk action did, by outcome.
type Result struct {
	IDs map[Outcome][]ID
}

// Count returns how many messages had outcome o.
func (r Result) Count(o Outcome) int { return len(r.IDs[o]) }

// Counts returns the number of messages per outcome, without zeros.
func (r Result) Counts() map[Outcome]int {
	out := make(map[Outcome]int, len(r.IDs))
	for o, ids := range r.IDs {
		out[o] = len(ids)
	}
	return out
}

func (r *Result) add(o Outcome, id ID) {
	if r.IDs == nil {
		r.IDs = map[Outcome][]ID{}
	}
	r.IDs[o] = append(r.IDs[o], id)
}

// Drop drops every pending message sel picks; it will never be sent. A
// message being sent is only marked (InFlight): the caller must abort its
// delivery, after which Finish records it dropped, or delivered if the
// upstream already had it.
func (s *Spool) Drop(sel Selector, ev Event, dry bool) (Result, error) {
	return s.action(sel, dropAction{ev}, dry, ev.Audit)
}

// DropWait drops like Drop, then settles the messages that were in
// flight: abort must cancel their delivery attempts and return once each
// has recorded its outcome. Each is then reported as Changed (dropped) or
// AlreadyDelivered, as the upstream's answer decided: when DropWait
// returns, no message it reports dropped can still be delivered, and none
// it reports dropped was delivered before (MaybeDelivered says so for a
// message whose earlier attempt a crash cut short).
func (s *Spool) DropWait(sel Selector, ev Event, dry bool, abort func([]ID) error) (Result, error) {
	res, err := s.Drop(sel, ev, dry)
	if err != nil || dry {
		return res, err
	}
	return s.settleInFlight(res, Dropped, abort)
}

// HoldWait holds like Hold, then settles the messages that were in flight
// as DropWait does: when it returns, none of the selected messages is
// being sent, and each is held or was delivered.
func (s *Spool) HoldWait(sel Selector, ev Event, dry bool, abort func([]ID) error) (Result, error) {
	res, err := s.Hold(sel, ev, dry)
	if err != nil || dry {
		return res, err
	}
	return s.settleInFlight(res, Held, abort)
}

func (s *Spool) settleInFlight(res Result, want State, abort func([]ID) error) (Result, error) {
	inflight := res.IDs[InFlight]
	if len(inflight) == 0 {
		return res, nil
	}
	if err := abort(inflight); err != nil {
		return res, fmt.Errorf("aborting deliveries in flight: %w", err)
	}
	s.awaitSettled(inflight) // those another node sends
	delete(res.IDs, InFlight)
	for _, id := range inflight {
		m, err := s.Get(id)
		if err != nil {
			return res, err
		}
		switch {
		case m.State == Unsure && want == Dropped:
			res.add(MaybeDelivered, id)
		case m.State == want:
			res.add(Changed, id)
		case m.State == Delivered:
			res.add(AlreadyDelivered, id)
		case m.State == Sending:
			// A transfer past its dot whose reply is late, or a failed abort,
			// leaves it sending: say so rather than guess.
			res.add(InFlight, id)
		case m.State.Finished():
			res.add(AlreadyFinished, id)
		default:
			res.add(Unchanged, id) // e.g. a hold that met a drop already asked for

		}
	}
	return res, nil
}

// Hold holds every selected message until Release. One being sent is
// marked (InFlight) and held if its attempt does not deliver it.
func (s *Spool) Hold(sel Selector, ev Event, dry bool) (Result, error) {
	return s.action(sel, holdAction{ev}, dry, ev.Audit)
}

// Flush makes the selected waiting, deferred and operator-held messages
// due at ev.Time, so the dispatcher sends them at once.
func (s *Spool) Flush(sel Selector, ev Event, dry bool) (Result, error) {
	return s.action(sel, flushAction{ev: ev, byID: len(sel.IDs) > 0}, dry, ev.Audit)
}

// Release puts operator-held messages back on their schedule.
func (s *Spool) Release(sel Selector, ev Event, dry bool) (Result, error) {
	return s.action(sel, releaseAction{ev: ev, byID: len(sel.IDs) > 0}, dry, ev.Audit)
}

func (s *Spool) action(sel Selector, a action, dry bool, rec *AuditEntry) (Result, error) {
	if sel.Empty() {
		return Result{}, ErrEmptySelector
	}
	return s.apply(sel, a, dry, rec)
}

// apply runs a over the selection: it collects candidate IDs from an
// index, then judges each record afresh inside bounded write transactions
// (read-only ones for a dry run), since records may change in between.
// Each transaction adds its outcomes to the audit entry rec, if any, and
// writes it.
func (s *Spool) apply(sel Selector, a action, dry bool, rec *AuditEntry) (Result, error) {
	var ids []ID
	if err := s.view(func(t *txn) error {
		ids = t.candidates(sel, a.states())
		return nil
	}); err != nil {
		return Result{}, err
	}
	explicit, states := len(sel.IDs) > 0, a.states()
	if explicit {
		ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	}
	var res Result
	for len(ids) > 0 {
		chunk := ids[:min(applyChunk, len(ids))]
		ids = ids[len(chunk):]
		var part Result
		run := func(t *txn, e *AuditEntry) error {
			part = Result{}
			t.prefetch(chunk, false)
			for _, id := range chunk {
				if err := applyOne(t, sel, a, states, id, explicit, dry, &part); err != nil {
					return err
				}
			}
			for o, got := range part.IDs {
				e.count(o, len(got))
			}
			return nil
		}
		var err error
		if dry {
			err = s.view(func(t *txn) error { return run(t, nil) })
		} else {
			err = s.updateAudited(rec, run)
		}
		if err != nil {
			return res, err
		}
		for o, got := range part.IDs {
			for _, id := range got {
				res.add(o, id)
			}
		}
	}
	return res, nil
}

func applyOne(t *txn, sel Selector, a action, states []State, id ID, explicit, dry bool, res *Result) error {
	m, err := t.get(id)
	if errors.Is(err, ErrNotFound) {
		if explicit {
			res.add(NotFound, id)
		}
		return nil
	}
	if err != nil {
		return err
	}
	// Selected by index, a message must be in a state the action is
	// about; named by ID, every message gets an answer.
	if !sel.Match(&m) || (!explicit && !slices.Contains(states, m.State)) {
		return nil
	}
	o, err := a.do(t, &m, dry)
	if err != nil {
		return err
	}
	res.add(o, id)
	return nil
}
