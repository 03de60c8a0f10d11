package server

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/holdrelay/relay/admin"
)

// listAudit answers GET /v1/audit?limit=N&before=SEQ, newest first.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	for name := range q {
		if name != "limit" && name != "before" {
			return invalid("unknown query parameter %q", name)
		}
	}
	limit, err := intParam(q, "limit", admin.DefaultLimit, admin.MaxLimit)
	if err != nil {
		return err
	}
	var before uint64
	if v := q.Get("before"); v != "" {
		if before, err = strconv.ParseUint(v, 10, 64); err != nil || before == 0 {
			return invalid("before=%q: want a sequence number from an earlier page", v)
		}
	}
	// One more than asked tells whether another page follows.
	entries, err := s.o.Spool.Audit(before, limit+1)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	out := admin.AuditList{Entries: make([]admin.AuditEntry, 0, min(len(entries), limit))}
	for i, e := range entries {
		if i == limit {
			out.NextBefore = entries[i-1].Seq
			break
		}
		out.Entries = append(out.Entries, admin.AuditEntry{Seq: e.Seq, Time: e.Time, Actor: e.Actor,
			Action: e.Action, Selector: e.Selector, Reason: e.Reason, Counts: e.Counts, Detail: e.Detail})
	}
	s.writeJSON(w, http.StatusOK, out)
	return nil
}
