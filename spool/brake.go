package spool

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"
)

// Brake triggers, as the contract names them.
const (
	TriggerLoop = "loop"
	TriggerRate = "rate"
)

// A Brake is a credential the runaway brake stopped: its pending mail is
// held (HeldByBrake) and new mail arrives held until an operator lets go
// (ReleaseBrake). The intake decides when to trip; the spool keeps the
// record, so a braked credential stays braked across restarts.
type Brake struct {
	Credential string    `json:"credential"`
	Trigger    string    `json:"trigger"` // TriggerLoop or TriggerRate
	Since      time.Time `json:"since"`
	// Count messages within Window went over Threshold: the loop
	// trigger counts one recipient's copies of one content, the rate
	// trigger the credential's messages.
	Count     int           `json:"count"`
	Threshold int           `json:"threshold"`
	Window    time.Duration `json:"window"`
	// Recipient and Subject are the tripping message's, a sample for
	// whoever is woken up.
	Recipient string `json:"recipient,omitempty"`
	Subject   string `json:"subject,omitempty"`
	// Held is how many messages the trip held, the tripping one
	// included; mail arriving later is held too but not counted here.
	Held int `json:"held"`
	// Unreadable marks a record that could not be decoded: the
	// credential stays braked (failing open would let mail out) until
	// an operator releases it.
	Unreadable bool `json:"-"`
}

// ErrNotBraked is returned by ReleaseBrake for a credential that is not
// braked.
var ErrNotBraked = errors.New("credential is not braked")

func (b *Brake) reason() string {
	if b.Unreadable {
		return "runaway brake (unreadable brake record)"
	}
	return fmt.Sprintf("runaway brake: %s trigger, %d messages within %s (threshold %d)", b.Trigger, b.Count, b.Window, b.Threshold)
}

// decodeBrake reads the brake of cred, failing closed.
func decodeBrake(cred string, v []byte) *Brake {
	var b Brake
	if json.Unmarshal(v, &b) != nil || b.Credential != cred {
		return &Brake{Credential: cred, Trigger: "unknown", Unreadable: true}
	}
	return &b
}

// brakeOf returns the brake on cred, or nil.
func (t *txn) brakeOf(cred string) *Brake {
	if cred == "" {
		return nil
	}
	v := t.brakes.Get([]byte(cred))
	if v == nil {
		return nil
	}
	return decodeBrake(cred, v)
}

// trip brakes m's credential in the transaction that accepts m (which
// must not be inserted yet): the record, the hold of everything pending
// of the credential, and the brake.tripped event with its audit entry
// commit together, so the tripping message is held from its first
// instant. It returns false, and does nothing, if the credential is
// braked already. Messages being sent are marked with an Intent; the
// caller aborts them (Accepted.InFlight).
func (t *txn) trip(m *Message, b Brake, inflight *[]ID) (bool, error) {
	if m.Credential == "" || t.brakeOf(m.Credential) != nil {
		return false, nil
	}
	b.Credential, b.Since = m.Credential, m.Received
	ev := Event{Time: b.Since, Actor: "relay", Reason: b.reason(), emit: EvMessageHeld, cause: causeBrake}
	held, err := t.holdForBrake(m.Credential, ev, inflight)
	if err != nil {
		return false, err
	}
	b.Held = held + 1
	v, err := json.Marshal(b)
	if err != nil {
		return false, err
	}
	if err := t.brakes.Put([]byte(b.Credential), v); err != nil {
		return false, err
	}
	d := brakeData{Credential: b.Credential, Trigger: b.Trigger, Count: b.Count, Threshold: b.Threshold,
		WindowSeconds: int(b.Window / time.Second), Held: b.Held, Actor: "relay",
		Sample: &brakeSample{Recipient: b.Recipient, Subject: b.Subject}}
	if _, err := t.emitJSON(EvBrakeTripped, b.Since, d, ""); err != nil {
		return false, err
	}
	return true, t.putAudit(&AuditEntry{Time: b.Since, Actor: "relay", Action: "brake trip",
		Selector: "credential=" + b.Credential, Reason: b.reason(),
		Counts: map[string]int{"held": b.Held, "in_flight": len(*inflight)}})
}

