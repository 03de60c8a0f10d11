package spool

import (
	"encoding/json"
	"time"
)

// Freeze marks a credential disabled in the spool: from this transaction
// on, its new messages are accepted held (HeldByFreeze) and none of its
// messages is claimed. With a HoldFrozenWait afterwards, nothing the
// credential sent can reach the upstream: whatever Accept committed
// before the freeze is found by the hold, whatever after is held already.
// ev.Audit, if set, is written in the same transaction.
func (s *Spool) Freeze(cred string, ev Event) error {
	v, err := json.Marshal(freeze{Actor: ev.Actor, Reason: ev.Reason, Since: ev.Time})
	if err != nil {
		return err
	}
	return s.updateAudited(ev.Audit, func(t *txn, _ *AuditEntry) error { return t.frozen.Put([]byte(cred), v) })
}

// Unfreeze lifts Freeze; held messages stay held until released. ev.Audit,
// if set, is written in the same transaction.
func (s *Spool) Unfreeze(cred string, ev Event) error {
	return s.updateAudited(ev.Audit, func(t *txn, _ *AuditEntry) error { return t.frozen.Delete([]byte(cred)) })
}

// HoldFrozenWait holds a frozen credential's pending messages for the
// freeze (HeldByFreeze), so that ReleaseFrozen later lets go of those and
// of no message an operator held on purpose. Messages being sent are
// marked and aborted as HoldWait does.
func (s *Spool) HoldFrozenWait(cred string, ev Event, abort func([]ID) error) (Result, error) {
	res, err := s.action(Selector{Credential: cred, All: true}, freezeHold{ev}, false, ev.Audit)
	if err != nil {
		return res, err
	}
	return s.settleInFlight(res, Held, abort)
}

// ReleaseFrozen puts back on their schedule the messages of cred that a
// freeze held, and only those: one an operator held stays held.
func (s *Spool) ReleaseFrozen(cred string, ev Event) (Result, error) {
	return s.action(Selector{Credential: cred, All: true, States: []State{Held}}, releaseAction{ev: ev, only: HeldByFreeze}, false, ev.Audit)
}

// frozenBy returns the freeze of a credential, if it is frozen. A record
// it cannot read still freezes: failing open would let mail out.
func (t *txn) frozenBy(cred string) (freeze, bool) {
	if cred == "" {
		return freeze{}, false
	}
	v := t.frozen.Get([]byte(cred))
	if v == nil {
		return freeze{}, false
	}
	var f freeze
	if json.Unmarshal(v, &f) != nil {
		f = freeze{Actor: "spool", Reason: "credential disabled (unreadable freeze record)"}
	}
	if f.Reason == "" {
		f.Reason = "credential disabled"
	}
	return f, true
}

func (t *txn) frozenReason(cred string) (string, bool) {
	f, ok := t.frozenBy(cred)
	return f.Reason, ok
}

type freeze struct {
	Actor  string    `json:"actor"`
	Reason string    `json:"reason,omitempty"`
	Since  time.Time `json:"since"`
}

// freezeHold holds the pending messages of a frozen credential. One held
// by a pause passes to the freeze, which outlasts it; one an operator
// held stays the operator's.
type freezeHold struct{ ev Event }

func (freezeHold) states() []State { return []State{Waiting, Queued, Sending, Deferred, Held} }

func (a freezeHold) do(t *txn, m *Message, dry bool) (Outcome, error) {
	if o, ok := finished(m); ok {
		return o, nil
	}
	switch {
	case m.State == Held && m.HeldBy != HeldByPause:
		return Unchanged, nil
	case m.State == Sending:
		// An operator's drop or hold already asked for wins.
		if !dry && m.Intent == nil {
			m.Intent = &Intent{Actor: a.ev.Actor, Reason: a.ev.Reason, Holder: HeldByFreeze}
			return InFlight, t.put(m)
		}
		return InFlight, nil
	case dry:
		return Changed, nil
	}
	ev := a.ev
	ev.emit, ev.cause = EvMessageHeld, causeFreeze
	return Changed, t.transition(m, ev, func(m *Message) {
		m.State, m.HeldBy, m.Reason = Held, HeldByFreeze, a.ev.Reason
	})
}

// Count returns how many messages the selector matches, per state. It
// reads every candidate record: meant for one credential's report, not
// for the whole of a large spool.
func (s *Spool) Count(sel Selector) (map[State]int, error) {
	out := map[State]int{}
	err := s.view(func(t *txn) error {
		for _, id := range t.candidates(sel, States) {
			m, err := t.get(id)
			if err != nil {
				return err
			}
			if sel.Match(&m) {
				out[m.State]++
			}
		}
		return nil
	})
	return out, err
}
