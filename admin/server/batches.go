package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/internal/names"
	"github.com/holdrelay/relay/relay/smtpapi"
	"github.com/holdrelay/relay/spool"
)

// Batches have no cap: any number may be paused or cancelled at once,
// at any time before or after their messages' send time.

// listBatches answers GET /v1/batches.
func (s *Server) listBatches(w http.ResponseWriter, r *http.Request) error {
	bs, err := s.o.Spool.Batches(false)
	if err != nil {
		return fmt.Errorf("list batches: %w", err)
	}
	out := admin.BatchList{Batches: make([]admin.Batch, 0, len(bs))}
	for _, b := range bs {
		out.Batches = append(out.Batches, wireBatch(b))
	}
	s.writeJSON(w, http.StatusOK, out)
	return nil
}

// createBatch answers POST /v1/batches: 201, or 409 for a known ID.
func (s *Server) createBatch(w http.ResponseWriter, r *http.Request) error {
	var req admin.CreateBatchRequest
	if r.ContentLength != 0 {
		if err := decodeJSON(w, r, &req); err != nil {
			return err
		}
	}
	b, err := s.newBatch(r, req.ID)
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusCreated, wireBatch(b))
	return nil
}

// newBatch registers a batch (a random ID for "") and audits it.
func (s *Server) newBatch(r *http.Request, id string) (spool.Batch, error) {
	if id == "" {
		id = names.NewBatchID()
	} else if !smtpapi.ValidBatchID(id) {
		return spool.Batch{}, invalidBatchID(id)
	}
	now := s.now()
	rec := &spool.AuditEntry{Time: now, Actor: callerOf(r).actor, Action: "batch create", Selector: "batch=" + id}
	b, err := s.o.Spool.CreateBatch(id, now, rec)
	if errors.Is(err, spool.ErrBatchExists) {
		return b, &apiError{status: http.StatusConflict, code: admin.CodeExists, msg: fmt.Sprintf("batch %s already exists", id), err: err}
	}
	if err != nil {
		return b, fmt.Errorf("create batch: %w", err)
	}
	return b, nil
}

func invalidBatchID(id string) error {
	return invalid("invalid batch ID %q: 1 to %d letters, digits, '.', '_' or '-'", id, smtpapi.MaxBatchID)
}

// getBatch answers GET /v1/batches/{id}.
func (s *Server) getBatch(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	b, err := s.lookupBatch(id)
	if err != nil {
		return err
	}
	counts, err := s.o.Spool.Count(spool.Selector{Batch: id, All: true})
	if err != nil {
		return fmt.Errorf("batch %s: %w", id, err)
	}
	out := admin.BatchDetails{Batch: wireBatch(b), Counts: map[string]int{}}
	for _, st := range spool.States {
		out.Counts[st.String()] = counts[st]
	}
	s.writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) lookupBatch(id string) (spool.Batch, error) {
	if !smtpapi.ValidBatchID(id) {
		return spool.Batch{}, invalidBatchID(id)
	}
	b, err := s.o.Spool.GetBatch(id)
	if errors.Is(err, spool.ErrNoBatch) {
		return b, notFound("no batch %s", id)
	}
	return b, err
}

// batchChange returns the handler of POST /v1/batches/{id}/{verb}.
func (s *Server) batchChange(to spool.BatchStatus) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var req admin.BatchChangeRequest
		if r.ContentLength != 0 {
			if err := decodeJSON(w, r, &req); err != nil {
				return err
			}
		}
		if err := checkText("reason", req.Reason); err != nil {
			return err
		}
		id := r.PathValue("id")
		if !smtpapi.ValidBatchID(id) {
			return invalidBatchID(id)
		}
		if req.DryRun && to != spool.BatchCancelled {
			return invalid("dry_run: only a cancel takes it")
		}
		if to == spool.BatchActive {
			if _, err := s.lookupBatch(id); err != nil {
				return err
			}
		}
		out, err := s.setBatch(r, id, to, req.Reason, req.DryRun)
		if err != nil {
			return err
		}
		s.writeJSON(w, http.StatusOK, out)
		return nil
	}
}