// holdForBrake holds every pending message of cred for the brake. It
// walks the pending states' index and keeps those of cred (a bycred
// lookup, no record read), so its cost is the spool's pending mail, not
// the credential's history. A message an operator or a freeze holds
// stays theirs; one a pause holds passes to the brake, which outlasts it.
func (t *txn) holdForBrake(cred string, ev Event, inflight *[]ID) (int, error) {
	var ids []ID
	for _, st := range []State{Waiting, Queued, Deferred, Sending, Held} {
		c := t.states.Cursor()
		for k, _ := c.Seek([]byte{byte(st)}); k != nil && k[0] == byte(st); k, _ = c.Next() {
			id := idFromKey(k[1:])
			if t.bycred.Get(credKey(cred, id)) != nil {
				ids = append(ids, id)
			}
		}
	}
	n := 0
	for _, id := range ids {
		m, err := t.get(id)
		if err != nil {
			return n, err
		}
		switch {
		case m.State == Held && m.HeldBy != HeldByPause:
			continue
		case m.State == Sending:
			if m.Intent == nil {
				m.Intent = &Intent{Actor: ev.Actor, Reason: ev.Reason, Holder: HeldByBrake}
				if err := t.put(&m); err != nil {
					return n, err
				}
			}
			*inflight = append(*inflight, id)
			continue
		}
		if err := t.transition(&m, ev, func(m *Message) {
			m.State, m.HeldBy, m.Reason = Held, HeldByBrake, ev.Reason
		}); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// brakeKeeps answers a release or a flush by selector (--credential,
// --all, an enable's release, a brake release that meets a new trip) of
// a message whose credential is braked: nothing of it goes but what an
// operator names by ID, or ReleaseBrake once the record is gone (guarantee
// 8). A message held by an operator or a disable passes to the brake, as
// pauseHolds hands one to a pause, so that it does not go later without
// the brake's release; any other is left as it is.
func (t *txn) brakeKeeps(m *Message, b *Brake, ev Event, dry bool) error {
	if dry || m.State != Held || m.HeldBy == HeldByBrake {
		return nil
	}
	ev.Reason, ev.emit, ev.cause = b.reason(), EvMessageHeld, causeBrake
	return t.transition(m, ev, func(m *Message) {
		m.State, m.HeldBy, m.Reason = Held, HeldByBrake, ev.Reason
	})
}

// Brakes lists the braked credentials, by name.
func (s *Spool) Brakes() ([]Brake, error) {
	var out []Brake
	err := s.view(func(t *txn) error {
		out = out[:0]
		return t.brakes.ForEach(func(k, v []byte) error {
			out = append(out, *decodeBrake(string(k), v))
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Credential < out[j].Credential })
	return out, err
}

// GetBrake returns the brake on cred, or ErrNotBraked.
func (s *Spool) GetBrake(cred string) (Brake, error) {
	var b Brake
	err := s.view(func(t *txn) error {
		p := t.brakeOf(cred)
		if p == nil {
			return fmt.Errorf("%s: %w", cred, ErrNotBraked)
		}
		b = *p
		return nil
	})
	return b, err
}

// ReleaseBrake lifts the brake on cred and puts the messages it held back
// on their schedule (one an operator or a freeze holds stays held). The
// brake.released event and ev.Audit are written with the removal of the
// record; the releases count into ev.Audit. ErrNotBraked if it is not
// braked.
func (s *Spool) ReleaseBrake(cred string, ev Event) (Brake, Result, error) {
	var b Brake
	err := s.updateAudited(ev.Audit, func(t *txn, _ *AuditEntry) error {
		p := t.brakeOf(cred)
		if p == nil {
			return fmt.Errorf("%s: %w", cred, ErrNotBraked)
		}
		b = *p
		if err := t.brakes.Delete([]byte(cred)); err != nil {
			return err
		}
		d := brakeData{Credential: cred, Trigger: b.Trigger, Count: b.Count, Threshold: b.Threshold,
			WindowSeconds: int(b.Window / time.Second), Held: t.countHeldBy(cred, HeldByBrake),
			Actor: eventActor(ev.Actor), Reason: ev.Reason, Since: b.Since}
		_, err := t.emitJSON(EvBrakeReleased, ev.Time, d, "")
		return err
	})
	if err != nil {
		return b, Result{}, err
	}
	res, err := s.action(Selector{Credential: cred, All: true, States: []State{Held}},
		releaseAction{ev: ev, only: HeldByBrake}, false, ev.Audit)
	return b, res, err
}

// countHeldBy counts cred's messages held by holder, from the held
// messages' index: the spool's held mail, not the credential's history.
func (t *txn) countHeldBy(cred, holder string) int {
	n := 0
	c := t.states.Cursor()
	for k, _ := c.Seek([]byte{byte(Held)}); k != nil && k[0] == byte(Held); k, _ = c.Next() {
		id := idFromKey(k[1:])
		if t.bycred.Get(credKey(cred, id)) == nil {
			continue
		}
		if m, err := t.get(id); err == nil && m.HeldBy == holder {
			n++
		}
	}
	return n
}

// brakeData is the data of brake.tripped and brake.released.
type brakeData struct {
	Credential    string       `json:"credential"`
	Trigger       string       `json:"trigger"`
	Count         int          `json:"count"`
	Threshold     int          `json:"threshold"`
	WindowSeconds int          `json:"window_seconds"`
	Held          int          `json:"held"`
	Sample        *brakeSample `json:"sample,omitempty"`
	Since         time.Time    `json:"since,omitzero"` // brake.released: when it tripped
	Actor         string       `json:"actor"`
	Reason        string       `json:"reason,omitempty"`
}

type brakeSample struct {
	Recipient string `json:"recipient"`
	Subject   string `json:"subject"`
}

// CountHeldBy returns how many of cred's messages holder holds.
func (s *Spool) CountHeldBy(cred, holder string) (int, error) {
	var n int
	err := s.view(func(t *txn) error { n = t.countHeldBy(cred, holder); return nil })
	return n, err
}
