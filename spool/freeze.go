package spool

import (
	"encoding/json"
	"time"
)

// Freeze marks a credential disabled in the spool: from this transaction
// on, its new messages are accepted held (HeldByOperator) and none of its
// messages is claimed. With a HoldWait afterwards, nothing the credential
// sent can reach the upstream: whatever Accept committed before the freeze
// is found by the hold, whatever after is held already.
func (s *Spool) Freeze(cred string, ev Event) error {
	v, err := json.Marshal(freeze{Actor: ev.Actor, Reason: ev.Reason, Since: ev.Time})
	if err != nil {
		return err
	}
	return s.update(func(t *txn) error { return t.frozen.Put([]byte(cred), v) })
}

// Unfreeze lifts Freeze; held messages stay held until released.
func (s *Spool) Unfreeze(cred string) error {
	return s.update(func(t *txn) error { return t.frozen.Delete([]byte(cred)) })
}

func (t *txn) frozenReason(cred string) (string, bool) {
	if cred == "" {
		return "", false
	}
	v := t.frozen.Get([]byte(cred))
	if v == nil {
		return "", false
	}
	var f freeze
	if json.Unmarshal(v, &f) != nil || f.Reason == "" {
		f.Reason = "credential disabled"
	}
	return f.Reason, true
}

type freeze struct {
	Actor  string    `json:"actor"`
	Reason string    `json:"reason,omitempty"`
	Since  time.Time `json:"since"`
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