// setBatch is a batch's pause, resume or cancel, shared by /v1 and
// SendGrid's endpoints. The status is recorded first, so that messages
// arriving meanwhile already meet it; then the messages on record are
// held, released or dropped. A cancel answers as truthfully as a drop.
func (s *Server) setBatch(r *http.Request, id string, to spool.BatchStatus, reason string, dry bool) (admin.BatchChanged, error) {
	defer s.credLocks.lock("batch\x00" + id)()
	now := s.now()
	c := callerOf(r)
	ev := spool.Event{Time: now, Actor: c.actor, Reason: reason}
	sel := spool.Selector{Batch: id, All: true}
	var out admin.BatchChanged
	if dry {
		res, err := drop.run(s, r.Context(), sel, ev, true)
		if err != nil {
			return out, fmt.Errorf("cancel batch %s: %w", id, err)
		}
		d := actionResult(drop, true, res)
		out.Dropped = &d
		b, err := s.o.Spool.GetBatch(id)
		if err == nil {
			out.Batch = wireBatch(b)
		}
		return out, nil
	}
	if c.role != RoleOperator && to != spool.BatchCancelled {
		// Lifting a cancel, even into a pause, lets mail through that
		// would have been dropped: the operator's call, as resume is.
		if b, err := s.o.Spool.GetBatch(id); err == nil && b.Status == spool.BatchCancelled {
			return out, &apiError{status: http.StatusForbidden, code: admin.CodeForbidden,
				msg: fmt.Sprintf("batch %s is cancelled: only the %s role may change that", id, RoleOperator)}
		}
	}
	// The status and the audit entry are written together; the holds,
	// drops or releases that follow count into the entry.
	ev.Audit = s.startAudit(batchActions[to], c, "batch="+id, reason, now)
	if _, err := s.o.Spool.SetBatchStatus(id, to, ev); err != nil {
		return out, fmt.Errorf("batch %s: %w", id, err)
	}
	counts, err := s.applyBatch(r.Context(), id, to, sel, ev, &out)
	s.endAudit(ev.Audit, batchActions[to], err, counts)
	if err != nil {
		return out, fmt.Errorf("%s %s: %w", batchActions[to], id, err)
	}
	b, err := s.o.Spool.GetBatch(id)
	if err != nil {
		return out, fmt.Errorf("batch %s: %w", id, err)
	}
	out.Batch = wireBatch(b)
	return out, nil
}

// batchActions names a batch's status changes in the audit log.
var batchActions = map[spool.BatchStatus]string{spool.BatchPaused: "batch pause", spool.BatchCancelled: "batch cancel",
	spool.BatchActive: "batch resume"}

// applyBatch carries a new status over to the batch's messages on record
// and returns the counts for the audit log.
func (s *Server) applyBatch(ctx context.Context, id string, to spool.BatchStatus, sel spool.Selector, ev spool.Event, out *admin.BatchChanged) (map[string]int, error) {
	switch to {
	case spool.BatchPaused:
		n, err := s.o.Spool.HoldBatch(id, ev.Audit)
		out.Held = n
		return map[string]int{admin.OutcomeChanged: n}, err
	case spool.BatchCancelled:
		res, err := drop.run(s, ctx, sel, ev, false)
		d := actionResult(drop, false, res)
		out.Dropped = &d
		return d.Counts, err
	}
	n, err := s.o.Spool.ReleaseBatch(id, ev)
	out.Released = n
	s.o.Dispatcher.Notify(ev.Time)
	return map[string]int{admin.OutcomeChanged: n}, err
}

func wireBatch(b spool.Batch) admin.Batch {
	out := admin.Batch{ID: b.ID, Status: admin.BatchActive, Created: b.Created, Actor: b.Actor, Reason: b.Reason, Messages: b.Messages}
	switch b.Status {
	case spool.BatchPaused:
		out.Status = admin.BatchPaused
	case spool.BatchCancelled:
		out.Status = admin.BatchCancelled
	}
	if !b.Updated.IsZero() {
		u := b.Updated.Round(0).UTC()
		out.Updated = &u
	}
	out.Created = out.Created.Round(0).UTC()
	return out
}
