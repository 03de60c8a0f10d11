package spool

import "time"

// Outcome is what a bulk action did to one message.
type Outcome string

const (
	Changed          Outcome = "changed"   // dropped, held, flushed or released
	InFlight         Outcome = "in_flight" // being sent; a drop or hold waits for the attempt
	AlreadyDelivered Outcome = "delivered" // delivered before the action
	// MaybeDelivered: stopped now, but an earlier attempt was cut short
	// by a crash and may have reached the upstream (state Unsure).
	MaybeDelivered  Outcome = "maybe_delivered"
	AlreadyFinished Outcome = "finished"  // failed or dropped before the action
	Unchanged       Outcome = "unchanged" // already as asked, or not applicable
	Paused          Outcome = "paused"    // held by a pause: resume it instead
	Disabled        Outcome = "disabled"  // its credential is disabled: enable it instead
	Braked          Outcome = "braked"    // its credential is braked: brake release, or name the message
	NotFound        Outcome = "not_found" // no such ID
)

// action is one kind of bulk change.
type action interface {
	// states are those the action looks at when selecting without IDs.
	states() []State
	// do judges m and, unless dry, changes it.
	do(t *txn, m *Message, dry bool) (Outcome, error)
}

var pendingStates = []State{Waiting, Held, Queued, Sending, Deferred}

// finished reports the outcome for a message already done with.
func finished(m *Message) (Outcome, bool) {
	switch m.State {
	case Delivered:
		return AlreadyDelivered, true
	case Failed, Dropped, Unsure:
		return AlreadyFinished, true
	}
	return "", false
}

// schedule is where a released message goes: back to waiting if its
// release time is still ahead, else straight to the delivery queue.
func schedule(m *Message, now time.Time) {
	m.State, m.HeldBy = Queued, ""
	if m.Release.After(now) {
		m.State = Waiting
	}
}

type dropAction struct{ ev Event }

func (dropAction) states() []State { return pendingStates }

func (a dropAction) do(t *txn, m *Message, dry bool) (Outcome, error) {
	if o, ok := finished(m); ok {
		return o, nil
	}
	if m.State == Sending {
		if !dry {
			m.Intent = &Intent{Drop: true, Actor: a.ev.Actor, Reason: a.ev.Reason}
			return InFlight, t.put(m)
		}
		return InFlight, nil
	}
	o := Changed
	if m.Interrupted {
		o = MaybeDelivered
	}
	if dry {
		return o, nil
	}
	return o, t.transition(m, a.ev, func(m *Message) {
		m.State, m.HeldBy, m.Reason, m.Finished = dropState(m), "", a.ev.Reason, a.ev.Time
	})
}

type holdAction struct{ ev Event }

func (holdAction) states() []State { return []State{Waiting, Queued, Sending, Deferred, Held} }

func (a holdAction) do(t *txn, m *Message, dry bool) (Outcome, error) {
	if o, ok := finished(m); ok {
		return o, nil
	}
	switch {
	case m.State == Held && m.HeldBy == HeldByOperator:
		return Unchanged, nil
	case m.State == Sending:
		// A drop already asked for wins: a hold never undoes it.
		if !dry && (m.Intent == nil || !m.Intent.Drop) {
			m.Intent = &Intent{Actor: a.ev.Actor, Reason: a.ev.Reason}
			return InFlight, t.put(m)
		}
		return InFlight, nil
	case dry:
		return Changed, nil
	}
	// A message held by a pause becomes the operator's: resuming the
	// pause will not release it.
	ev := a.ev
	ev.emit, ev.cause = EvMessageHeld, causeOperator
	return Changed, t.transition(m, ev, func(m *Message) {
		m.State, m.HeldBy, m.Reason = Held, HeldByOperator, a.ev.Reason
	})
}

// flushAction makes messages due now. byID: the operator named them,
// which lets a braked credential's messages go (see brakeKeeps).
type flushAction struct {
	ev   Event
	byID bool
}

func (flushAction) states() []State { return []State{Waiting, Held, Deferred} }

