package spool

import (
	"encoding/json"
	"fmt"
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
// sequence number.
func (s *Spool) AddAudit(e AuditEntry) (AuditEntry, error) {
	err := s.update(func(t *txn) error {
		seq, err := t.audit.NextSequence()
		if err != nil {
			return err
		}
		e.Seq = seq
		v, err := json.Marshal(e)
		if err != nil {
			return err
		}
		return t.audit.Put(u64(seq), v)
	})
	return e, err
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
