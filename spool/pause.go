package spool

import (
	"encoding/json"
	"sort"
	"time"
)

// Pause stops delivery for one credential, or for all: messages stay
// accepted but are held (HeldByPause) until Resume.
type Pause struct {
	Credential string    `json:"credential"`      // "" = every credential
	Batch      string    `json:"batch,omitempty"` // set for a paused batch (see Batch)
	Reason     string    `json:"reason,omitempty"`
	Actor      string    `json:"actor"`
	Since      time.Time `json:"since"`
	Until      time.Time `json:"until,omitzero"` // zero: until resumed
	// Unreadable marks a pause whose record could not be decoded. It
	// pauses all the same, until resumed: a tool whose job is to stop
	// mail must not let it go because it cannot read why it stopped it.
	Unreadable bool `json:"-"`
}

// decodePause reads the pause stored under key, failing closed.
func decodePause(key, v []byte) *Pause {
	var p Pause
	if json.Unmarshal(v, &p) != nil {
		p = Pause{Reason: "unreadable pause record", Actor: "spool", Unreadable: true}
		if string(key) != globalPauseKey {
			p.Credential = string(key)
		}
	}
	return &p
}

// globalPauseKey names the pause of every credential; credential names
// cannot contain '*'.
const globalPauseKey = "*"

func pauseKey(cred string) []byte {
	if cred == "" {
		return []byte(globalPauseKey)
	}
	return []byte(cred)
}

func (p *Pause) describe() string {
	who := "all delivery"
	switch {
	case p.Batch != "":
		who = "batch " + p.Batch
	case p.Credential != "":
		who = "credential " + p.Credential
	}
	s := "paused: " + who
	if p.Reason != "" {
		s += ": " + p.Reason
	}
	return s
}

func (t *txn) pause(cred string) *Pause {
	k := pauseKey(cred)
	v := t.pauses.Get(k)
	if v == nil {
		return nil
	}
	return decodePause(k, v)
}

// pausedFor returns the pause that stops a message, if any: the global
// one, its credential's, or its batch's. A pause lasts until it is
// removed: Resume, or the dispatcher when Until has passed, so that
// records and states always agree.
func (t *txn) pausedFor(m *Message) *Pause {
	if p := t.pause(""); p != nil {
		return p
	}
	if m.Credential != "" {
		if p := t.pause(m.Credential); p != nil {
			return p
		}
	}
	return t.batchBlock(m)
}

// Pauses lists the pauses in force, the global one first.
func (s *Spool) Pauses() ([]Pause, error) {
	var out []Pause
	err := s.view(func(t *txn) error {
		return t.pauses.ForEach(func(k, v []byte) error {
			out = append(out, *decodePause(k, v))
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Credential < out[j].Credential })
	return out, err
}

// Pause records p and holds every pending message it covers (waiting,
// queued, deferred); messages being sent finish their attempt and are held
// if it fails. It returns how many messages it held.
func (s *Spool) Pause(p Pause) (int, error) {
	return s.PauseRecorded(p, nil)
}

// PauseRecorded is Pause that writes its audit entry rec (see
// Event.Audit) with the pause record, and counts the holds into it.
func (s *Spool) PauseRecorded(p Pause, rec *AuditEntry) (int, error) {
	v, err := json.Marshal(p)
	if err != nil {
		return 0, err
	}
	err = s.updateAudited(rec, func(t *txn, _ *AuditEntry) error {
		if err := t.pauses.Put(pauseKey(p.Credential), v); err != nil {
			return err
		}
		d := adminData{Credential: p.Credential, Global: p.Credential == "", Until: p.Until, Actor: eventActor(p.Actor), Reason: p.Reason}
		_, err := t.emitJSON(EvPauseStarted, p.Since, d, "")
		return err
	})
	if err != nil {
		return 0, err
	}
	sel := Selector{Credential: p.Credential, All: true}
	res, err := s.apply(sel, pauseHold{&p}, false, rec)
	return res.Count(Changed), err
}

// Resume removes a pause and puts the messages it held back on their
// schedule, unless another pause still covers them. It returns how many
// it released, and ErrNotFound if there was no such pause.
func (s *Spool) Resume(cred string, now time.Time, actor, reason string) (int, error) {
	return s.ResumeRecorded(cred, Event{Time: now, Actor: actor, Reason: reason})
}

// ResumeRecorded is Resume by ev.Actor at ev.Time, writing ev.Audit with
// the removal of the pause record and counting the releases into it.
func (s *Spool) ResumeRecorded(cred string, ev Event) (int, error) {
	err := s.updateAudited(ev.Audit, func(t *txn, _ *AuditEntry) error {
		if t.pauses.Get(pauseKey(cred)) == nil {
			return ErrNotFound
		}
		if err := t.pauses.Delete(pauseKey(cred)); err != nil {
			return err
		}
		d := adminData{Credential: cred, Global: cred == "", Actor: eventActor(ev.Actor), Reason: ev.Reason}
		_, err := t.emitJSON(EvPauseEnded, ev.Time, d, "")
		return err
	})
	if err != nil {
		return 0, err
	}
	sel := Selector{Credential: cred, All: true, States: []State{Held}}
	ev.cause = causePause
	res, err := s.apply(sel, pauseRelease{now: ev.Time, ev: ev}, false, ev.Audit)
	return res.Count(Changed), err
}
