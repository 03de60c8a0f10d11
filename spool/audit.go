package spool

import (
	"encoding/json"
	"fmt"
	"maps"
	"time"
)

// AuditEntry records one administrative change: who, when, what, on
// which selection, with what result.
type AuditEntry struct {
	Seq      uint64         `json:"seq"`
	Time     time.Time      `json:"time"`
	Actor    string         `json:"actor"`
	Action   string         `json:"action"`
	Selector string         `json:"selector,omitempty"`
	Reason   string         `json:"reason,omitempty"`
	Counts   map[string]int `json:"counts,omitempty"`
	Detail   string         `json:"detail,omitempty"` // what a change set, when counts cannot say it
}

// AddAudit appends an entry to the audit log and returns it with its
// sequence number. A change to the spool records its entry itself (see
// Event.Audit): AddAudit is for what changes nothing in the spool.
func (s *Spool) AddAudit(e AuditEntry) (AuditEntry, error) {
	e.Seq = 0
	err := s.PutAudit(&e)
	return e, err
}

// PutAudit writes e: a new entry if e.Seq is 0 (and sets it), else over
// the entry of that number, as a change that spans several transactions
// does when its last one has told how it ended.
func (s *Spool) PutAudit(e *AuditEntry) error {
	return s.updateAudited(e, func(*txn, *AuditEntry) error { return nil })
}

// updateAudited is update for a change that writes its audit entry rec
// (nil: none) in its own transaction. fn gets a copy of rec to add to; the
// copy, with its Seq, replaces rec only once the transaction is durable,
// since fn may run more than once and a failed commit keeps nothing.
func (s *Spool) updateAudited(rec *AuditEntry, fn func(t *txn, e *AuditEntry) error) error {
	if rec == nil {
		return s.update(func(t *txn) error { return fn(t, nil) })
	}
	var e AuditEntry
	err := s.update(func(t *txn) error {
		e = *rec
		e.Counts = maps.Clone(rec.Counts)
		if err := fn(t, &e); err != nil {
			return err
		}
		return t.putAudit(&e)
	})
	if err == nil {
		*rec = e
	}
	return err
}

func (t *txn) putAudit(e *AuditEntry) error {
	if e.Seq == 0 {
		seq, err := t.audit.NextSequence()
		if err != nil {
			return err
		}
		e.Seq = seq
	}
	v, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return t.audit.Put(u64(e.Seq), v)
}

// count adds n messages with outcome o to an audit entry's counts.
func (e *AuditEntry) count(o Outcome, n int) {
	if e == nil || n == 0 {
		return
	}
	if e.Counts == nil {
		e.Counts = map[string]int{}
	}
	e.Counts[string(o)] += n
}

// Audit returns up to limit entries, newest first, with sequence numbers
// below before (0: from the newest).
func (s *Spool) Audit(before uint64, limit int) ([]AuditEntry, error) {
	var out []AuditEntry
	err := s.view(func(t *txn) error {
		c := t.audit.Cursor()
		var k, v []byte
		if before == 0 {
			k, v = c.Last()
		} else if k, v = c.Seek(u64(before)); k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		for ; k != nil && len(out) < limit; k, v = c.Prev() {
			var e AuditEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("decode audit entry: %w", err)
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}