func (a flushAction) do(t *txn, m *Message, dry bool) (Outcome, error) {
	if o, ok := finished(m); ok {
		return o, nil
	}
	if _, frozen := t.frozenReason(m.Credential); frozen {
		return Disabled, nil
	}
	switch {
	case m.State == Queued || m.State == Sending:
		return Unchanged, nil
	case m.State == Held && m.HeldBy == HeldByPause:
		return Paused, nil
	}
	if b := t.brakeOf(m.Credential); b != nil && !a.byID {
		return Braked, t.brakeKeeps(m, b, a.ev, dry)
	}
	if p := t.pausedFor(m); p != nil {
		return Paused, t.pauseHolds(m, p, a.ev, dry)
	}
	if dry {
		return Changed, nil
	}
	ev := a.ev
	ev.emit, ev.cause = EvMessageFlushed, causeOperator
	return Changed, t.transition(m, ev, func(m *Message) {
		m.Release = a.ev.Time
		schedule(m, a.ev.Time)
	})
}

// pauseHolds hands a message an operator let go of to the pause that
// still covers it (a hold made during a pause, then released): it stays
// held, and goes when the pause is lifted. Otherwise it would sit queued
// though no claim may take it, and block the queue for others.
func (t *txn) pauseHolds(m *Message, p *Pause, ev Event, dry bool) error {
	if dry {
		return nil
	}
	ev.Reason, ev.emit, ev.cause = p.describe(), EvMessageHeld, p.cause()
	return t.transition(m, ev, func(m *Message) {
		m.State, m.HeldBy, m.Reason = Held, HeldByPause, ev.Reason
	})
}

// releaseAction lets go of operator-held messages; with only set, of
// those with that holder alone. byID: the operator named them, which
// lets a braked credential's messages go (see brakeKeeps).
type releaseAction struct {
	ev   Event
	only string
	byID bool
}

func (releaseAction) states() []State { return []State{Held} }

func (a releaseAction) do(t *txn, m *Message, dry bool) (Outcome, error) {
	if o, ok := finished(m); ok {
		return o, nil
	}
	if _, frozen := t.frozenReason(m.Credential); frozen && m.State == Held {
		return Disabled, nil
	}
	switch {
	case m.State != Held || (a.only != "" && m.HeldBy != a.only):
		return Unchanged, nil
	case m.HeldBy == HeldByPause:
		return Paused, nil
	}
	if b := t.brakeOf(m.Credential); b != nil && !a.byID {
		return Braked, t.brakeKeeps(m, b, a.ev, dry)
	}
	if p := t.pausedFor(m); p != nil {
		return Paused, t.pauseHolds(m, p, a.ev, dry)
	}
	if dry {
		return Changed, nil
	}
	ev := a.ev
	ev.emit, ev.cause = EvMessageReleased, holderCause(m.HeldBy)
	return Changed, t.transition(m, ev, func(m *Message) { schedule(m, a.ev.Time) })
}

// pauseHold holds the pending messages a new pause covers.
type pauseHold struct{ p *Pause }

func (pauseHold) states() []State { return []State{Waiting, Queued, Deferred} }

func (a pauseHold) do(t *txn, m *Message, dry bool) (Outcome, error) {
	switch m.State {
	case Waiting, Queued, Deferred:
	default:
		return Unchanged, nil
	}
	ev := Event{Time: a.p.Since, Actor: a.p.Actor, Reason: a.p.describe(), emit: EvMessageHeld, cause: a.p.cause()}
	return Changed, t.transition(m, ev, func(m *Message) {
		m.State, m.HeldBy, m.Reason = Held, HeldByPause, ev.Reason
	})
}

// pauseRelease releases what a lifted pause held, unless another pause
// still covers it.
type pauseRelease struct {
	now time.Time
	ev  Event
}

func (pauseRelease) states() []State { return []State{Held} }

func (a pauseRelease) do(t *txn, m *Message, dry bool) (Outcome, error) {
	if m.State != Held || m.HeldBy != HeldByPause {
		return Unchanged, nil
	}
	if p := t.pausedFor(m); p != nil {
		// Still held, now by the other pause: say which.
		if why := p.describe(); why != m.Reason && !dry {
			m.Reason = why
			return Unchanged, t.put(m)
		}
		return Unchanged, nil
	}
	ev := a.ev
	ev.emit = EvMessageReleased
	return Changed, t.transition(m, ev, func(m *Message) { schedule(m, a.now) })
}
